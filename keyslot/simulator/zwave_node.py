"""One simulated Z-Wave lock node: a LockFirmware seen through the User Code CC.

It answers as the lock's radio would: what a User Code Report carries for a user id
(masked per profile), what a Set does to the table, the v2 checksum, and the values
zwave-js-ui keeps for the node. The gateway front-end adds the MQTT and the timing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from keyslot.protocol.slots import DuplicateCode, KeyslotError, NoFreeSlot, SlotEntry, SlotStatus
from keyslot.protocol.zwave_nodes import NodeSummary
from keyslot.protocol.zwave_values import (
    SUPPORTED_ASCII,
    SUPPORTED_USERS,
    SUPPORTS_CHECKSUM,
    USER_CODE,
    USER_CODE_CC,
    USER_CODE_CHECKSUM,
    USER_ID_STATUS,
    NodeState,
    SetValueStatus,
    UserIdStatus,
    ValueId,
)
from keyslot.simulator.firmware import LockFirmware

__all__ = ["SimNode", "WriteOutcome"]

_STATUS = {
    SlotStatus.EMPTY: UserIdStatus.AVAILABLE,
    SlotStatus.ENABLED: UserIdStatus.ENABLED,
    SlotStatus.DISABLED: UserIdStatus.DISABLED,
}


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What a User Code Set did: the Set result, and what the lock says about it.

    `duplicate`: the lock sends "new user code not added due to duplicate code".
    `no_room`: the lock reports the user id as "status not available" (table full).
    """

    status: SetValueStatus
    applied: bool
    duplicate: bool = False
    no_room: bool = False


class SimNode:
    """A lock node of the simulated gateway."""

    def __init__(
        self, node_id: int, firmware: LockFirmware, segment: str, *, name: str = ""
    ) -> None:
        self.node_id = node_id
        self.firmware = firmware
        self.segment = segment
        self.name = name
        self.state = NodeState.ALIVE
        self.awake = asyncio.Event()
        self.awake.set()
        self.no_room: set[int] = set()  # user ids last reported "status not available"
        self.writes: Counter[int] = Counter()  # Sets received per user id
        self.gets = 0  # User Code / checksum Gets sent to the lock
        self.full_reads = 0

    @property
    def user_ids(self) -> range:
        """Z-Wave user ids are the firmware's slot numbers."""
        return self.firmware.profile.slot_range

    @property
    def supports_checksum(self) -> bool:
        return self.firmware.profile.checksum

    def set_state(self, state: NodeState) -> None:
        self.state = state
        if state is NodeState.ASLEEP:
            self.awake.clear()
        else:
            self.awake.set()

    def report(self, user_id: int) -> tuple[int, str]:
        """(userIdStatus, userCode) as a User Code Report for `user_id` carries them."""
        if user_id in self.no_room:
            return int(UserIdStatus.NOT_AVAILABLE), ""
        slot = self.firmware.read_slot(user_id)
        if not slot.occupied:
            return int(UserIdStatus.AVAILABLE), ""
        if slot.code_masked or slot.code is None:
            return int(_STATUS[slot.status]), self.firmware.profile.code_mask
        return int(_STATUS[slot.status]), slot.code

    def checksum(self) -> int:
        return self.firmware.checksum()

    def set_code(self, user_id: int, value: object, *, full: bool = False) -> WriteOutcome:
        """A User Code Set of `value` (which must be a string) into `user_id`."""
        self.writes[user_id] += 1
        if not isinstance(value, str) or user_id not in self.user_ids:
            return WriteOutcome(SetValueStatus.INVALID_VALUE, applied=False)
        self.no_room.discard(user_id)
        if full:
            self.no_room.add(user_id)
            return WriteOutcome(SetValueStatus.FAIL, applied=False, no_room=True)
        try:
            self.firmware.write_slot(user_id, SlotEntry(code=value))
        except DuplicateCode:
            return WriteOutcome(SetValueStatus.FAIL, applied=False, duplicate=True)
        except NoFreeSlot:
            self.no_room.add(user_id)
            return WriteOutcome(SetValueStatus.FAIL, applied=False, no_room=True)
        except KeyslotError:
            return WriteOutcome(SetValueStatus.FAIL, applied=False)
        return WriteOutcome(SetValueStatus.SUCCESS, applied=True)

    def set_status(self, user_id: int, value: object) -> WriteOutcome:
        """A write of `userIdStatus`: 0 clears the slot; the lock takes no other status alone."""
        self.writes[user_id] += 1
        if user_id not in self.user_ids or value != 0 or isinstance(value, bool):
            return WriteOutcome(SetValueStatus.INVALID_VALUE, applied=False)
        self.no_room.discard(user_id)
        self.firmware.clear_slot(user_id)
        return WriteOutcome(SetValueStatus.SUCCESS, applied=True)

    def retained_values(self) -> list[tuple[str, int | None, Any]]:
        """Every value zwave-js-ui keeps (and retains on MQTT) for this node's User Code CC."""
        profile = self.firmware.profile
        values: list[tuple[str, int | None, Any]] = [
            (SUPPORTED_USERS, None, profile.first_slot + profile.slot_count - 1),
            (SUPPORTS_CHECKSUM, None, profile.checksum),
            (SUPPORTED_ASCII, None, profile.alphabet),
        ]
        if profile.checksum:
            values.append((USER_CODE_CHECKSUM, None, self.checksum()))
        for user_id in self.user_ids:
            status, code = self.report(user_id)
            values.append((USER_ID_STATUS, user_id, status))
            values.append((USER_CODE, user_id, code))
        return values

    def summary(self) -> NodeSummary:
        """This node as zwave-js-ui's getNodes lists it."""
        info = self.firmware.info()
        values = tuple(
            (ValueId(self.node_id, USER_CODE_CC, prop, key), value)
            for prop, key, value in self.retained_values()
        )
        return NodeSummary(
            node_id=self.node_id,
            name=self.name,
            state=self.state,
            ready=True,
            manufacturer=info.vendor,
            product_label=info.model,
            product_description=f"{info.vendor} {info.model}",
            firmware_version=info.firmware_version,
            values=values,
        )

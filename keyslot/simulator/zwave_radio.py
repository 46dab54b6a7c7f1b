"""The simulated Z-Wave controller: one radio, and what zwave-js does with each command.

A Set is answered at once and verified by a Get `verification_delay` seconds later (unless
the node is supervised); a Get travels the air like any frame; a dead node fails, a sleeping
one is waited for; each node's `FaultPlan` decides what gets lost on the way. What the radio
learns is handed to a `Reporter` (the MQTT front-end) to publish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Protocol

from keyslot.protocol.clock import Clock
from keyslot.protocol.zwave_values import (
    USER_CODE,
    USER_CODE_CHECKSUM,
    USER_ID_STATUS,
    NodeState,
    NotificationEvent,
    SetValueStatus,
    ValueId,
)
from keyslot.simulator.faults import Decision, FaultKind
from keyslot.simulator.zwave_node import SimNode, WriteOutcome

__all__ = ["CommandFailed", "CommandLost", "Reporter", "SimRadio", "check_lost"]


class CommandFailed(Exception):
    """A command the gateway reports as failed (`success: false`)."""


class CommandLost(Exception):
    """A command or its answer vanished on the radio: the caller hears nothing."""


def check_lost(decision: Decision) -> None:
    if decision.kind in (FaultKind.LOSE, FaultKind.LOSE_REPLY):
        raise CommandLost


class Reporter(Protocol):
    """Where the radio's news goes (the gateway publishes it)."""

    def report(self, node: SimNode, user_id: int) -> None:
        """A User Code Report: the user id's status and code."""

    def value(self, node: SimNode, prop: str, key: int | None, value: object) -> None: ...

    def notify(self, node: SimNode, event: NotificationEvent, user_id: int | None) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...


class SimRadio:
    """The controller's radio for the simulated nodes; `in_flight` counts unfinished commands."""

    def __init__(
        self,
        out: Reporter,
        *,
        clock: Clock,
        delays: Clock,
        verification_delay: float,
        latency: float,
        supervised: bool,
    ) -> None:
        self._out = out
        self.clock = clock
        self.delays = delays
        self.verification_delay = verification_delay
        self.latency = latency
        self.supervised = supervised
        self.in_flight = 0
        self.max_in_flight = 0
        self._air = asyncio.Lock()

    async def transmit(self, extra: float = 0.0) -> None:
        """One frame over the single radio: other commands wait for it."""
        async with self._air:
            if self.latency + extra > 0:
                await self.delays.sleep(self.latency + extra)

    async def reach(self, node: SimNode, op: str) -> Decision:
        """Wait for a sleeping node, send the frame, and decide its fate from the fault plan."""
        await node.awake.wait()
        if node.state is NodeState.DEAD:
            await self.transmit()
            raise CommandFailed(f"Node {node.node_id} is dead")
        decision = node.firmware.faults.decide(op, self.clock.monotonic())
        await self.transmit(decision.delay)
        if decision.kind is FaultKind.FAIL:
            raise CommandFailed(f"Node {node.node_id} did not acknowledge the command")
        if decision.kind is FaultKind.OFFLINE:
            raise CommandFailed(f"Node {node.node_id} did not respond (it may be dead)")
        return decision

    async def write(self, node: SimNode, prop: str, user_id: int, value: object) -> SetValueStatus:
        """A Set of `userCode` or `userIdStatus`, as zwave-js answers it."""
        if prop not in (USER_CODE, USER_ID_STATUS):
            return SetValueStatus.NOT_IMPLEMENTED
        decision = await self.reach(node, "write_slot" if prop == USER_CODE else "clear_slot")
        if decision.kind is FaultKind.LOSE:
            return SetValueStatus.SUCCESS_UNSUPERVISED  # the Set never reached the lock
        outcome: WriteOutcome
        if prop == USER_CODE:
            outcome = node.set_code(user_id, value, full=decision.kind is FaultKind.FULL)
        else:
            outcome = node.set_status(user_id, value)
        if outcome.status is SetValueStatus.INVALID_VALUE:
            return outcome.status
        if outcome.duplicate:
            self._out.notify(node, NotificationEvent.NEW_USER_CODE_NOT_ADDED, user_id)
        if decision.kind is not FaultKind.LOSE_REPLY:
            if self.supervised:
                self._out.report(node, user_id)
            else:
                self._out.spawn(self.verify(node, user_id))
        return outcome.status if self.supervised else SetValueStatus.SUCCESS_UNSUPERVISED

    async def verify(self, node: SimNode, user_id: int) -> None:
        """zwave-js's verification Get, about a second after an unsupervised Set."""
        self.enter()
        try:
            await self.delays.sleep(self.verification_delay)
            await self.transmit()
            node.gets += 1
            self._out.report(node, user_id)
        finally:
            self.exit()

    def enter(self) -> None:
        """A command (or its verification) is on its way to a lock."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def exit(self) -> None:
        self.in_flight -= 1

    async def handle_set(self, node: SimNode, prop: str, user_id: int, value: object) -> None:
        """A write through a `/set` topic: nobody hears how it went."""
        self.enter()
        try:
            with contextlib.suppress(CommandFailed):
                await self.write(node, prop, user_id, value)
        finally:
            self.exit()

    async def poll(self, node: SimNode, value_id: ValueId) -> Any:
        """A Get of one value; its report is published and returned."""
        key = value_id.property_key
        if value_id.property == USER_CODE_CHECKSUM:
            if not node.supports_checksum:
                raise CommandFailed("The value userCodeChecksum does not exist on this node")
            decision = await self.reach(node, "checksum")
            check_lost(decision)
            node.gets += 1
            checksum = node.checksum()
            self._out.value(node, USER_CODE_CHECKSUM, None, checksum)
            return checksum
        if value_id.property in (USER_CODE, USER_ID_STATUS) and isinstance(key, int):
            if key not in node.user_ids:
                raise CommandFailed(f"User id {key} does not exist on this node")
            decision = await self.reach(node, "read_slot")
            check_lost(decision)
            node.gets += 1
            self._out.report(node, key)
            status, code = node.report(key)
            return code if value_id.property == USER_CODE else status
        raise CommandFailed(f"The value {value_id.property} cannot be polled")

    async def refresh(self, node: SimNode) -> None:
        """Read every user code of the node again (refreshCCValues)."""
        decision = await self.reach(node, "read_slots")
        check_lost(decision)
        node.full_reads += 1
        for user_id in node.user_ids:
            if user_id != node.user_ids.start:
                await self.transmit()
            node.gets += 1
            self._out.report(node, user_id)
        if node.supports_checksum:
            self._out.value(node, USER_CODE_CHECKSUM, None, node.checksum())

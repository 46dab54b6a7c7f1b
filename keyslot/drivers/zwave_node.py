"""One lock node as its gateway shows it: the slot table from value topics, its status, waits.

The gateway's retained value topics are its own cache of the lock, kept current by
zwave-js's verification reads and the lock's notifications, so the driver builds its
slot table from them and asks the radio only when that cache may be wrong.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from keyslot.protocol.clock import Clock, wait_for
from keyslot.protocol.slots import LockEvent, LockEventKind, LockUnavailable, Slot, SlotStatus
from keyslot.protocol.zwave_mqtt import NodeStatus, ValueTopic, decode_notification, decode_value
from keyslot.protocol.zwave_values import (
    NOTIFICATION_CC,
    SUPPORTED_ASCII,
    SUPPORTED_USERS,
    SUPPORTS_CHECKSUM,
    USER_CODE,
    USER_CODE_CC,
    USER_CODE_CHECKSUM,
    USER_ID_STATUS,
    NodeState,
    NotificationEvent,
    UserCodeValue,
    UserIdStatus,
    ZwaveCodecError,
    is_json_int,
    parse_user_code,
    parse_user_id_status,
    user_code_checksum,
)

__all__ = ["NodeCache", "SlotCell"]

log = logging.getLogger(__name__)

EventSink = Callable[[LockEvent], None]

_SIMPLE_EVENTS: dict[NotificationEvent, LockEventKind] = {
    NotificationEvent.KEYPAD_UNLOCK: LockEventKind.KEYPAD_UNLOCK,
    NotificationEvent.MANUAL_UNLOCK: LockEventKind.MANUAL_UNLOCK,
    NotificationEvent.SINGLE_USER_CODE_DELETED: LockEventKind.CODE_DELETED,
    NotificationEvent.ALL_USER_CODES_DELETED: LockEventKind.ALL_CODES_DELETED,
    NotificationEvent.KEYPAD_TEMPORARILY_DISABLED: LockEventKind.LOCKOUT,
    NotificationEvent.INVALID_CODE: LockEventKind.ACCESS_DENIED,
}


@dataclass(slots=True)
class SlotCell:
    """What the gateway last published for one user id; `*_seq` orders updates (0: never)."""

    code: UserCodeValue | None = None
    status: UserIdStatus | None = None
    code_seq: int = 0
    status_seq: int = 0
    live_seq: int = 0  # last update that was news, not a retained replay
    unreadable: bool = False  # the gateway published something that is not a code

    @property
    def occupied(self) -> bool:
        if self.status is not None:
            return self.status.occupied
        return self.code is not None and not self.code.empty


@dataclass(slots=True)
class _Waiter:
    predicate: Callable[[], bool]
    future: asyncio.Future[None]
    needs_link: bool


class NodeCache:
    """The driver's view of one node; the network feeds it (see `NodeListener`)."""

    def __init__(
        self, node_id: int, segments: tuple[str, ...], clock: Clock, sink: EventSink
    ) -> None:
        self.node_id = node_id
        self._segments = segments
        self.clock = clock
        self._sink = sink
        self.cells: dict[int, SlotCell] = {}
        self.supported_users: int | None = None
        self.checksum: int | None = None
        self.checksum_seq = 0
        self.supports_checksum: bool | None = None
        self.ascii_chars: str | None = None
        self.state = NodeState.UNKNOWN
        self.link_up = True
        self.link_reason = ""
        self.masked_seen = False
        self.known: dict[int, str] = {}  # codes confirmed since the driver opened (memory only)
        self.stale: set[int] = set()  # changed at the keypad, values not republished yet
        self.notified: set[int] = set()  # changed at the keypad since the driver last looked
        self.duplicates: dict[int, int] = {}  # user id -> seq of "not added: duplicate"
        self.version = 0  # moves on with anything that may change the slot table
        self._waiters: list[_Waiter] = []

    @property
    def segments(self) -> tuple[str, ...]:
        return self._segments

    # ------------------------------------------------------------------ feed

    def on_value(self, topic: ValueTopic, payload: bytes, *, retained: bool, seq: int) -> None:
        if topic.endpoint != 0:
            return
        try:
            if topic.command_class == USER_CODE_CC:
                value = decode_value(payload).value
                self._apply(topic.property, topic.property_key, value, retained=retained, seq=seq)
            elif topic.command_class == NOTIFICATION_CC and not retained:
                notification = decode_notification(topic, payload)
                if notification is not None:
                    self._on_notification(
                        notification.event, notification.user_id, seq, notification.time_ms
                    )
        except ZwaveCodecError as exc:
            where = f"{topic.property}/{topic.property_key}"
            log.warning("node %d: ignoring %s: %s", self.node_id, where, exc.message)
        self._check_waiters()

    def _apply(
        self, prop: str, key: int | str | None, value: object, *, retained: bool, seq: int
    ) -> None:
        if prop in (USER_CODE, USER_ID_STATUS) and is_json_int(key) and 0 < key <= 0xFFFF:
            self.version += 1
            cell = self.cells.setdefault(key, SlotCell())
            if not retained:
                cell.live_seq = seq
                self.stale.discard(key)
            if prop == USER_ID_STATUS:
                cell.status, cell.status_seq = parse_user_id_status(value), seq
                if not cell.status.occupied:
                    self.known.pop(key, None)
                return
            try:
                cell.code, cell.unreadable = parse_user_code(value), False
            except ZwaveCodecError:
                cell.code, cell.unreadable = None, True
                raise
            finally:
                cell.code_seq = seq
            if cell.code.masked:
                self.masked_seen = True
            elif cell.code.code is not None and self.known.get(key) not in (None, cell.code.code):
                self.known.pop(key, None)
        elif prop == USER_CODE_CHECKSUM and is_json_int(value):
            self.checksum, self.checksum_seq = value, seq
        elif prop == SUPPORTED_USERS and is_json_int(value) and 0 < value <= 0xFFFF:
            self.supported_users = value
        elif prop == SUPPORTS_CHECKSUM and isinstance(value, bool):
            self.supports_checksum = value
        elif prop == SUPPORTED_ASCII and isinstance(value, str):
            self.ascii_chars = value

    def _on_notification(
        self, event: NotificationEvent, user_id: int | None, seq: int, time_ms: int | None
    ) -> None:
        at = self._at(time_ms)
        self.version += 1
        if event is NotificationEvent.NEW_USER_CODE_NOT_ADDED:
            if user_id is not None:
                self.duplicates[user_id] = seq
            return
        if event in (
            NotificationEvent.NEW_USER_CODE_ADDED,
            NotificationEvent.SINGLE_USER_CODE_DELETED,
        ):
            if user_id is None:
                self.stale.update(self.cells)
                self.notified.update(self.cells)
                self.known.clear()
            else:
                self.stale.add(user_id)
                self.notified.add(user_id)
                self.known.pop(user_id, None)
        if event is NotificationEvent.ALL_USER_CODES_DELETED:
            self.stale.update(self.cells)
            self.notified.update(self.cells)
            self.known.clear()
        if event is NotificationEvent.NEW_USER_CODE_ADDED:
            cell = self.cells.get(user_id) if user_id is not None else None
            changed = cell is not None and cell.occupied
            kind = LockEventKind.CODE_CHANGED if changed else LockEventKind.CODE_ADDED
            self._sink(LockEvent(kind, at, slot=user_id))
            return
        simple = _SIMPLE_EVENTS.get(event)
        if simple is LockEventKind.ACCESS_DENIED:
            reason = "unknown_code" if user_id is None else "expired_code"
            self._sink(LockEvent(simple, at, slot=user_id, reason=reason))
        elif simple is not None:
            self._sink(LockEvent(simple, at, slot=user_id))

    def _at(self, time_ms: int | None) -> datetime:
        if time_ms is None:
            return self.clock.now()
        try:
            return datetime.fromtimestamp(time_ms / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return self.clock.now()

    def on_node_status(self, status: NodeStatus, seq: int) -> None:
        del seq
        self.version += 1
        before, self.state = self.state, status.state
        if status.state is NodeState.DEAD and before is not NodeState.DEAD:
            self._sink(
                LockEvent(LockEventKind.OFFLINE, self._at(status.time_ms), reason="node_dead")
            )
        elif status.state.reachable and before is NodeState.DEAD:
            self._sink(LockEvent(LockEventKind.ONLINE, self._at(status.time_ms)))
        self._check_waiters()

    def on_link(self, up: bool, reason: str) -> None:
        self.version += 1
        before, self.link_up, self.link_reason = self.link_up, up, reason
        if before and not up:
            self._sink(LockEvent(LockEventKind.OFFLINE, self.clock.now(), reason="gateway_link"))
        elif up and not before:
            self._sink(LockEvent(LockEventKind.ONLINE, self.clock.now()))
        self._check_waiters()

    # ------------------------------------------------------------------ waits

    def unreachable_reason(self) -> str | None:
        """Why no command can reach the lock now (None: one can)."""
        if not self.link_up:
            return f"the Z-Wave gateway is unreachable ({self.link_reason})"
        if self.state is NodeState.DEAD:
            return f"Z-Wave node {self.node_id} is dead (the lock does not answer)"
        return None

    def _check_waiters(self) -> None:
        reason = self.unreachable_reason()
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            if waiter.predicate():
                waiter.future.set_result(None)
            elif waiter.needs_link and reason is not None:
                waiter.future.set_exception(LockUnavailable(reason))

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float, *, needs_link: bool = True
    ) -> None:
        """Wait for `predicate` to hold after an update; ClockTimeout after `timeout`.

        With `needs_link` the wait ends in LockUnavailable as soon as the node or the
        gateway becomes unreachable, since what it waits for cannot come any more.
        """
        if predicate():
            return
        reason = self.unreachable_reason()
        if needs_link and reason is not None:
            raise LockUnavailable(reason)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, future, needs_link)
        self._waiters.append(waiter)
        try:
            await wait_for(self.clock, future, timeout)
        finally:
            self._waiters.remove(waiter)

    def fail_waiters(self, reason: str) -> None:
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(LockUnavailable(reason))

    # ------------------------------------------------------------------ views

    def slot(self, index: int) -> Slot:
        cell = self.cells.get(index)
        if cell is None or not cell.occupied:
            return Slot(index=index)
        status = SlotStatus.DISABLED if cell.status is UserIdStatus.DISABLED else SlotStatus.ENABLED
        code = cell.code
        if code is None or cell.unreadable:
            return Slot(index=index, status=status, code=None, code_masked=True)
        return Slot(index=index, status=status, code=code.code, code_masked=code.masked)

    def complete(self, slots: range) -> bool:
        """Whether the gateway has published a value for every slot."""
        return all(
            i in self.cells and (self.cells[i].status is not None or self.cells[i].code is not None)
            for i in slots
        )

    def expected_checksum(self, slots: range) -> int | None:
        """The checksum the lock should report for this table (None: a code is unknown)."""
        entries: list[tuple[int, int, str]] = []
        for index in slots:
            cell = self.cells.get(index)
            if cell is None or not cell.occupied:
                continue
            code = cell.code.code if cell.code is not None and not cell.unreadable else None
            if code is None:
                code = self.known.get(index)
            if code is None:
                return None
            status = cell.status if cell.status is not None else UserIdStatus.ENABLED
            entries.append((index, int(status), code))
        try:
            return user_code_checksum(entries)
        except ZwaveCodecError:
            return None

    def holder_of(self, code: str, slots: range, *, besides: int) -> int | None:
        """Another slot known to hold `code` (readable on the gateway or written by keyslot)."""
        for index in slots:
            if index == besides:
                continue
            cell = self.cells.get(index)
            if cell is None or not cell.occupied:
                continue
            shown = cell.code.code if cell.code is not None else None
            if code in (shown, self.known.get(index)):
                return index
        return None

    def holds(self, index: int, code: str) -> bool:
        """Whether slot `index` is known to hold exactly `code`, enabled."""
        cell = self.cells.get(index)
        if cell is None or index in self.stale or cell.status is not UserIdStatus.ENABLED:
            return False
        if cell.code is not None and cell.code.code is not None:
            return cell.code.code == code
        return self.known.get(index) == code

    def learn(self, values: Mapping[tuple[str, int | str | None], object], seq: int) -> None:
        """Fill what the retained topics did not cover from a `getNodes` answer."""
        for (prop, key), value in values.items():
            cell = self.cells.get(key) if is_json_int(key) else None
            if cell is not None and (cell.code_seq if prop == USER_CODE else cell.status_seq):
                continue
            if prop == USER_CODE_CHECKSUM and self.checksum is not None:
                continue
            try:
                self._apply(prop, key, value, retained=True, seq=seq)
            except ZwaveCodecError:
                continue

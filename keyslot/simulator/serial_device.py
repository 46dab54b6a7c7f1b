"""The lock's side of the serial protocol: sessions, counters, the reply cache, and events.

`SerialDevice` is what a keypad's microcontroller would run between its UART and its slot
table: frames in, frames out, no I/O of its own. The endpoint feeds it bytes from a pty or
socket and sends what it returns. It refuses unsealed, forged and replayed changes, and it
answers a retransmitted request from its cache so a write is never applied twice.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from keyslot.protocol import serial_messages as msg
from keyslot.protocol.serial_frames import Frame, FrameDecodeError, FrameKind, encode_frame
from keyslot.protocol.serial_messages import MsgType, Nak, Status
from keyslot.protocol.serial_session import (
    COUNTER_MAX,
    PUBLIC_KEY_LEN,
    PairingKeyPair,
    SealError,
    Session,
    new_nonce,
)
from keyslot.protocol.slots import (
    KeyslotError,
    LockEvent,
    LockEventKind,
    Slot,
    SlotEntry,
    SlotStatus,
    WriteConfirmation,
)
from keyslot.simulator.faults import FaultKind
from keyslot.simulator.firmware import LockFirmware

__all__ = ["Outgoing", "SerialDevice"]

log = logging.getLogger(__name__)

PAGE_BYTES = 200  # a slot page stops growing past this many body bytes
MAX_AUTH_FAILURES = 8  # per session; then the session is dropped (limits online forgery)
EVENT_QUEUE = 64


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes to put on the wire, `delay` seconds from now."""

    data: bytes
    delay: float = 0.0


@dataclass(slots=True)
class _PendingEvent:
    event: LockEvent
    counter: int = 0  # 0: not sent in the current session yet
    sent_at: float | None = None
    tries: int = 0


class SerialDevice:
    """The serial protocol state machine of one simulated lock."""

    def __init__(
        self,
        firmware: LockFirmware,
        *,
        pairing_key: bytes | None = None,
        pairing_mode: bool = False,
        on_paired: Callable[[bytes, str], None] | None = None,
        event_retry: float = 0.25,
        event_tries: int = 20,
    ) -> None:
        self.firmware = firmware
        self.pairing_key = pairing_key
        self.pairing_mode = pairing_mode
        self.on_paired = on_paired
        self.event_retry = event_retry
        self.event_tries = event_tries
        self.refused: list[Status] = []  # security refusals, for tests and the sim's log
        self._session: Session | None = None
        self._last_counter = 0
        self._auth_failures = 0
        self._event_counter = 0
        self._events: deque[_PendingEvent] = deque(maxlen=EVENT_QUEUE)
        self._last_request: Frame | None = None
        self._cached: list[Outgoing] = []
        self._lost: Frame | None = None
        self._unsubscribe = firmware.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    @property
    def has_session(self) -> bool:
        return self._session is not None

    def reboot(self) -> None:
        """Power loss: RAM (session, cache, unsent events) is gone; the pairing key survives."""
        self.firmware.reboot()  # its REBOOTED event resets this side, see `_on_event`

    def _forget(self) -> None:
        self._session = None
        self._last_request = None
        self._lost = None
        self._cached = []
        self._events.clear()

    # ------------------------------------------------------------------ requests

    def handle(self, item: Frame | FrameDecodeError) -> list[Outgoing]:
        """What the lock sends back for one received frame (or garbage)."""
        if isinstance(item, FrameDecodeError):
            return [self._plain(0, Status.BAD_FRAME)]
        frame = item
        if frame.kind is not FrameKind.REQUEST:
            return []  # an echo or another device's frame
        if frame.code == MsgType.EVENT_ACK:
            self._ack_event(frame)
            return []
        if frame == self._last_request:
            return self._cached  # a retransmit: answer again, apply nothing
        if frame == self._lost:
            return []  # an operation the fault plan lost: its retransmits are lost too
        try:
            mtype = MsgType(frame.code)
        except ValueError:
            return self._remember(frame, [self._plain(frame.seq, Status.UNKNOWN_TYPE)])
        if mtype in msg.SEALED_TYPES:
            return self._handle_sealed(frame, mtype)
        if frame.sealed:
            return self._remember(frame, [self._plain(frame.seq, Status.BAD_REQUEST)])
        try:
            status, body = self._handle_plain(mtype, frame.body)
        except FrameDecodeError as exc:
            status, body = Status.BAD_REQUEST, Nak(exc.message).encode()
        return self._remember(frame, [self._plain(frame.seq, status, body)])

    def _remember(self, frame: Frame, out: list[Outgoing]) -> list[Outgoing]:
        self._last_request = frame
        self._cached = [Outgoing(o.data) for o in out]
        return out

    def _refuse(self, frame: Frame, status: Status) -> list[Outgoing]:
        """A security refusal; not cached, so the genuine host's retransmit still gets through."""
        self.refused.append(status)
        log.warning("refused a %s frame: %s", MsgType(frame.code).name, status.name)
        return [self._plain(frame.seq, status)]

    def _handle_sealed(self, frame: Frame, mtype: MsgType) -> list[Outgoing]:
        if self.pairing_key is None:
            return self._refuse(frame, Status.NOT_PAIRED)
        if not frame.sealed:
            return self._refuse(frame, Status.AUTH_REQUIRED)
        session = self._session
        if session is None:
            return [self._plain(frame.seq, Status.NO_SESSION)]
        try:
            plaintext = session.open(frame)
        except SealError:
            self._auth_failures += 1
            if self._auth_failures >= MAX_AUTH_FAILURES:
                self._session = None
            return self._refuse(frame, Status.AUTH_FAILED)
        if frame.counter <= self._last_counter:
            return self._refuse(frame, Status.REPLAY)
        self._last_counter = frame.counter
        decision = self.firmware.faults.decide(_FAULT_OPS[mtype], self.firmware.clock.monotonic())
        if decision.kind is FaultKind.LOSE:
            self._lost = frame
            return []
        if decision.kind is FaultKind.OFFLINE:
            self._last_counter = frame.counter - 1  # never received: a later retransmit is new
            return []
        before = decision.error_before()
        if before is not None:  # refused without applying; a retransmit gets the same answer
            status, nak = msg.error_to_nak(before)
            return self._remember(frame, [self._sealed_reply(frame, status, nak.encode())])
        try:
            status, body = self._apply(mtype, plaintext)
        except FrameDecodeError as exc:
            status, body = Status.BAD_REQUEST, Nak(exc.message).encode()
        except KeyslotError as exc:
            status, nak = msg.error_to_nak(exc)
            body = nak.encode()
        out = [self._sealed_reply(frame, status, body)]
        if decision.kind is FaultKind.LOSE_REPLY:
            self._lost = frame
            return []
        self._remember(frame, out)
        if decision.delay:
            return [Outgoing(o.data, decision.delay) for o in out]
        return out

    def _sealed_reply(self, frame: Frame, status: Status, body: bytes) -> Outgoing:
        if not body or self._session is None:
            return self._plain(frame.seq, status, body)
        sealed = self._session.seal(FrameKind.REPLY, status, frame.counter, body)
        return Outgoing(encode_frame(sealed))

    @staticmethod
    def _plain(seq: int, status: Status, body: bytes = b"") -> Outgoing:
        return Outgoing(encode_frame(Frame(FrameKind.REPLY, status, seq, body)))

    def _handle_plain(self, mtype: MsgType, body: bytes) -> tuple[Status, bytes]:
        if mtype is MsgType.HELLO:
            hello = msg.Hello.decode(body)
            if hello.version != msg.PROTOCOL_VERSION:
                return Status.BAD_REQUEST, Nak(f"protocol version {hello.version}").encode()
            nonce = new_nonce()
            self._start_session(hello.nonce, nonce)
            reply = msg.HelloReply(
                msg.PROTOCOL_VERSION,
                self.pairing_key is not None,
                self.pairing_mode,
                nonce,
                self.firmware.lock_id,
            )
            return Status.OK, reply.encode()
        if mtype is MsgType.INFO:
            msg.decode_bytes(body, 0)
            return Status.OK, msg.encode_info(self.firmware.info())
        if mtype is MsgType.PAIR:
            host_public = msg.decode_bytes(body, PUBLIC_KEY_LEN)
            if not self.pairing_mode:
                self.refused.append(Status.NOT_PAIRING)
                return Status.NOT_PAIRING, b""
            pair = PairingKeyPair()
            result = pair.agree(
                host_public,
                lock_id=self.firmware.lock_id,
                host_public=host_public,
                lock_public=pair.public,
            )
            self.pairing_key = result.key
            self.pairing_mode = False
            self._session = None
            if self.on_paired is not None:
                self.on_paired(result.key, result.confirmation)
            return Status.OK, pair.public
        return Status.UNKNOWN_TYPE, b""

    def _start_session(self, host_nonce: bytes, lock_nonce: bytes) -> None:
        self._session = None
        self._last_counter = 0
        self._auth_failures = 0
        self._event_counter = 0
        for pending in self._events:
            pending.counter, pending.sent_at, pending.tries = 0, None, 0
        if self.pairing_key is not None:
            self._session = Session(self.pairing_key, host_nonce, lock_nonce)

    def _apply(self, mtype: MsgType, body: bytes) -> tuple[Status, bytes]:
        firmware = self.firmware
        if mtype is MsgType.READ_SLOTS:
            request = msg.ReadSlots.decode(body)
            return Status.OK, self._page(request.start, request.count).encode()
        if mtype is MsgType.CHECKSUM:
            msg.decode_bytes(body, 0)
            if not firmware.info().checksum:
                return Status.NOT_SUPPORTED, b""
            return Status.OK, msg.encode_u16(firmware.checksum())
        if mtype is MsgType.WRITE_SLOT:
            write = msg.WriteSlot.decode(body)
            slot = firmware.write_slot(write.index, write.entry)
            unchanged = slot.confirmation is WriteConfirmation.NO_CHANGE
            status = Status.UNCHANGED if unchanged else Status.OK
            if self._as_sent(slot, write.entry):
                return status, b""
            return status, msg.encode_slot(slot)
        if mtype is MsgType.CLEAR_SLOT:
            firmware.clear_slot(msg.decode_index(body))
            return Status.OK, b""
        if mtype is MsgType.SET_CLOCK:
            firmware.set_clock(msg.decode_time(body))
            return Status.OK, b""
        return Status.UNKNOWN_TYPE, b""

    def _as_sent(self, slot: Slot, entry: SlotEntry) -> bool:
        """Whether an empty ACK tells the host exactly what the slot holds."""
        readable = self.firmware.info().codes_readable
        code_ok = slot.code == entry.code if readable else slot.code is None and slot.code_masked
        status = SlotStatus.ENABLED if entry.enabled else SlotStatus.DISABLED
        return (
            code_ok
            and slot.status is status
            and slot.name == entry.name
            and slot.first_name is None
            and slot.last_name is None
            and slot.schedule == entry.schedule
            and slot.one_time == entry.one_time
        )

    def _page(self, start: int, count: int) -> msg.SlotPage:
        slot_range = self.firmware.profile.slot_range
        end = min(start + count, slot_range.stop)
        index = max(start, slot_range.start)
        slots: list[Slot] = []
        size = 0
        while index < end:
            slot = self.firmware.read_slot(index)
            if slot.occupied:
                record = len(msg.encode_slot(slot))
                if slots and size + record > PAGE_BYTES:
                    break
                slots.append(slot)
                size += record
            index += 1
        return msg.SlotPage(max(index, start), tuple(slots))

    # ------------------------------------------------------------------ events

    def _on_event(self, event: LockEvent) -> None:
        if event.kind is LockEventKind.REBOOTED:
            self._forget()
        self._events.append(_PendingEvent(event))

    def _ack_event(self, frame: Frame) -> None:
        try:
            counter = msg.decode_u16(frame.body)
        except FrameDecodeError:
            return
        if self._events and self._events[0].counter == counter and counter:
            self._events.popleft()

    def event_due(self, now: float) -> Outgoing | None:
        """The event frame to send at monotonic time `now`, if one is due."""
        if not self._events:
            return None
        if self.pairing_key is not None and self._session is None:
            return None  # wait for a host that can open it
        pending = self._events[0]
        if pending.sent_at is not None and now - pending.sent_at < self.event_retry:
            return None
        if pending.tries >= self.event_tries:
            self._events.popleft()
            log.warning("dropped an unacknowledged %s event", pending.event.kind.value)
            return self.event_due(now)
        if pending.counter == 0:
            if self._event_counter >= COUNTER_MAX:
                return None
            self._event_counter += 1
            pending.counter = self._event_counter
        pending.sent_at = now
        pending.tries += 1
        code = msg.EVENT_CODES[pending.event.kind]
        body = msg.encode_event(pending.event)
        if self._session is not None:
            frame = self._session.seal(FrameKind.EVENT, code, pending.counter, body)
        else:
            frame = Frame(FrameKind.EVENT, code, pending.counter & 0xFF, body)
        return Outgoing(encode_frame(frame))

    def next_event_at(self) -> float | None:
        """When `event_due` may next return something (None: nothing is waiting)."""
        if not self._events or (self.pairing_key is not None and self._session is None):
            return None
        sent_at = self._events[0].sent_at
        return 0.0 if sent_at is None else sent_at + self.event_retry


_FAULT_OPS = {
    MsgType.READ_SLOTS: "read_slots",
    MsgType.CHECKSUM: "checksum",
    MsgType.WRITE_SLOT: "write_slot",
    MsgType.CLEAR_SLOT: "clear_slot",
    MsgType.SET_CLOCK: "set_clock",
}

"""The lock's side of the BLE protocol, independent of any radio: whole messages in and out.

`LockService` holds what the lock keeps between connections (the firmware, paired keys,
pairing mode); a `LockConnection` is one link's state (pairing in progress, the session's
channel and challenge). The GATT front-end (ble_peripheral) only moves fragments. Faults
from the firmware's `FaultPlan` are played here in BLE terms: a lost request or reply is
never answered, a failure is a `BUSY` error, an offline lock drops the link.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from keyslot.protocol.ble_frames import (
    Alert,
    AlertReason,
    Frame,
    Hello,
    PairConfirm,
    PairNonce,
    PairRequest,
    Sealed,
    decode_frame,
    encode_frame,
)
from keyslot.protocol.ble_messages import (
    NO_EVENT,
    ChallengeReply,
    ChecksumReply,
    ClearReply,
    ClearSlot,
    ClockReply,
    ErrorCode,
    ErrorReply,
    EventCount,
    EventNotice,
    GetChallenge,
    GetChecksum,
    GetClock,
    GetEvents,
    GetInfo,
    InfoReply,
    ListSlots,
    Message,
    ReadSlot,
    SetClock,
    SlotCount,
    SlotReply,
    WriteReply,
    WriteSlot,
    decode_message,
    encode_message,
    reply_for_error,
)
from keyslot.protocol.ble_session import (
    AuthError,
    ChallengeBook,
    LockPairing,
    PairedKey,
    PairingError,
    ReplayError,
    SecureChannel,
    accept_hello,
)
from keyslot.protocol.ble_wire import MessageError
from keyslot.protocol.slots import KeyslotError, LockEvent
from keyslot.simulator.faults import FaultKind
from keyslot.simulator.firmware import LockFirmware

__all__ = ["LockConnection", "LockService"]

log = logging.getLogger(__name__)

Send = Callable[[bytes], None]
Defer = Callable[[float, Callable[[], None]], None]

# the FaultPlan operation each request counts as (None: protocol housekeeping, never faulted)
_OPS: dict[type, str | None] = {
    GetInfo: "info",
    ListSlots: "read_slots",
    ReadSlot: "read_slots",
    GetChallenge: None,
    WriteSlot: "write_slot",
    ClearSlot: "clear_slot",
    SetClock: "set_clock",
    GetClock: "set_clock",
    GetChecksum: "checksum",
    GetEvents: None,
}
EVENT_LOG_SIZE = 64  # events the lock keeps for hosts that were away (oldest dropped first)


def _run_now(delay: float, fn: Callable[[], None]) -> None:
    del delay
    fn()


class LockService:
    """A simulated BLE lock: firmware, paired keys and pairing mode, shared by all links.

    `pairing` is the physical pairing-mode switch; it turns itself off after one host
    paired (`pair_once`). `on_code` is called with the six-digit confirmation code the
    lock would show on its display. `defer(seconds, fn)` runs `fn` later on the lock's
    clock (delayed answers); `drop_after_requests` forces link drops for fault tests.
    """

    def __init__(
        self,
        firmware: LockFirmware,
        *,
        pairing: bool = False,
        pair_once: bool = True,
        keys: dict[bytes, PairedKey] | None = None,
        random: Callable[[int], bytes] = os.urandom,
        on_code: Callable[[str], None] | None = None,
        on_paired: Callable[[PairedKey], None] | None = None,
        defer: Defer = _run_now,
    ) -> None:
        self.firmware = firmware
        self.pairing = pairing
        self.pair_once = pair_once
        self.keys: dict[bytes, PairedKey] = dict(keys or {})
        self.random = random
        self.on_code = on_code
        self.on_paired = on_paired
        self.defer = defer
        self.connections: list[LockConnection] = []
        self.requests_handled = 0
        self.alerts_sent = 0
        self._drop_after: int | None = None
        self._drop_every: int | None = None
        self.drops = 0
        self.event_sequence = 0
        self._event_log: deque[tuple[int, LockEvent]] = deque(maxlen=EVENT_LOG_SIZE)
        self._unsubscribe = firmware.subscribe(self._on_event)

    def open_connection(self, send: Send, drop: Callable[[], None]) -> LockConnection:
        """State for a new link; `send` queues one whole message, `drop` ends the link."""
        connection = LockConnection(self, send, drop)
        self.connections.append(connection)
        return connection

    def close(self) -> None:
        self._unsubscribe()
        for connection in list(self.connections):
            connection.close()

    def drop_after_requests(self, count: int | None, *, repeat: bool = False) -> None:
        """Drop the link after the next `count` requests were applied, before answering the
        last one (its reply is lost); with `repeat`, again every `count` requests. None: never.
        """
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        self._drop_after = count
        self._drop_every = count if repeat else None

    def count_request(self) -> bool:
        """Count a handled request; True when the link must be dropped instead of answering."""
        self.requests_handled += 1
        if self._drop_after is None:
            return False
        self._drop_after -= 1
        if self._drop_after > 0:
            return False
        self._drop_after = self._drop_every
        self.drops += 1
        return True

    def offline(self) -> bool:
        until = self.firmware.faults.offline_until
        return until is not None and self.firmware.clock.monotonic() < until

    def _on_event(self, event: LockEvent) -> None:
        self.event_sequence += 1
        self._event_log.append((self.event_sequence, event))
        for connection in list(self.connections):
            connection.notify(self.event_sequence, event)

    def events_since(self, request_id: int, since: int) -> list[Message]:
        """The answer to GetEvents: a count, then the kept events numbered after `since`.

        A `since` beyond the latest number means the host knew an earlier life of this
        lock's numbering: it gets every event still kept.
        """
        latest = self.event_sequence
        if since == NO_EVENT:
            return [EventCount(request_id, latest, 0)]
        if since > latest:
            since = 0
        kept = [(number, event) for number, event in self._event_log if number > since]
        first = kept[0][0] if kept else latest + 1
        answer: list[Message] = [EventCount(request_id, latest, len(kept), first - since - 1)]
        answer += (EventNotice(event, request_id, number) for number, event in kept)
        return answer


@dataclass(slots=True)
class _Session:
    key: PairedKey
    channel: SecureChannel
    challenges: ChallengeBook


class LockConnection:
    """One link's protocol state on the lock."""

    def __init__(self, service: LockService, send: Send, drop: Callable[[], None]) -> None:
        self._service = service
        self._send = send
        self._drop = drop
        self._pairing: LockPairing | None = None
        self._session: _Session | None = None
        self.closed = False

    @property
    def authenticated(self) -> bool:
        return self._session is not None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._session = None
            self._pairing = None
            if self in self._service.connections:
                self._service.connections.remove(self)

    # ------------------------------------------------------------------ frames

    def _frame(self, frame: Frame) -> None:
        if not self.closed:
            self._send(encode_frame(frame))

    def _alert(self, reason: AlertReason) -> None:
        self._service.alerts_sent += 1
        log.info("refusing a frame: %s", reason.name.lower())
        self._frame(Alert(reason))

    def receive(self, data: bytes) -> None:
        """Handle one reassembled message from the host."""
        if self.closed:
            return
        try:
            frame = decode_frame(data)
        except MessageError:
            self._alert(AlertReason.MALFORMED)
            return
        match frame:
            case PairRequest() | PairNonce() | PairConfirm():
                self._pair_step(frame)
            case Hello():
                self._hello(frame)
            case Sealed():
                self._sealed(frame)
            case _:
                self._alert(AlertReason.MALFORMED)

    def _pair_step(self, frame: PairRequest | PairNonce | PairConfirm) -> None:
        service = self._service
        if not service.pairing:
            self._pairing = None
            self._alert(AlertReason.NOT_IN_PAIRING_MODE)
            return
        if isinstance(frame, PairRequest):
            self._pairing = LockPairing(service.firmware.lock_id, service.random)
        if self._pairing is None:
            self._alert(AlertReason.PAIRING_FAILED)
            return
        try:
            if isinstance(frame, PairRequest):
                self._frame(self._pairing.on_request(frame))
            elif isinstance(frame, PairNonce):
                self._frame(self._pairing.on_nonce(frame))
                if service.on_code is not None and self._pairing.code is not None:
                    service.on_code(self._pairing.code)
            else:
                done, key = self._pairing.on_confirm(frame)
                self._pairing = None
                service.keys[key.key_id] = key
                if service.pair_once:
                    service.pairing = False
                if service.on_paired is not None:
                    service.on_paired(key)
                self._frame(done)
        except PairingError:
            self._pairing = None
            self._alert(AlertReason.PAIRING_FAILED)

    def _hello(self, frame: Hello) -> None:
        service = self._service
        if service.offline():
            self._drop()
            return
        key = service.keys.get(frame.key_id)
        if key is None:
            self._session = None
            self._alert(AlertReason.NOT_PAIRED)
            return
        ack, channel = accept_hello(frame, key, service.random)
        self._session = _Session(key, channel, ChallengeBook(service.random))
        self._frame(ack)

    def _sealed(self, frame: Sealed) -> None:
        session = self._session
        if session is None:
            self._alert(AlertReason.NO_SESSION)
            return
        try:
            plaintext = session.channel.open(frame)
        except ReplayError:
            self._alert(AlertReason.REPLAY)
            return
        except AuthError:
            self._alert(AlertReason.AUTH_FAILED)
            return
        try:
            message = decode_message(plaintext)
        except MessageError:
            # echo the request id if there is one, so the host is not left waiting
            rid = int.from_bytes(plaintext[1:3], "big") if len(plaintext) >= 3 else 0
            self._reply(ErrorReply(rid, ErrorCode.BAD_REQUEST, "the request did not decode"))
            return
        self._request(session, message)

    def _reply(self, *messages: Message) -> None:
        session = self._session
        if session is None or self.closed:
            return
        for message in messages:
            self._frame(session.channel.seal(encode_message(message)))

    def notify(self, sequence: int, event: LockEvent) -> None:
        """Forward a firmware event to this host, if it has a session."""
        self._reply(EventNotice(event, 0, sequence))

    # ------------------------------------------------------------------ requests

    def _request(self, session: _Session, message: Message) -> None:
        op = _OPS.get(type(message), "")
        if op == "":
            self._reply(ErrorReply(message.request_id, ErrorCode.BAD_REQUEST, "not a request"))
            return
        service = self._service
        firmware = service.firmware
        decision = firmware.faults.decide(op, firmware.clock.monotonic()) if op else None
        if decision is not None and decision.kind is FaultKind.OFFLINE:
            self._drop()
            return
        if decision is not None and not decision.applies:
            if decision.kind is FaultKind.LOSE:
                return
            error = decision.error_before()
            code = ErrorCode.NO_FREE_SLOT if decision.kind is FaultKind.FULL else ErrorCode.BUSY
            detail = "" if error is None else error.message
            self._reply(ErrorReply(message.request_id, code, detail))
            return
        replies = self._apply(session, message)
        if service.count_request():
            self._drop()
            return
        if decision is not None and decision.kind is FaultKind.LOSE_REPLY:
            return
        delay = 0.0 if decision is None else decision.delay
        if delay > 0:
            service.defer(delay, lambda: self._reply(*replies))
        else:
            self._reply(*replies)

    def _apply(self, session: _Session, message: Message) -> list[Message]:
        firmware = self._service.firmware
        rid = message.request_id
        now = firmware.clock.monotonic()
        try:
            match message:
                case GetInfo():
                    return [InfoReply(rid, firmware.info())]
                case ListSlots(offset=offset, count=count):
                    slots = firmware.read_slots()
                    page = slots[offset : offset + count]
                    listing: list[Message] = [SlotCount(rid, len(slots), len(page))]
                    listing += (SlotReply(rid, slot) for slot in page)
                    return listing
                case ReadSlot(index=index):
                    return [SlotReply(rid, firmware.read_slot(index))]
                case GetChallenge():
                    return [ChallengeReply(rid, session.challenges.issue(now))]
                case WriteSlot(challenge=challenge, index=index, entry=entry):
                    if not session.challenges.consume(challenge, now):
                        return [_stale(rid)]
                    slot = firmware.write_slot(index, entry)
                    return [WriteReply(rid, slot, session.challenges.issue(now))]
                case ClearSlot(challenge=challenge, index=index):
                    if not session.challenges.consume(challenge, now):
                        return [_stale(rid)]
                    firmware.clear_slot(index)
                    return [ClearReply(rid, session.challenges.issue(now))]
                case SetClock(now=wall):
                    firmware.set_clock(wall)
                    return [ClockReply(rid, firmware.now())]
                case GetClock():
                    return [ClockReply(rid, firmware.now())]
                case GetChecksum():
                    checksum = firmware.checksum() if firmware.profile.checksum else None
                    return [ChecksumReply(rid, checksum)]
                case GetEvents(since=since):
                    return self._service.events_since(rid, since)
        except KeyslotError as exc:
            return [reply_for_error(rid, exc)]
        except (ValueError, TypeError) as exc:
            log.warning("request %s failed: %s", type(message).__name__, type(exc).__name__)
            return [ErrorReply(rid, ErrorCode.BAD_REQUEST, "the lock could not apply this")]
        return [ErrorReply(rid, ErrorCode.BAD_REQUEST, "not a request")]


def _stale(request_id: int) -> ErrorReply:
    return ErrorReply(
        request_id, ErrorCode.STALE_CHALLENGE, "code changes need a fresh challenge from the lock"
    )

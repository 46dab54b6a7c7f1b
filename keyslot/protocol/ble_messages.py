"""Application messages of the BLE lock protocol: what travels inside a sealed frame.

Requests carry a u16 request id (never 0) that the lock echoes in its answer; events
use id 0. Listing is paged: `ListSlots` is answered by one `SlotCount`, then one
`SlotReply` per slot. Commands that change codes carry a challenge the lock issued.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from keyslot.protocol.ble_values import (
    get_entry,
    get_event,
    get_info,
    get_slot,
    has,
    pack_flags,
    put_entry,
    put_event,
    put_info,
    put_slot,
)
from keyslot.protocol.ble_wire import MessageError, Reader, Writer
from keyslot.protocol.slots import (
    AuthenticationFailed,
    CodeRejected,
    DuplicateCode,
    KeyslotError,
    LockEvent,
    LockInfo,
    LockUnavailable,
    NameRejected,
    NoFreeSlot,
    NotSupported,
    ProtocolError,
    Slot,
    SlotEntry,
    SlotNotFound,
    SlotRejected,
)

__all__ = [
    "CHALLENGE_SIZE",
    "NO_EVENT",
    "ChallengeReply",
    "ChecksumReply",
    "ClearReply",
    "ClearSlot",
    "ClockReply",
    "ErrorCode",
    "ErrorReply",
    "EventCount",
    "EventNotice",
    "GetChallenge",
    "GetChecksum",
    "GetClock",
    "GetEvents",
    "GetInfo",
    "InfoReply",
    "ListSlots",
    "Message",
    "ReadSlot",
    "Reply",
    "Request",
    "SetClock",
    "SlotCount",
    "SlotReply",
    "WriteReply",
    "WriteSlot",
    "decode_message",
    "encode_message",
    "error_from_reply",
    "reply_for_error",
]

CHALLENGE_SIZE = 16
NO_EVENT = 0xFFFFFFFF  # GetEvents(since=NO_EVENT): no replay, only the latest event number


class ErrorCode(enum.IntEnum):
    DUPLICATE_CODE = 1
    CODE_REJECTED = 2
    NAME_REJECTED = 3
    NO_FREE_SLOT = 4
    SLOT_NOT_FOUND = 5
    NOT_SUPPORTED = 6
    STALE_CHALLENGE = 7  # the command carried no challenge, a used one, or an expired one
    BAD_REQUEST = 8  # the request decoded but makes no sense (e.g. a reply type)
    SLOT_REJECTED = 9  # any other refusal of a slot operation
    INTERNAL = 10
    BUSY = 11  # the lock could not do it now (motor running, low battery): try again later


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class GetInfo:
    request_id: int


@dataclass(frozen=True, slots=True)
class ListSlots:
    request_id: int
    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class ReadSlot:
    request_id: int
    index: int


@dataclass(frozen=True, slots=True)
class GetChallenge:
    request_id: int


@dataclass(frozen=True, slots=True)
class WriteSlot:
    request_id: int
    challenge: bytes
    index: int
    entry: SlotEntry


@dataclass(frozen=True, slots=True)
class ClearSlot:
    request_id: int
    challenge: bytes
    index: int


@dataclass(frozen=True, slots=True)
class SetClock:
    request_id: int
    now: datetime


@dataclass(frozen=True, slots=True)
class GetClock:
    request_id: int


@dataclass(frozen=True, slots=True)
class GetChecksum:
    request_id: int


@dataclass(frozen=True, slots=True)
class GetEvents:
    """The lock's recent events after number `since` (NO_EVENT: none, only the latest number)."""

    request_id: int
    since: int


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class InfoReply:
    request_id: int
    info: LockInfo


@dataclass(frozen=True, slots=True)
class SlotCount:
    request_id: int
    total: int  # slots the lock has
    count: int  # SlotReply messages that follow for this request


@dataclass(frozen=True, slots=True)
class SlotReply:
    request_id: int
    slot: Slot


@dataclass(frozen=True, slots=True)
class ChallengeReply:
    request_id: int
    challenge: bytes


@dataclass(frozen=True, slots=True)
class WriteReply:
    """What the slot holds now, and a fresh challenge for the next change."""

    request_id: int
    slot: Slot
    next_challenge: bytes


@dataclass(frozen=True, slots=True)
class ClearReply:
    request_id: int
    next_challenge: bytes


@dataclass(frozen=True, slots=True)
class ClockReply:
    request_id: int
    now: datetime


@dataclass(frozen=True, slots=True)
class ChecksumReply:
    request_id: int
    checksum: int | None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    request_id: int
    code: ErrorCode
    detail: str = ""
    slot: int | None = None
    existing_slot: int | None = None
    constraint: str | None = None


@dataclass(frozen=True, slots=True)
class EventCount:
    """Answer to GetEvents: the lock's latest event number, how many EventNotices follow,
    and how many events after `since` the lock no longer holds."""

    request_id: int
    latest: int
    count: int
    missed: int = 0


@dataclass(frozen=True, slots=True)
class EventNotice:
    """An event, numbered by the lock (1, 2, …): live with request id 0, or replayed."""

    event: LockEvent
    request_id: int = 0
    sequence: int = 0


Request = (
    GetInfo
    | ListSlots
    | ReadSlot
    | GetChallenge
    | WriteSlot
    | ClearSlot
    | SetClock
    | GetClock
    | GetChecksum
    | GetEvents
)
Reply = (
    InfoReply
    | SlotCount
    | SlotReply
    | ChallengeReply
    | WriteReply
    | ClearReply
    | ClockReply
    | ChecksumReply
    | EventCount
    | ErrorReply
)
Message = Request | Reply | EventNotice

_TYPES: dict[type, int] = {
    GetInfo: 0x01,
    ListSlots: 0x02,
    ReadSlot: 0x03,
    GetChallenge: 0x04,
    WriteSlot: 0x05,
    ClearSlot: 0x06,
    SetClock: 0x07,
    GetClock: 0x08,
    GetChecksum: 0x09,
    GetEvents: 0x0A,
    InfoReply: 0x81,
    SlotCount: 0x82,
    SlotReply: 0x83,
    ChallengeReply: 0x84,
    WriteReply: 0x85,
    ClearReply: 0x86,
    ClockReply: 0x87,
    ChecksumReply: 0x88,
    EventCount: 0x89,
    EventNotice: 0xE0,
    ErrorReply: 0xEE,
}
_BY_CODE = {code: cls for cls, code in _TYPES.items()}


# A stable wire number per event kind (never reuse a number).
def _challenge(r: Reader) -> bytes:
    return r.raw(CHALLENGE_SIZE)


# --------------------------------------------------------------------------- codec


def encode_message(message: Message) -> bytes:
    """The plaintext of one application message (sealed before it leaves the device)."""
    w = Writer().u8(_TYPES[type(message)]).u16(message.request_id)
    match message:
        case GetInfo() | GetChallenge() | GetClock() | GetChecksum():
            pass
        case ListSlots(offset=offset, count=count):
            w.u16(offset).u16(count)
        case ReadSlot(index=index):
            w.u16(index)
        case WriteSlot(challenge=challenge, index=index, entry=entry):
            w.raw(challenge, CHALLENGE_SIZE).u16(index)
            put_entry(w, entry)
        case ClearSlot(challenge=challenge, index=index):
            w.raw(challenge, CHALLENGE_SIZE).u16(index)
        case SetClock(now=now) | ClockReply(now=now):
            w.time(now)
        case InfoReply(info=info):
            put_info(w, info)
        case SlotCount(total=total, count=count):
            w.u16(total).u16(count)
        case SlotReply(slot=slot):
            put_slot(w, slot)
        case ChallengeReply(challenge=challenge):
            w.raw(challenge, CHALLENGE_SIZE)
        case WriteReply(slot=slot, next_challenge=challenge):
            put_slot(w, slot)
            w.raw(challenge, CHALLENGE_SIZE)
        case ClearReply(next_challenge=challenge):
            w.raw(challenge, CHALLENGE_SIZE)
        case ChecksumReply(checksum=checksum):
            w.u8(checksum is not None)
            if checksum is not None:
                w.u32(checksum)
        case ErrorReply():
            _put_error(w, message)
        case GetEvents(since=since):
            w.u32(since)
        case EventCount(latest=latest, count=count, missed=missed):
            w.u32(latest).u16(count).u32(missed)
        case EventNotice(event=event, sequence=sequence):
            w.u32(sequence)
            put_event(w, event)
    return w.bytes()


def _put_error(w: Writer, e: ErrorReply) -> None:
    w.u8(e.code).text(e.detail)
    w.u8(pack_flags(e.slot is not None, e.existing_slot is not None, e.constraint is not None))
    if e.slot is not None:
        w.u16(e.slot)
    if e.existing_slot is not None:
        w.u16(e.existing_slot)
    if e.constraint is not None:
        w.text(e.constraint)


def _get_error(r: Reader, request_id: int) -> ErrorReply:
    code = r.u8()
    try:
        error_code = ErrorCode(code)
    except ValueError:
        raise MessageError(f"unknown error code {code}") from None
    detail = r.text()
    flags = r.u8()
    return ErrorReply(
        request_id=request_id,
        code=error_code,
        detail=detail,
        slot=r.u16() if has(flags, 0) else None,
        existing_slot=r.u16() if has(flags, 1) else None,
        constraint=r.text() if has(flags, 2) else None,
    )


def _get_notice(r: Reader, rid: int) -> EventNotice:
    sequence = r.u32()
    return EventNotice(get_event(r), rid, sequence)


_DECODERS: dict[type, Callable[[Reader, int], Message]] = {
    GetInfo: lambda r, rid: GetInfo(rid),
    ListSlots: lambda r, rid: ListSlots(rid, r.u16(), r.u16()),
    ReadSlot: lambda r, rid: ReadSlot(rid, r.u16()),
    GetChallenge: lambda r, rid: GetChallenge(rid),
    WriteSlot: lambda r, rid: WriteSlot(rid, _challenge(r), r.u16(), get_entry(r)),
    ClearSlot: lambda r, rid: ClearSlot(rid, _challenge(r), r.u16()),
    SetClock: lambda r, rid: SetClock(rid, r.time()),
    GetClock: lambda r, rid: GetClock(rid),
    GetChecksum: lambda r, rid: GetChecksum(rid),
    GetEvents: lambda r, rid: GetEvents(rid, r.u32()),
    InfoReply: lambda r, rid: InfoReply(rid, get_info(r)),
    SlotCount: lambda r, rid: SlotCount(rid, r.u16(), r.u16()),
    SlotReply: lambda r, rid: SlotReply(rid, get_slot(r)),
    ChallengeReply: lambda r, rid: ChallengeReply(rid, _challenge(r)),
    WriteReply: lambda r, rid: WriteReply(rid, get_slot(r), _challenge(r)),
    ClearReply: lambda r, rid: ClearReply(rid, _challenge(r)),
    ClockReply: lambda r, rid: ClockReply(rid, r.time()),
    ChecksumReply: lambda r, rid: ChecksumReply(rid, r.u32() if r.u8() else None),
    EventCount: lambda r, rid: EventCount(rid, r.u32(), r.u16(), r.u32()),
    ErrorReply: _get_error,
    EventNotice: _get_notice,
}


def decode_message(data: bytes) -> Message:
    """Decode the plaintext of one application message; raises MessageError."""
    r = Reader(data)
    cls = _BY_CODE.get(r.u8())
    if cls is None:
        raise MessageError(f"unknown message type 0x{data[0]:02x}")
    message = _DECODERS[cls](r, r.u16())
    r.end()
    return message


# --------------------------------------------------------------------------- errors

_ERROR_CODES: list[tuple[type[KeyslotError], ErrorCode]] = [
    (DuplicateCode, ErrorCode.DUPLICATE_CODE),
    (CodeRejected, ErrorCode.CODE_REJECTED),
    (NameRejected, ErrorCode.NAME_REJECTED),
    (NoFreeSlot, ErrorCode.NO_FREE_SLOT),
    (SlotNotFound, ErrorCode.SLOT_NOT_FOUND),
    (NotSupported, ErrorCode.NOT_SUPPORTED),
    (AuthenticationFailed, ErrorCode.STALE_CHALLENGE),
    (SlotRejected, ErrorCode.SLOT_REJECTED),
    (LockUnavailable, ErrorCode.BUSY),
]


def reply_for_error(request_id: int, exc: KeyslotError) -> ErrorReply:
    """The lock's answer for a refused request (the message must not contain a PIN)."""
    code = next((c for t, c in _ERROR_CODES if isinstance(exc, t)), ErrorCode.INTERNAL)
    return ErrorReply(
        request_id=request_id,
        code=code,
        detail=exc.message,
        slot=getattr(exc, "slot", None),
        existing_slot=getattr(exc, "existing_slot", None),
        constraint=getattr(exc, "constraint", None),
    )


def error_from_reply(reply: ErrorReply) -> KeyslotError:
    """The keyslot error a driver raises for the lock's refusal."""
    detail = reply.detail or reply.code.name.lower()
    match reply.code:
        case ErrorCode.DUPLICATE_CODE:
            return DuplicateCode(detail, slot=reply.slot, existing_slot=reply.existing_slot)
        case ErrorCode.CODE_REJECTED:
            return CodeRejected(detail, slot=reply.slot, constraint=reply.constraint)
        case ErrorCode.NAME_REJECTED:
            return NameRejected(detail, slot=reply.slot)
        case ErrorCode.NO_FREE_SLOT:
            return NoFreeSlot(detail, slot=reply.slot)
        case ErrorCode.SLOT_NOT_FOUND:
            return SlotNotFound(detail, slot=reply.slot)
        case ErrorCode.NOT_SUPPORTED:
            return NotSupported(detail)
        case ErrorCode.STALE_CHALLENGE:
            return AuthenticationFailed(detail)
        case ErrorCode.SLOT_REJECTED:
            return SlotRejected(detail, slot=reply.slot)
        case ErrorCode.BUSY:
            return LockUnavailable(f"the lock is busy: {detail}")
        case _:
            return ProtocolError(f"the lock could not handle the request: {detail}")

"""Serial message bodies: what each request, reply and event carries, and NAK <-> error mapping.

Pure bytes <-> values. Every decoder reads through `_Reader`, so malformed input raises
`MessageDecodeError` (a `FrameDecodeError`) and nothing else. Layouts are specified in
`hardware/serial-protocol.md`; integers are big-endian, slot indices are LEB128 varints.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from datetime import datetime

from keyslot.protocol.serial_values import (
    MessageDecodeError,
    Reader,
    decode_code,
    decode_info,
    decode_slot,
    encode_code,
    encode_info,
    encode_slot,
    optstr,
    read_code,
    read_slot_record,
    str8,
    time_bytes,
    varint,
    write_slot_record,
)
from keyslot.protocol.slots import (
    AuthenticationFailed,
    CodeRejected,
    DuplicateCode,
    KeyslotError,
    LockEvent,
    LockEventKind,
    LockUnavailable,
    NameRejected,
    NoFreeSlot,
    NotPaired,
    NotSupported,
    ProtocolError,
    Schedule,
    Slot,
    SlotEntry,
    SlotNotFound,
    SlotRejected,
)

__all__ = [
    "EVENT_CODES",
    "NO_REPLY",
    "PROTOCOL_VERSION",
    "SEALED_TYPES",
    "Hello",
    "HelloReply",
    "MessageDecodeError",
    "MsgType",
    "Nak",
    "ReadSlots",
    "SlotPage",
    "Status",
    "WriteSlot",
    "decode_code",
    "decode_event",
    "decode_info",
    "decode_slot",
    "encode_code",
    "encode_event",
    "encode_info",
    "encode_slot",
    "error_to_nak",
    "nak_to_error",
]

PROTOCOL_VERSION = 1


class MsgType(enum.IntEnum):
    HELLO = 0x01
    INFO = 0x02
    PAIR = 0x03
    READ_SLOTS = 0x04
    CHECKSUM = 0x05
    WRITE_SLOT = 0x06
    CLEAR_SLOT = 0x07
    SET_CLOCK = 0x08
    EVENT_ACK = 0x09


# Requests a lock accepts only sealed: everything that changes it or reveals codes.
SEALED_TYPES = frozenset(
    {
        MsgType.READ_SLOTS,
        MsgType.CHECKSUM,
        MsgType.WRITE_SLOT,
        MsgType.CLEAR_SLOT,
        MsgType.SET_CLOCK,
    }
)
NO_REPLY = frozenset({MsgType.EVENT_ACK})


class Status(enum.IntEnum):
    """A reply's status: OK/UNCHANGED are ACKs, every other value is a NAK reason."""

    OK = 0x00
    UNCHANGED = 0x01  # ACK: the slot already held exactly this
    BAD_FRAME = 0x02  # CRC, COBS or length wrong: retransmit
    UNKNOWN_TYPE = 0x03
    BAD_REQUEST = 0x04  # the body does not match the message layout
    BUSY = 0x05
    NOT_PAIRED = 0x08  # the lock has no pairing key
    NO_SESSION = 0x09  # a sealed request without a current HELLO session: say HELLO again
    AUTH_REQUIRED = 0x0A  # this request must be sealed
    AUTH_FAILED = 0x0B  # the tag did not verify
    REPLAY = 0x0C  # the counter did not rise: an old frame played again
    NOT_PAIRING = 0x0D  # PAIR outside pairing mode
    SESSION_EXPIRED = 0x0E  # the counter is used up: say HELLO again
    DUPLICATE_CODE = 0x10
    CODE_REJECTED = 0x11
    NAME_REJECTED = 0x12
    NO_FREE_SLOT = 0x13
    SLOT_NOT_FOUND = 0x14
    NOT_SUPPORTED = 0x15
    SLOT_REJECTED = 0x16  # any other refusal of a slot operation; `reason` says which
    INTERNAL = 0x1F

    @property
    def ack(self) -> bool:
        return self in (Status.OK, Status.UNCHANGED)


EVENT_CODES: dict[LockEventKind, int] = {
    LockEventKind.KEYPAD_UNLOCK: 0x01,
    LockEventKind.ACCESS_DENIED: 0x02,
    LockEventKind.CODE_ADDED: 0x03,
    LockEventKind.CODE_CHANGED: 0x04,
    LockEventKind.CODE_DELETED: 0x05,
    LockEventKind.ALL_CODES_DELETED: 0x06,
    LockEventKind.ONE_TIME_CODE_USED: 0x07,
    LockEventKind.LOCKOUT: 0x08,
    LockEventKind.MANUAL_UNLOCK: 0x09,
    LockEventKind.ONLINE: 0x0A,
    LockEventKind.OFFLINE: 0x0B,
    LockEventKind.REBOOTED: 0x0C,
}
_EVENT_KINDS = {v: k for k, v in EVENT_CODES.items()}

# --------------------------------------------------------------------------- HELLO / PAIR


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    nonce: bytes

    def encode(self) -> bytes:
        return bytes((self.version,)) + self.nonce

    @classmethod
    def decode(cls, body: bytes) -> Hello:
        reader = Reader(body)
        version = reader.u8()
        nonce = reader.raw(8)
        reader.end()
        return cls(version, nonce)


@dataclass(frozen=True, slots=True)
class HelloReply:
    version: int
    paired: bool
    pairing_mode: bool
    nonce: bytes
    lock_id: str

    def encode(self) -> bytes:
        flags = (1 if self.paired else 0) | (2 if self.pairing_mode else 0)
        return bytes((self.version, flags)) + self.nonce + str8(self.lock_id)

    @classmethod
    def decode(cls, body: bytes) -> HelloReply:
        reader = Reader(body)
        version, flags = reader.u8(), reader.u8()
        nonce = reader.raw(8)
        lock_id = reader.str8()
        reader.end()
        return cls(version, bool(flags & 1), bool(flags & 2), nonce, lock_id)


@dataclass(frozen=True, slots=True)
class ReadSlots:
    """READ_SLOTS request: up to `count` slots from `start`; the lock sends occupied ones only."""

    start: int
    count: int

    def encode(self) -> bytes:
        return varint(self.start) + bytes((self.count,))

    @classmethod
    def decode(cls, body: bytes) -> ReadSlots:
        reader = Reader(body)
        start, count = reader.varint(), reader.u8()
        reader.end()
        return cls(start, count)


@dataclass(frozen=True, slots=True)
class SlotPage:
    """READ_SLOTS reply: the occupied slots of [request start, `next_start`)."""

    next_start: int
    slots: tuple[Slot, ...]

    def encode(self) -> bytes:
        out = bytearray(varint(self.next_start))
        out.append(len(self.slots))
        for slot in self.slots:
            out += write_slot_record(slot)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes) -> SlotPage:
        reader = Reader(body)
        next_start = reader.varint()
        slots = tuple(read_slot_record(reader) for _ in range(reader.u8()))
        reader.end()
        return cls(next_start, slots)


@dataclass(frozen=True, slots=True)
class WriteSlot:
    index: int
    entry: SlotEntry

    def encode(self) -> bytes:
        entry = self.entry
        flags = int(entry.enabled) | (2 if entry.one_time else 0)
        flags |= 4 if entry.schedule is not None else 0
        out = bytearray(varint(self.index))
        out.append(flags)
        out += encode_code(entry.code) + optstr(entry.name)
        if entry.schedule is not None:
            out += time_bytes(entry.schedule.starts_at) + time_bytes(entry.schedule.ends_at)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes) -> WriteSlot:
        reader = Reader(body)
        index, flags = reader.varint(), reader.u8()
        if flags & 0xF8:
            raise MessageDecodeError(f"bad write flags 0x{flags:02x}")
        code = read_code(reader)
        name = reader.optstr()
        schedule = Schedule(reader.time(), reader.time()) if flags & 4 else None
        reader.end()
        entry = SlotEntry(
            code=code,
            name=name,
            schedule=schedule,
            one_time=bool(flags & 2),
            enabled=bool(flags & 1),
        )
        return cls(index, entry)


def encode_index(index: int) -> bytes:
    return varint(index)


def decode_index(body: bytes) -> int:
    reader = Reader(body)
    index = reader.varint()
    reader.end()
    return index


def encode_u16(value: int) -> bytes:
    return struct.pack(">H", value)


def decode_u16(body: bytes) -> int:
    reader = Reader(body)
    value = reader.u16()
    reader.end()
    return value


def encode_time(when: datetime) -> bytes:
    return time_bytes(when)


def decode_time(body: bytes) -> datetime:
    reader = Reader(body)
    when = reader.time()
    reader.end()
    return when


def decode_bytes(body: bytes, length: int) -> bytes:
    reader = Reader(body)
    data = reader.raw(length)
    reader.end()
    return data


# --------------------------------------------------------------------------- events


def encode_event(event: LockEvent) -> bytes:
    """The body of an event frame (its kind travels in the frame header)."""
    flags = (1 if event.slot is not None else 0) | (2 if event.reason is not None else 0)
    flags |= 4 if event.offline_code else 0
    out = bytearray((flags,)) + time_bytes(event.at)
    if event.slot is not None:
        out += varint(event.slot)
    if event.reason is not None:
        out += str8(event.reason)
    return bytes(out)


def decode_event(code: int, body: bytes) -> LockEvent:
    kind = _EVENT_KINDS.get(code)
    if kind is None:
        raise MessageDecodeError(f"unknown event type 0x{code:02x}")
    reader = Reader(body)
    flags = reader.u8()
    if flags & 0xF8:
        raise MessageDecodeError(f"bad event flags 0x{flags:02x}")
    at = reader.time()
    slot = reader.varint() if flags & 1 else None
    reason = reader.str8() if flags & 2 else None
    reader.end()
    return LockEvent(kind=kind, at=at, slot=slot, reason=reason, offline_code=bool(flags & 4))


# --------------------------------------------------------------------------- NAKs


@dataclass(frozen=True, slots=True)
class Nak:
    """A NAK's body: a short reason text and the details a driver needs to raise the right error."""

    message: str | None = None
    slot: int | None = None
    existing_slot: int | None = None
    reason: str | None = None  # a constraint name, or a SlotRejected code

    def encode(self) -> bytes:
        flags = 0
        out = bytearray()
        for bit, value in enumerate((self.slot, self.existing_slot)):
            if value is not None:
                flags |= 1 << bit
                out += varint(value)
        for bit, text in ((2, self.reason), (3, self.message)):
            if text is not None:
                flags |= 1 << bit
                out += str8(text.encode("utf-8")[:200].decode("utf-8", "ignore"))
        return bytes((flags,)) + bytes(out)

    @classmethod
    def decode(cls, body: bytes) -> Nak:
        if not body:
            return cls()
        reader = Reader(body)
        flags = reader.u8()
        if flags & 0xF0:
            raise MessageDecodeError(f"bad NAK flags 0x{flags:02x}")
        slot = reader.varint() if flags & 1 else None
        existing = reader.varint() if flags & 2 else None
        reason = reader.str8() if flags & 4 else None
        message = reader.str8() if flags & 8 else None
        reader.end()
        return cls(message, slot, existing, reason)


def error_to_nak(exc: KeyslotError) -> tuple[Status, Nak]:
    """How the lock answers a refusal from its firmware."""
    slot = getattr(exc, "slot", None)
    if isinstance(exc, DuplicateCode):
        return Status.DUPLICATE_CODE, Nak(exc.message, slot, exc.existing_slot)
    if isinstance(exc, CodeRejected):
        return Status.CODE_REJECTED, Nak(exc.message, slot, reason=exc.constraint)
    for error_type, status in (
        (NameRejected, Status.NAME_REJECTED),
        (NoFreeSlot, Status.NO_FREE_SLOT),
        (SlotNotFound, Status.SLOT_NOT_FOUND),
    ):
        if isinstance(exc, error_type):
            return status, Nak(exc.message, slot)
    if isinstance(exc, SlotRejected):
        return Status.SLOT_REJECTED, Nak(exc.message, slot, reason=exc.code)
    if isinstance(exc, NotSupported):
        return Status.NOT_SUPPORTED, Nak(exc.message)
    if exc.retryable:
        return Status.BUSY, Nak(exc.message)
    return Status.INTERNAL, Nak(exc.message)


_AUTH_TEXT = {
    Status.AUTH_FAILED: "the lock refused the frame's authentication tag (wrong pairing key?)",
    Status.REPLAY: "the lock refused the frame as a replay (its counter did not rise)",
}


def nak_to_error(status: Status, nak: Nak, *, lock: str) -> KeyslotError:
    """The driver's error for a NAK; session NAKs (NO_SESSION…) are handled before this."""
    detail = f": {nak.message}" if nak.message else ""
    if status is Status.DUPLICATE_CODE:
        return DuplicateCode(
            f"{lock} refused the code{detail}", slot=nak.slot, existing_slot=nak.existing_slot
        )
    if status is Status.CODE_REJECTED:
        return CodeRejected(
            f"{lock} refused the code{detail}", slot=nak.slot, constraint=nak.reason
        )
    if status is Status.NAME_REJECTED:
        return NameRejected(f"{lock} refused the name{detail}", slot=nak.slot)
    if status is Status.NO_FREE_SLOT:
        return NoFreeSlot(f"{lock} has no free slot{detail}", slot=nak.slot)
    if status is Status.SLOT_NOT_FOUND:
        return SlotNotFound(f"{lock} has no such slot{detail}", slot=nak.slot)
    if status is Status.SLOT_REJECTED:
        return SlotRejected(
            f"{lock} refused the slot operation{detail}", code=nak.reason, slot=nak.slot
        )
    if status in (Status.NOT_SUPPORTED, Status.UNKNOWN_TYPE):
        return NotSupported(f"{lock} does not support this{detail}")
    if status is Status.NOT_PAIRED:
        return NotPaired(
            f"{lock} is not paired; put it in pairing mode and run `keyslot pair {lock}`"
        )
    if status is Status.AUTH_REQUIRED:
        return NotPaired(
            f"{lock} is paired with another key; pair this host with `keyslot pair {lock}`"
        )
    if status in _AUTH_TEXT:
        return AuthenticationFailed(f"{lock}: {_AUTH_TEXT[status]}")
    if status is Status.NOT_PAIRING:
        return NotPaired(f"{lock} is not in pairing mode; start pairing mode at the lock first")
    if status is Status.BUSY:
        return LockUnavailable(f"{lock} is busy{detail}")
    return ProtocolError(f"{lock} answered {status.name}{detail}")

"""Serial wire values: integers, text, times, PIN codes, `LockInfo` and slot records.

Pure bytes <-> values, shared by the message codec. Decoding goes through `Reader`, which
raises `MessageDecodeError` (a `FrameDecodeError`) on anything malformed and nothing else.
Integers are big-endian; slot indices are LEB128 varints; times are signed 64-bit
microseconds since 1970 UTC; text is UTF-8 with a one-byte length (0xFF: absent).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from keyslot.protocol.serial_frames import FrameDecodeError
from keyslot.protocol.slots import (
    LockInfo,
    NameRules,
    Schedule,
    Slot,
    SlotStatus,
    WriteConfirmation,
)

__all__ = [
    "MessageDecodeError",
    "Reader",
    "decode_code",
    "decode_info",
    "decode_slot",
    "encode_code",
    "encode_info",
    "encode_slot",
    "optstr",
    "read_code",
    "read_slot_record",
    "str8",
    "time_bytes",
    "varint",
    "write_slot_record",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MessageDecodeError(FrameDecodeError):
    """A frame whose body does not match its message layout."""

    code = "serial_message_invalid"


# --------------------------------------------------------------------------- primitives


class Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def raw(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise MessageDecodeError("message body ends early")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u8(self) -> int:
        return self.raw(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.raw(2), "big")

    def i64(self) -> int:
        value: int = struct.unpack(">q", self.raw(8))[0]
        return value

    def varint(self) -> int:
        value = 0
        for shift in range(0, 35, 7):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise MessageDecodeError("varint too long")

    def text(self, length: int) -> str:
        try:
            return self.raw(length).decode("utf-8")
        except UnicodeDecodeError:
            raise MessageDecodeError("text is not UTF-8") from None

    def str8(self) -> str:
        return self.text(self.u8())

    def optstr(self) -> str | None:
        length = self.u8()
        return None if length == 0xFF else self.text(length)

    def time(self) -> datetime:
        micros = self.i64()
        try:
            return _EPOCH + timedelta(microseconds=micros)
        except OverflowError:
            raise MessageDecodeError("time out of range") from None

    def end(self) -> None:
        if self._pos != len(self._data):
            raise MessageDecodeError(f"{len(self._data) - self._pos} unexpected trailing bytes")


def varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def str8(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 0xFE:
        raise ValueError("text longer than 254 bytes")
    return bytes((len(data),)) + data


def optstr(text: str | None) -> bytes:
    return b"\xff" if text is None else str8(text)


def time_bytes(when: datetime) -> bytes:
    if when.tzinfo is None:
        raise ValueError("times on the wire must be timezone-aware")
    delta = when - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return struct.pack(">q", micros)


# --------------------------------------------------------------------------- codes

_ASCII_CODE = 0x80


def encode_code(code: str) -> bytes:
    """Digits pack two to a byte (0xF pads an odd count); other keypad symbols go as ASCII."""
    if len(code) > 0x7F:
        raise ValueError("code too long")
    if code.isascii() and code.isdigit():
        digits = code + ("?" if len(code) % 2 else "")
        packed = bytes(
            (int(digits[i]) << 4) | (0xF if digits[i + 1] == "?" else int(digits[i + 1]))
            for i in range(0, len(digits), 2)
        )
        return bytes((len(code),)) + packed
    if not code.isascii() or not code.isprintable():
        raise ValueError("a code must be printable ASCII")
    return bytes((_ASCII_CODE | len(code),)) + code.encode("ascii")


def read_code(reader: Reader) -> str:
    header = reader.u8()
    length = header & 0x7F
    if header & _ASCII_CODE:
        raw = reader.raw(length)
        if not raw.isascii() or not raw.decode("ascii").isprintable():
            raise MessageDecodeError("code is not printable ASCII")
        return raw.decode("ascii")
    packed = reader.raw((length + 1) // 2)
    digits: list[int] = []
    for byte in packed:
        digits.extend((byte >> 4, byte & 0xF))
    if length % 2:
        if digits[-1] != 0xF:
            raise MessageDecodeError("bad padding in a packed code")
        digits.pop()
    if any(d > 9 for d in digits):
        raise MessageDecodeError("packed code holds a non-digit")
    return "".join(map(str, digits))


def decode_code(data: bytes) -> str:
    reader = Reader(data)
    code = read_code(reader)
    reader.end()
    return code


# --------------------------------------------------------------------------- INFO


def encode_info(info: LockInfo) -> bytes:
    out = bytearray(str8(info.model) + str8(info.vendor))
    out += struct.pack(">HH", info.slot_count, info.first_slot)
    out.append(len(info.code_lengths))
    out += bytes(info.code_lengths)
    out += str8(info.alphabet)
    out.append(len(info.constraints))
    for constraint in info.constraints:
        out += str8(constraint)
    flags = 0
    for bit, value in enumerate(
        (
            info.native_schedules,
            info.codes_readable,
            info.offline_pins,
            info.one_time_codes,
            info.checksum,
            info.name_rules is not None,
            info.max_active_codes is not None,
        )
    ):
        flags |= int(value) << bit
    out.append(flags)
    out += str8(info.firmware_version) + str8(info.serial_number)
    if info.max_active_codes is not None:
        out += struct.pack(">H", info.max_active_codes)
    rules = info.name_rules
    if rules is not None:
        out += struct.pack(">HH", rules.max_length, rules.min_length)
        out.append(1 if rules.unit == "bytes" else 0)
        out += str8(rules.encoding)
        rflags = 0
        for bit, value in enumerate(
            (
                rules.split,
                rules.unique,
                rules.truncate,
                rules.charset is not None,
                rules.first_max is not None,
                rules.last_max is not None,
            )
        ):
            rflags |= int(value) << bit
        out.append(rflags)
        if rules.charset is not None:
            charset = rules.charset.encode("utf-8")
            out += struct.pack(">H", len(charset)) + charset
        if rules.first_max is not None:
            out += struct.pack(">H", rules.first_max)
        if rules.last_max is not None:
            out += struct.pack(">H", rules.last_max)
    return bytes(out)


def decode_info(body: bytes) -> LockInfo:
    reader = Reader(body)
    model, vendor = reader.str8(), reader.str8()
    slot_count, first_slot = reader.u16(), reader.u16()
    code_lengths = tuple(reader.raw(reader.u8()))
    alphabet = reader.str8()
    constraints = tuple(reader.str8() for _ in range(reader.u8()))
    flags = reader.u8()
    firmware_version, serial_number = reader.str8(), reader.str8()
    max_active_codes = reader.u16() if flags & 0x40 else None
    rules = None
    if flags & 0x20:
        max_length, min_length = reader.u16(), reader.u16()
        unit = reader.u8()
        if unit > 1:
            raise MessageDecodeError(f"unknown name unit {unit}")
        encoding = reader.str8()
        rflags = reader.u8()
        charset = reader.text(reader.u16()) if rflags & 0x08 else None
        first_max = reader.u16() if rflags & 0x10 else None
        last_max = reader.u16() if rflags & 0x20 else None
        rules = NameRules(
            max_length=max_length,
            min_length=min_length,
            unit="bytes" if unit else "chars",
            encoding=encoding,
            charset=charset,
            split=bool(rflags & 0x01),
            first_max=first_max,
            last_max=last_max,
            unique=bool(rflags & 0x02),
            truncate=bool(rflags & 0x04),
        )
    reader.end()
    return LockInfo(
        model=model,
        vendor=vendor,
        slot_count=slot_count,
        first_slot=first_slot,
        code_lengths=code_lengths,
        alphabet=alphabet,
        constraints=constraints,
        name_rules=rules,
        native_schedules=bool(flags & 0x01),
        codes_readable=bool(flags & 0x02),
        offline_pins=bool(flags & 0x04),
        one_time_codes=bool(flags & 0x08),
        checksum=bool(flags & 0x10),
        firmware_version=firmware_version,
        serial_number=serial_number,
        max_active_codes=max_active_codes,
    )


# --------------------------------------------------------------------------- slots

_STATUS_BITS = {SlotStatus.EMPTY: 0, SlotStatus.ENABLED: 1, SlotStatus.DISABLED: 2}
_STATUS_OF = {v: k for k, v in _STATUS_BITS.items()}
_F_MASKED, _F_ONE_TIME, _F_CODE, _F_SCHEDULE, _F_UNCHANGED = 0x04, 0x08, 0x10, 0x20, 0x40


def write_slot_record(slot: Slot) -> bytes:
    flags = _STATUS_BITS[slot.status]
    flags |= _F_MASKED if slot.code_masked else 0
    flags |= _F_ONE_TIME if slot.one_time else 0
    flags |= _F_CODE if slot.code is not None else 0
    flags |= _F_SCHEDULE if slot.schedule is not None else 0
    flags |= _F_UNCHANGED if slot.confirmation is WriteConfirmation.NO_CHANGE else 0
    out = bytearray(varint(slot.index))
    out.append(flags)
    if slot.code is not None:
        out += encode_code(slot.code)
    out += optstr(slot.name) + optstr(slot.first_name) + optstr(slot.last_name)
    if slot.schedule is not None:
        out += time_bytes(slot.schedule.starts_at) + time_bytes(slot.schedule.ends_at)
    return bytes(out)


def read_slot_record(reader: Reader) -> Slot:
    index = reader.varint()
    flags = reader.u8()
    if flags & 0x80 or (flags & 0x03) not in _STATUS_OF:
        raise MessageDecodeError(f"bad slot flags 0x{flags:02x}")
    code = read_code(reader) if flags & _F_CODE else None
    name, first, last = reader.optstr(), reader.optstr(), reader.optstr()
    schedule = None
    if flags & _F_SCHEDULE:
        schedule = Schedule(reader.time(), reader.time())
    return Slot(
        index=index,
        status=_STATUS_OF[flags & 0x03],
        code=code,
        code_masked=bool(flags & _F_MASKED),
        name=name,
        first_name=first,
        last_name=last,
        schedule=schedule,
        one_time=bool(flags & _F_ONE_TIME),
        confirmation=WriteConfirmation.NO_CHANGE
        if flags & _F_UNCHANGED
        else WriteConfirmation.CONFIRMED,
    )


def encode_slot(slot: Slot) -> bytes:
    return write_slot_record(slot)


def decode_slot(body: bytes) -> Slot:
    reader = Reader(body)
    slot = read_slot_record(reader)
    reader.end()
    return slot

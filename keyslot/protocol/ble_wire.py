"""Byte-level building blocks of the BLE lock protocol (see hardware/ble-protocol.md).

Field readers and writers with bounds checks, fragmentation of a message into ATT-sized
pieces and their reassembly, and the advertisement that `keyslot scan` recognises.
Pure: bytes in, bytes out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "ADVERT_COMPANY_ID",
    "MAX_MESSAGE",
    "MIN_MTU",
    "NOTIFY_CHAR_UUID",
    "SERVICE_UUID",
    "WRITE_CHAR_UUID",
    "AdvertInfo",
    "FragmentError",
    "MessageError",
    "Reader",
    "Reassembler",
    "Writer",
    "decode_advert",
    "encode_advert",
    "fragment",
]

# One GATT service: the host writes requests to WRITE, the lock answers on NOTIFY.
SERVICE_UUID = "8d7e0001-5c1b-4c8e-9a4d-6b6579736c6f"
WRITE_CHAR_UUID = "8d7e0002-5c1b-4c8e-9a4d-6b6579736c6f"
NOTIFY_CHAR_UUID = "8d7e0003-5c1b-4c8e-9a4d-6b6579736c6f"

# Manufacturer data under the company id reserved for tests and prototypes (0xFFFF).
ADVERT_COMPANY_ID = 0xFFFF
_ADVERT_MAGIC = b"KS"
_ADVERT_VERSION = 1
_ADVERT_PAIRING = 0x01

MIN_MTU = 23  # the ATT default: 20 bytes of payload per write or notification
MAX_MESSAGE = 4096  # a reassembled message never exceeds this (bounds the lock's memory)

_FIRST = 0x80
_INDEX_MASK = 0x7F
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MessageError(ValueError):
    """Bytes that do not decode to a valid message (truncated, unknown type, bad field)."""


class FragmentError(MessageError):
    """A fragment out of sequence, or a message longer than announced or allowed."""


# --------------------------------------------------------------------------- fields


class Writer:
    """Big-endian field writer; every variable-length field is length-prefixed."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def u8(self, value: int) -> Writer:
        self._pack(">B", value)
        return self

    def u16(self, value: int) -> Writer:
        self._pack(">H", value)
        return self

    def u32(self, value: int) -> Writer:
        self._pack(">I", value)
        return self

    def i64(self, value: int) -> Writer:
        self._pack(">q", value)
        return self

    def raw(self, value: bytes, size: int | None = None) -> Writer:
        if size is not None and len(value) != size:
            raise MessageError(f"field must be {size} bytes, got {len(value)}")
        self._buf += value
        return self

    def blob(self, value: bytes) -> Writer:
        self.u16(len(value))
        self._buf += value
        return self

    def text(self, value: str) -> Writer:
        return self.blob(value.encode("utf-8"))

    def time(self, value: datetime) -> Writer:
        if value.tzinfo is None:
            raise MessageError("times on the wire must be timezone-aware")
        return self.i64((value - _EPOCH) // timedelta(microseconds=1))

    def _pack(self, fmt: str, value: int) -> None:
        try:
            self._buf += struct.pack(fmt, value)
        except struct.error as exc:
            raise MessageError(f"value {value} does not fit the field") from exc

    def bytes(self) -> bytes:
        return bytes(self._buf)


class Reader:
    """Big-endian field reader that raises MessageError instead of reading past the end."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise MessageError("message is truncated")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack(">H", self._take(2))[0]
        return value

    def u32(self) -> int:
        value: int = struct.unpack(">I", self._take(4))[0]
        return value

    def i64(self) -> int:
        value: int = struct.unpack(">q", self._take(8))[0]
        return value

    def raw(self, size: int) -> bytes:
        return self._take(size)

    def blob(self) -> bytes:
        return self._take(self.u16())

    def text(self) -> str:
        try:
            return self.blob().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MessageError("text field is not UTF-8") from exc

    def time(self) -> datetime:
        try:
            return _EPOCH + timedelta(microseconds=self.i64())
        except OverflowError as exc:
            raise MessageError("time field out of range") from exc

    def rest(self) -> bytes:
        return self._take(len(self._data) - self._pos)

    def end(self) -> None:
        if self._pos != len(self._data):
            raise MessageError(f"{len(self._data) - self._pos} unexpected trailing bytes")


# --------------------------------------------------------------------------- fragments


def fragment(message: bytes, mtu: int) -> list[bytes]:
    """Split a message into ATT payloads of at most `mtu - 3` bytes.

    Each piece starts with a header byte: 0x80 on the first piece, and a 7-bit running
    index; the first piece also carries the message length (u16).
    """
    if not message:
        raise MessageError("cannot send an empty message")
    if len(message) > MAX_MESSAGE:
        raise MessageError(f"message of {len(message)} bytes exceeds {MAX_MESSAGE}")
    if mtu < MIN_MTU:
        raise MessageError(f"ATT MTU {mtu} is below the minimum {MIN_MTU}")
    payload = mtu - 3
    pieces: list[bytes] = []
    first_room = payload - 3
    pieces.append(bytes([_FIRST]) + struct.pack(">H", len(message)) + message[:first_room])
    pos = first_room
    index = 1
    while pos < len(message):
        room = payload - 1
        pieces.append(bytes([index & _INDEX_MASK]) + message[pos : pos + room])
        pos += room
        index += 1
    return pieces


class Reassembler:
    """Joins fragments back into messages; a new first fragment supersedes an unfinished one."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._max = max_message
        self._buf = bytearray()
        self._expected = 0
        self._next_index = 0

    @property
    def busy(self) -> bool:
        """True while a message is partly received."""
        return self._expected > 0

    def reset(self) -> None:
        self._buf.clear()
        self._expected = 0
        self._next_index = 0

    def feed(self, piece: bytes) -> bytes | None:
        """Add one fragment; returns the whole message once its last fragment arrived."""
        if not piece:
            self.reset()
            raise FragmentError("empty fragment")
        header = piece[0]
        if header & _FIRST:
            if header & _INDEX_MASK:
                self.reset()
                raise FragmentError("first fragment with a non-zero index")
            if len(piece) < 3:
                self.reset()
                raise FragmentError("first fragment too short for its length field")
            length = struct.unpack(">H", piece[1:3])[0]
            if length == 0 or length > self._max:
                self.reset()
                raise FragmentError(f"announced message length {length} is not allowed")
            self.reset()
            self._expected = length
            self._next_index = 1
            body = piece[3:]
        else:
            if not self.busy:
                raise FragmentError("continuation fragment without a first fragment")
            if header != self._next_index & _INDEX_MASK:
                self.reset()
                raise FragmentError("fragment out of sequence")
            self._next_index += 1
            body = piece[1:]
        self._buf += body
        if len(self._buf) > self._expected:
            self.reset()
            raise FragmentError("fragments carry more bytes than announced")
        if len(self._buf) < self._expected:
            return None
        message = bytes(self._buf)
        self.reset()
        return message


# --------------------------------------------------------------------------- advertisement


@dataclass(frozen=True, slots=True)
class AdvertInfo:
    """What a keyslot lock says about itself in its advertisement."""

    version: int
    pairing: bool


def encode_advert(*, pairing: bool) -> bytes:
    """Manufacturer-data payload (after the company id) of a keyslot lock's advertisement."""
    return _ADVERT_MAGIC + bytes([_ADVERT_VERSION, _ADVERT_PAIRING if pairing else 0])


def decode_advert(payload: bytes) -> AdvertInfo | None:
    """The lock's flags, or None when the manufacturer data is not a keyslot lock's."""
    if len(payload) < 4 or payload[:2] != _ADVERT_MAGIC:
        return None
    return AdvertInfo(version=payload[2], pairing=bool(payload[3] & _ADVERT_PAIRING))

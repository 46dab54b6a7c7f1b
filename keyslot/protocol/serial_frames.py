"""Serial wire framing: COBS-encoded frames ended by 0x00, a small header, CRC-16/CCITT-FALSE.

This layer knows nothing of slots or keys: it turns a `Frame` into bytes and a noisy byte
stream back into frames. `hardware/serial-protocol.md` is the specification; the layout is

    ctl u8 | seq u8 | [ctr_hi u8 if sealed] | body ... | crc u16 BE      (then COBS, then 0x00)

Every decode failure raises `FrameDecodeError` and nothing else, so a reader of untrusted
bytes has exactly one exception to handle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from keyslot.protocol.slots import ProtocolError

__all__ = [
    "CTL_EVENT",
    "CTL_FROM_LOCK",
    "CTL_SEALED",
    "DELIMITER",
    "MAX_FRAME",
    "Deframer",
    "Frame",
    "FrameDecodeError",
    "FrameKind",
    "cobs_decode",
    "cobs_encode",
    "crc16_ccitt_false",
    "decode_frame",
    "encode_frame",
    "parse_frame",
]

DELIMITER = 0x00
# Largest decoded frame (header + body + crc). Bounds the receiver's buffer on a noisy line.
MAX_FRAME = 1024

CTL_FROM_LOCK = 0x80  # the lock sent it (a reply or an event)
CTL_SEALED = 0x40  # body is AEAD ciphertext + tag, header has ctr_hi
CTL_EVENT = 0x20  # lock frames only: an unsolicited event, not a reply
_REQUEST_CODE_MASK = 0x3F
_LOCK_CODE_MASK = 0x1F


class FrameDecodeError(ProtocolError):
    """Bytes that are not a valid frame: bad COBS, bad CRC, too short or too long."""

    code = "serial_frame_invalid"


class FrameKind(enum.Enum):
    REQUEST = "request"  # host -> lock; `code` is the message type (0..63)
    REPLY = "reply"  # lock -> host; `code` is the status (0 ok, else a NAK reason; 0..31)
    EVENT = "event"  # lock -> host, unsolicited; `code` is the event type (0..31)


# --------------------------------------------------------------------------- CRC


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_ccitt_false(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


# --------------------------------------------------------------------------- COBS


def cobs_encode(data: bytes | bytearray) -> bytes:
    """Consistent Overhead Byte Stuffing: the output holds no 0x00 (one extra byte per 254)."""
    out = bytearray()
    parts = bytes(data).split(b"\x00")
    for number, part in enumerate(parts, 1):
        rest = part
        while len(rest) >= 254:
            out.append(0xFF)
            out += rest[:254]
            rest = rest[254:]
        if part and not rest and number == len(parts):
            break  # the data ends with a full block: no zero follows, no code needed
        out.append(len(rest) + 1)
        out += rest
    return bytes(out)


def cobs_decode(data: bytes | bytearray) -> bytes:
    """Inverse of `cobs_encode`; raises `FrameDecodeError` on anything it could not produce."""
    out = bytearray()
    index = 0
    length = len(data)
    if length == 0:
        raise FrameDecodeError("empty COBS block")
    while index < length:
        code = data[index]
        if code == 0:
            raise FrameDecodeError("a 0x00 byte inside a COBS block")
        end = index + code
        if end > length:
            raise FrameDecodeError("COBS block ends early")
        chunk = data[index + 1 : end]
        if 0 in chunk:
            raise FrameDecodeError("a 0x00 byte inside a COBS block")
        out += chunk
        index = end
        if code != 0xFF and index < length:
            out.append(0)
    return bytes(out)


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame. Sealed frames carry `counter_hi`; their body is ciphertext followed by a tag."""

    kind: FrameKind
    code: int
    seq: int
    body: bytes = b""
    counter_hi: int | None = None

    def __post_init__(self) -> None:
        limit = _REQUEST_CODE_MASK if self.kind is FrameKind.REQUEST else _LOCK_CODE_MASK
        if not 0 <= self.code <= limit:
            raise ValueError(f"{self.kind.value} code {self.code} out of range 0..{limit}")
        if not 0 <= self.seq <= 0xFF:
            raise ValueError(f"seq {self.seq} out of range")
        if self.counter_hi is not None and not 0 <= self.counter_hi <= 0xFF:
            raise ValueError(f"counter_hi {self.counter_hi} out of range")

    @property
    def sealed(self) -> bool:
        return self.counter_hi is not None

    @property
    def counter(self) -> int:
        """The 16-bit message counter of a sealed frame (its low byte is `seq`)."""
        return ((self.counter_hi or 0) << 8) | self.seq

    def header(self) -> bytes:
        """The bytes before the body; sealed frames authenticate them as associated data."""
        ctl = self.code
        if self.kind is not FrameKind.REQUEST:
            ctl |= CTL_FROM_LOCK
        if self.kind is FrameKind.EVENT:
            ctl |= CTL_EVENT
        if self.counter_hi is not None:
            return bytes((ctl | CTL_SEALED, self.seq, self.counter_hi))
        return bytes((ctl, self.seq))

    def __repr__(self) -> str:  # bodies may hold codes in plain frames: never print them
        sealed = f", counter={self.counter}" if self.sealed else ""
        return (
            f"Frame({self.kind.value}, code=0x{self.code:02x}, seq={self.seq}{sealed}, "
            f"body=<{len(self.body)} bytes>)"
        )


def encode_frame(frame: Frame) -> bytes:
    """The bytes to put on the wire, delimiter included."""
    raw = frame.header() + frame.body
    if len(raw) + 2 > MAX_FRAME:
        raise ValueError(f"frame of {len(raw) + 2} bytes exceeds {MAX_FRAME}")
    raw += crc16_ccitt_false(raw).to_bytes(2, "big")
    return cobs_encode(raw) + b"\x00"


def parse_frame(raw: bytes) -> Frame:
    """A frame from its decoded (un-COBSed) bytes, CRC checked."""
    if len(raw) < 4:
        raise FrameDecodeError(f"frame of {len(raw)} bytes is too short")
    if len(raw) > MAX_FRAME:
        raise FrameDecodeError(f"frame of {len(raw)} bytes is too long")
    if crc16_ccitt_false(raw[:-2]) != int.from_bytes(raw[-2:], "big"):
        raise FrameDecodeError("CRC mismatch")
    ctl, seq = raw[0], raw[1]
    sealed = bool(ctl & CTL_SEALED)
    if ctl & CTL_FROM_LOCK:
        kind = FrameKind.EVENT if ctl & CTL_EVENT else FrameKind.REPLY
        code = ctl & _LOCK_CODE_MASK
    else:
        kind = FrameKind.REQUEST
        code = ctl & _REQUEST_CODE_MASK
    if sealed:
        if len(raw) < 5:
            raise FrameDecodeError("sealed frame without a counter")
        return Frame(kind, code, seq, bytes(raw[3:-2]), counter_hi=raw[2])
    return Frame(kind, code, seq, bytes(raw[2:-2]))


def decode_frame(block: bytes) -> Frame:
    """A frame from one COBS block as read between delimiters (a trailing 0x00 is allowed)."""
    if block.endswith(b"\x00"):
        block = block[:-1]
    if len(block) > MAX_FRAME + MAX_FRAME // 254 + 2:
        raise FrameDecodeError("frame too long")
    return parse_frame(cobs_decode(block))


class Deframer:
    """Splits a byte stream into frames at each 0x00, resynchronising after noise.

    `feed` returns, in order, every `Frame` completed by the new bytes and a
    `FrameDecodeError` for every block that was not one (so the caller may NAK it).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._overflow = False
        self.errors = 0

    def feed(self, data: bytes) -> list[Frame | FrameDecodeError]:
        out: list[Frame | FrameDecodeError] = []
        limit = MAX_FRAME + MAX_FRAME // 254 + 2
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end == -1:
                self._buffer += data[start:]
                if len(self._buffer) > limit:
                    self._buffer.clear()
                    self._overflow = True
                return out
            self._buffer += data[start:end]
            start = end + 1
            block = bytes(self._buffer)
            self._buffer.clear()
            if self._overflow:
                self._overflow = False
                self.errors += 1
                out.append(FrameDecodeError("frame too long; dropped"))
                continue
            if not block:
                continue  # back-to-back delimiters: line idle or a resync
            try:
                out.append(decode_frame(block))
            except FrameDecodeError as exc:
                self.errors += 1
                out.append(exc)

    def reset(self) -> None:
        """Forget a partial frame (after a reconnect or a reboot)."""
        self._buffer.clear()
        self._overflow = False

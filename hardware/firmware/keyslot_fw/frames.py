"""Serial frames: COBS blocks ended by 0x00 holding ctl, seq, [ctr_hi], body and a CRC-16.

A `Deframer` splits the UART byte stream at each 0x00 and resynchronises after noise; its
buffer is bounded, so a line that never sends 0x00 cannot exhaust the lock's memory.
"""

from keyslot_fw import cobs
from keyslot_fw.crc import crc16

MAX_FRAME = 1024  # decoded bytes: header, body and CRC
MAX_BLOCK = MAX_FRAME + MAX_FRAME // 254 + 2

FROM_LOCK = 0x80
SEALED = 0x40
EVENT = 0x20


class Frame:
    """One decoded frame. `raw` is its whole decoded form, for spotting retransmissions."""

    def __init__(self, raw):
        self.raw = raw
        self.ctl = raw[0]
        self.seq = raw[1]
        if self.ctl & SEALED:
            self.hi = raw[2]
            self.header = bytes(raw[:3])
            self.body = bytes(raw[3:-2])
        else:
            self.hi = None
            self.header = bytes(raw[:2])
            self.body = bytes(raw[2:-2])

    @property
    def sealed(self):
        return self.hi is not None

    @property
    def counter(self):
        return ((self.hi or 0) << 8) | self.seq

    @property
    def mtype(self):
        return self.ctl & 0x3F


def parse(raw):
    """A Frame from decoded bytes, or None if it is too short, too long or fails its CRC."""
    if len(raw) < 4 or len(raw) > MAX_FRAME:
        return None
    if crc16(raw[:-2]) != (raw[-2] << 8) | raw[-1]:
        return None
    if raw[0] & SEALED and len(raw) < 5:
        return None
    return Frame(bytes(raw))


def header(ctl, counter, sealed):
    if sealed:
        return bytes([ctl | SEALED, counter & 0xFF, (counter >> 8) & 0xFF])
    return bytes([ctl, counter & 0xFF])


def encode(head, body=b""):
    """Wire bytes (COBS, then the 0x00 delimiter) of a frame with this header and body."""
    raw = bytes(head) + bytes(body)
    crc = crc16(raw)
    return cobs.encode(raw + bytes([crc >> 8, crc & 0xFF])) + b"\x00"


class Deframer:
    """Bytes in, frames out: `feed` returns a Frame, or None for each garbled block."""

    def __init__(self):
        self.buffer = bytearray()
        self.overflow = False

    def reset(self):
        self.buffer = bytearray()
        self.overflow = False

    @property
    def partial(self):
        """Whether part of a frame has arrived (a sender should wait on half-duplex lines)."""
        return bool(self.buffer) or self.overflow

    def feed(self, data):
        out = []
        for byte in data:
            if byte != 0:
                if not self.overflow:
                    self.buffer.append(byte)
                    if len(self.buffer) > MAX_BLOCK:
                        self.buffer = bytearray()
                        self.overflow = True
                continue
            if self.overflow:
                self.overflow = False
                out.append(None)
                continue
            if not self.buffer:
                continue  # back-to-back delimiters: an idle line or a resync
            block = bytes(self.buffer)
            self.buffer = bytearray()
            try:
                raw = cobs.decode(block)
            except ValueError:
                out.append(None)
                continue
            out.append(parse(raw))
        return out

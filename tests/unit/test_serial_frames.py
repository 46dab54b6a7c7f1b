"""The serial framing layer: CRC, COBS, frame layout, and the stream deframer.

The hex vectors are the examples in hardware/serial-protocol.md; if one changes, both do.
"""

from __future__ import annotations

import pytest

from keyslot.protocol.serial_frames import (
    MAX_FRAME,
    Deframer,
    Frame,
    FrameDecodeError,
    FrameKind,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    decode_frame,
    encode_frame,
    parse_frame,
)
from keyslot.protocol.slots import ProtocolError


def test_crc_check_value() -> None:
    # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("00", "01 01"),
        ("00 00", "01 01 01"),
        ("11 22 00 33", "03 11 22 02 33"),
        ("11 22 33 44", "05 11 22 33 44"),
        ("11 00 00 00", "02 11 01 01 01"),
        ("", "01"),
    ],
)
def test_cobs_vectors(raw: str, encoded: str) -> None:
    assert cobs_encode(bytes.fromhex(raw)) == bytes.fromhex(encoded)
    assert cobs_decode(bytes.fromhex(encoded)) == bytes.fromhex(raw)


def test_cobs_long_runs() -> None:
    run = bytes(range(1, 255))  # 254 non-zero bytes: one full block, no trailing code
    assert cobs_encode(run) == b"\xff" + run
    assert cobs_encode(b"\x00" + run) == b"\x01\xff" + run
    assert cobs_encode(run + b"\x00") == b"\xff" + run + b"\x01\x01"
    for data in (run * 3, run + b"\x07", bytes(600)):
        assert cobs_decode(cobs_encode(data)) == data


@pytest.mark.parametrize("bad", ["", "00", "05 11 22", "03 11 00"])
def test_cobs_rejects_what_it_cannot_produce(bad: str) -> None:
    with pytest.raises(FrameDecodeError):
        cobs_decode(bytes.fromhex(bad))


def test_documented_examples() -> None:
    info = Frame(FrameKind.REQUEST, 0x02, 1)
    assert encode_frame(info) == bytes.fromhex("05 02 01 6b 4c 00")
    ack = Frame(FrameKind.REPLY, 0x00, 1)
    assert encode_frame(ack) == bytes.fromhex("05 80 01 16 b6 00")
    nak = Frame(FrameKind.REPLY, 0x02, 0)
    assert encode_frame(nak) == bytes.fromhex("02 82 03 60 f5 00")
    assert decode_frame(bytes.fromhex("05 80 01 16 b6 00")) == ack


def test_header_bits() -> None:
    sealed = Frame(FrameKind.REQUEST, 0x06, 0x34, b"x" * 8, counter_hi=0x12)
    assert sealed.header() == bytes((0x46, 0x34, 0x12))
    assert sealed.counter == 0x1234
    event = Frame(FrameKind.EVENT, 0x01, 7, b"e" * 8, counter_hi=0)
    assert event.header() == bytes((0xE1, 7, 0))
    for frame in (sealed, event, Frame(FrameKind.REPLY, 0x10, 255, b"\x00\x00")):
        assert decode_frame(encode_frame(frame)) == frame


def test_frame_fields_are_bounded() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Frame(FrameKind.REPLY, 0x20, 0)
    with pytest.raises(ValueError, match="out of range"):
        Frame(FrameKind.REQUEST, 0x40, 0)
    with pytest.raises(ValueError, match="seq"):
        Frame(FrameKind.REQUEST, 1, 256)
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(Frame(FrameKind.REQUEST, 1, 0, bytes(MAX_FRAME)))


def test_frame_repr_hides_the_body() -> None:
    frame = Frame(FrameKind.REQUEST, 0x06, 1, b"\x08\x12\x34\x56\x78")
    assert "12" not in repr(frame).split("seq")[1]
    assert "5 bytes" in repr(frame)


def test_parse_errors_are_protocol_errors() -> None:
    raw = Frame(FrameKind.REQUEST, 2, 1).header()
    with pytest.raises(FrameDecodeError, match="short"):
        parse_frame(raw)
    good = raw + crc16_ccitt_false(raw).to_bytes(2, "big")
    assert parse_frame(good).code == 2
    with pytest.raises(FrameDecodeError, match="CRC") as caught:
        parse_frame(good[:-1] + bytes((good[-1] ^ 1,)))
    assert isinstance(caught.value, ProtocolError)
    assert caught.value.retryable
    # a sealed frame needs its counter byte
    sealed_short = bytes((0x46, 1))
    with pytest.raises(FrameDecodeError, match="counter"):
        parse_frame(sealed_short + crc16_ccitt_false(sealed_short).to_bytes(2, "big"))


def test_deframer_splits_joins_and_resyncs() -> None:
    a = encode_frame(Frame(FrameKind.REQUEST, 2, 1))
    b = encode_frame(Frame(FrameKind.REPLY, 0, 9, b"abc"))
    deframer = Deframer()
    stream = b"\x13\x37garbage\x00" + a + b"\x00\x00" + b
    out: list[Frame | FrameDecodeError] = []
    for i in range(0, len(stream), 3):  # arrives a few bytes at a time
        out.extend(deframer.feed(stream[i : i + 3]))
    assert isinstance(out[0], FrameDecodeError)
    assert out[1:] == [decode_frame(a), decode_frame(b)]
    assert deframer.errors == 1


def test_deframer_drops_an_overlong_block_once() -> None:
    deframer = Deframer()
    assert deframer.feed(b"\x01" * (MAX_FRAME * 2)) == []
    out = deframer.feed(b"\x00" + encode_frame(Frame(FrameKind.REQUEST, 2, 1)))
    assert isinstance(out[0], FrameDecodeError)
    assert isinstance(out[1], Frame)


def test_deframer_reset_forgets_a_partial_frame() -> None:
    deframer = Deframer()
    wire = encode_frame(Frame(FrameKind.REQUEST, 2, 1))
    deframer.feed(wire[:3])
    deframer.reset()
    assert deframer.feed(wire) == [decode_frame(wire)]

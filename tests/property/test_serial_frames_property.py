"""Fuzzing the serial codec: round trips, and untrusted bytes raise only the codec's error.

"Never accepted" is stated as strongly as each layer can promise it: the CRC catches every
single-byte error inside a frame, and a sealed frame with any bytes changed never opens.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from keyslot.protocol import serial_messages as msg
from keyslot.protocol.serial_frames import (
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
from keyslot.protocol.serial_session import SealError, Session
from keyslot.protocol.slots import LockEvent, LockEventKind, Schedule, SlotEntry

SESSION = Session(bytes(range(32)), bytes(8), bytes(range(8)))

kinds = st.sampled_from(list(FrameKind))
bodies = st.binary(max_size=300)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    kind = draw(kinds)
    code = draw(st.integers(0, 0x3F if kind is FrameKind.REQUEST else 0x1F))
    counter_hi = draw(st.none() | st.integers(0, 255))
    return Frame(kind, code, draw(st.integers(0, 255)), draw(bodies), counter_hi=counter_hi)


times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
codes = st.text("0123456789", min_size=1, max_size=16) | st.text(
    "0123456789*#AB", min_size=1, max_size=16
)
names = st.none() | st.text(max_size=40).filter(lambda t: len(t.encode()) <= 254)


@st.composite
def entries(draw: st.DrawFn) -> SlotEntry:
    schedule = None
    if draw(st.booleans()):
        start = draw(times)
        schedule = Schedule(start, start + timedelta(seconds=draw(st.integers(1, 10**8))))
    return SlotEntry(
        draw(codes),
        draw(names),
        schedule=schedule,
        one_time=draw(st.booleans()),
        enabled=draw(st.booleans()),
    )


@given(st.binary(max_size=2000))
def test_cobs_round_trip(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(encoded) == data


@given(frames())
def test_frame_round_trip(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert wire.count(0) == 1
    assert wire.endswith(b"\x00")
    assert decode_frame(wire) == frame


@given(st.binary(max_size=1500))
@settings(max_examples=300)
def test_arbitrary_bytes_raise_only_the_codec_error(data: bytes) -> None:
    decoders = [
        decode_frame,
        parse_frame,
        cobs_decode,
        msg.decode_info,
        msg.decode_slot,
        msg.decode_code,
        msg.SlotPage.decode,
        msg.WriteSlot.decode,
        msg.ReadSlots.decode,
        msg.Hello.decode,
        msg.HelloReply.decode,
        msg.Nak.decode,
        msg.decode_index,
        msg.decode_time,
        lambda body: msg.decode_event(data[0] & 0x1F if data else 1, body),
    ]
    for decode in decoders:
        with contextlib.suppress(FrameDecodeError):
            decode(data)


@given(st.lists(st.binary(max_size=64), max_size=30))
def test_deframer_never_raises(chunks: list[bytes]) -> None:
    deframer = Deframer()
    for chunk in chunks:
        for item in deframer.feed(chunk):
            assert isinstance(item, Frame | FrameDecodeError)


@given(frames(), st.data())
def test_a_corrupted_byte_in_a_frame_is_never_accepted(frame: Frame, data: st.DataObject) -> None:
    raw = frame.header() + frame.body
    raw += crc16_ccitt_false(raw).to_bytes(2, "big")
    position = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(1, 255))
    damaged = bytearray(raw)
    damaged[position] ^= flip
    try:
        parsed = parse_frame(bytes(damaged))
    except FrameDecodeError:
        return
    raise AssertionError(f"a damaged frame was accepted: {parsed!r}")


@given(entries(), st.integers(1, 0xFFFF), st.data())
def test_a_tampered_sealed_frame_never_opens(
    entry: SlotEntry, counter: int, data: st.DataObject
) -> None:
    body = msg.WriteSlot(3, entry).encode()
    frame = SESSION.seal(FrameKind.REQUEST, msg.MsgType.WRITE_SLOT, counter, body)
    wire = bytearray(encode_frame(frame))
    changes = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(wire) - 2), st.integers(1, 255)), min_size=1, max_size=4
        )
    )
    for position, flip in changes:
        wire[position] ^= flip
    try:
        opened = SESSION.open(decode_frame(bytes(wire)))
    except (FrameDecodeError, SealError):
        return
    # the changes cancelled out (same byte flipped back): then it must be the original
    assert opened == body
    assert bytes(wire) == encode_frame(frame)


@given(st.integers(0, 2**31), entries())
def test_write_round_trip(index: int, entry: SlotEntry) -> None:
    message = msg.WriteSlot(index, entry)
    assert msg.WriteSlot.decode(message.encode()) == message


@given(
    st.sampled_from(list(LockEventKind)),
    times,
    st.none() | st.integers(0, 2**31),
    st.none() | st.text(max_size=30).filter(lambda t: len(t.encode()) <= 254),
    st.booleans(),
)
def test_event_round_trip(
    kind: LockEventKind, at: datetime, slot: int | None, reason: str | None, offline: bool
) -> None:
    event = LockEvent(kind, at, slot=slot, reason=reason, offline_code=offline)
    assert msg.decode_event(msg.EVENT_CODES[kind], msg.encode_event(event)) == event

"""Round-trip and fuzz tests of the BLE codecs: every message, every frame, fragmentation at
the default ATT MTU (23) and after an MTU exchange (247)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from keyslot.protocol.ble_frames import (
    Alert,
    AlertReason,
    Hello,
    HelloAck,
    PairCommit,
    PairConfirm,
    PairDone,
    PairNonce,
    PairRequest,
    PairReveal,
    Sealed,
    decode_frame,
    encode_frame,
)
from keyslot.protocol.ble_messages import (
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
    ReadSlot,
    SetClock,
    SlotCount,
    SlotReply,
    WriteReply,
    WriteSlot,
    decode_message,
    encode_message,
)
from keyslot.protocol.ble_session import HostHandshake, PairedKey, accept_hello
from keyslot.protocol.ble_wire import (
    MAX_MESSAGE,
    FragmentError,
    MessageError,
    Reassembler,
    fragment,
)
from keyslot.protocol.slots import (
    LockEvent,
    LockEventKind,
    LockInfo,
    NameRules,
    Schedule,
    Slot,
    SlotEntry,
    SlotStatus,
    WriteConfirmation,
)

u16 = st.integers(0, 0xFFFF)
rid = st.integers(1, 0xFFFF)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
opt_text = st.none() | text
digits = st.text("0123456789", min_size=1, max_size=12)
times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
schedules = st.builds(Schedule, starts_at=times, ends_at=times)
challenge = st.binary(min_size=16, max_size=16)

entries = st.builds(
    SlotEntry,
    code=digits,
    name=opt_text,
    schedule=st.none() | schedules,
    one_time=st.booleans(),
    enabled=st.booleans(),
)
slots = st.builds(
    Slot,
    index=u16,
    status=st.sampled_from(SlotStatus),
    code=st.none() | digits,
    code_masked=st.booleans(),
    name=opt_text,
    first_name=opt_text,
    last_name=opt_text,
    schedule=st.none() | schedules,
    one_time=st.booleans(),
    confirmation=st.sampled_from(WriteConfirmation),
)
name_rules = st.builds(
    NameRules,
    max_length=u16,
    min_length=u16,
    unit=st.sampled_from(["chars", "bytes"]),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
    charset=opt_text,
    split=st.booleans(),
    first_max=st.none() | u16,
    last_max=st.none() | u16,
    unique=st.booleans(),
    truncate=st.booleans(),
)
infos = st.builds(
    LockInfo,
    model=text,
    vendor=text,
    slot_count=u16,
    first_slot=u16,
    code_lengths=st.lists(st.integers(1, 255), max_size=8).map(tuple),
    alphabet=text,
    constraints=st.lists(text, max_size=5).map(tuple),
    name_rules=st.none() | name_rules,
    native_schedules=st.booleans(),
    codes_readable=st.booleans(),
    offline_pins=st.booleans(),
    one_time_codes=st.booleans(),
    checksum=st.booleans(),
    firmware_version=text,
    serial_number=text,
)
events = st.builds(
    LockEvent,
    kind=st.sampled_from(LockEventKind),
    at=times,
    slot=st.none() | u16,
    reason=opt_text,
    offline_code=st.booleans(),
)
messages = st.one_of(
    st.builds(GetInfo, rid),
    st.builds(ListSlots, rid, u16, u16),
    st.builds(ReadSlot, rid, u16),
    st.builds(GetChallenge, rid),
    st.builds(WriteSlot, rid, challenge, u16, entries),
    st.builds(ClearSlot, rid, challenge, u16),
    st.builds(SetClock, rid, times),
    st.builds(GetClock, rid),
    st.builds(GetChecksum, rid),
    st.builds(InfoReply, rid, infos),
    st.builds(SlotCount, rid, u16, u16),
    st.builds(SlotReply, rid, slots),
    st.builds(ChallengeReply, rid, challenge),
    st.builds(WriteReply, rid, slots, challenge),
    st.builds(ClearReply, rid, challenge),
    st.builds(ClockReply, rid, times),
    st.builds(ChecksumReply, rid, st.none() | st.integers(0, 2**32 - 1)),
    st.builds(
        ErrorReply,
        rid,
        st.sampled_from(ErrorCode),
        text,
        st.none() | u16,
        st.none() | u16,
        opt_text,
    ),
    st.builds(GetEvents, rid, st.integers(0, 2**32 - 1)),
    st.builds(EventCount, rid, st.integers(0, 2**32 - 1), u16, st.integers(0, 2**32 - 1)),
    st.builds(EventNotice, events, st.just(0) | rid, st.integers(0, 2**32 - 1)),
)


def _b(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


frames = st.one_of(
    st.builds(PairRequest, _b(32)),
    st.builds(PairCommit, _b(32), _b(32)),
    st.builds(PairNonce, _b(16)),
    st.builds(PairReveal, _b(16), text),
    st.builds(PairConfirm, _b(32)),
    st.builds(PairDone, _b(8), _b(32)),
    st.builds(Hello, _b(8), _b(16)),
    st.builds(HelloAck, _b(16), _b(16)),
    st.builds(Sealed, st.integers(0, 2**32 - 1), st.binary(min_size=16, max_size=300)),
    st.builds(Alert, st.sampled_from(AlertReason)),
)


@given(messages)
def test_every_message_round_trips(message: object) -> None:
    assert decode_message(encode_message(message)) == message  # type: ignore[arg-type]


@given(frames)
def test_every_frame_round_trips(frame: object) -> None:
    assert decode_frame(encode_frame(frame)) == frame  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_never_decodes_to_anything_but_an_error(data: bytes) -> None:
    for decode in (decode_message, decode_frame):
        with contextlib.suppress(MessageError):
            decode(data)


@given(messages, st.data())
def test_a_truncated_message_is_an_error(message: object, data: st.DataObject) -> None:
    encoded = encode_message(message)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        decode_message(encoded[:cut])
    except MessageError:
        return
    raise AssertionError("a truncated message decoded")


KEY = PairedKey(key_id=b"k" * 8, secret=b"s" * 32, lock_id="prop")


@given(messages, st.sampled_from([23, 247]))
def test_sealed_messages_survive_fragmentation(message: object, mtu: int) -> None:
    handshake = HostHandshake(KEY)
    ack, lock = accept_hello(handshake.hello(), KEY)
    host = handshake.on_ack(ack)
    wire = encode_frame(host.seal(encode_message(message)))  # type: ignore[arg-type]
    pieces = fragment(wire, mtu)
    assert all(len(p) <= mtu - 3 for p in pieces)
    r = Reassembler()
    joined = [r.feed(p) for p in pieces]
    assert joined[:-1] == [None] * (len(pieces) - 1)
    frame = decode_frame(joined[-1])  # type: ignore[arg-type]
    assert isinstance(frame, Sealed)
    assert decode_message(lock.open(frame)) == message


@given(st.binary(min_size=1, max_size=MAX_MESSAGE), st.sampled_from([23, 247]))
def test_fragmentation_round_trips(message: bytes, mtu: int) -> None:
    r = Reassembler()
    out = [r.feed(p) for p in fragment(message, mtu)]
    assert out[-1] == message
    assert all(o is None for o in out[:-1])


@given(st.lists(st.binary(max_size=30), max_size=40))
def test_reassembler_survives_any_fragment_stream(pieces: list[bytes]) -> None:
    r = Reassembler(max_message=512)
    for piece in pieces:
        try:
            out = r.feed(piece)
        except FragmentError:
            assert not r.busy
            continue
        assert out is None or 0 < len(out) <= 512


@given(
    st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=6),
    st.sampled_from([23, 247]),
    st.data(),
)
def test_a_dropped_fragment_never_yields_a_wrong_message(
    messages: list[bytes], mtu: int, data: st.DataObject
) -> None:
    stream = [p for m in messages for p in fragment(m, mtu)]
    drop = data.draw(st.integers(0, len(stream) - 1))
    r = Reassembler()
    for piece in stream[:drop] + stream[drop + 1 :]:
        try:
            out = r.feed(piece)
        except FragmentError:
            continue
        assert out is None or out in messages

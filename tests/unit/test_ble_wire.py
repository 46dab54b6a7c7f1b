"""BLE wire basics: field codecs, fragmentation to the ATT MTU, reassembly, advertisement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from keyslot.protocol.ble_wire import (
    MAX_MESSAGE,
    FragmentError,
    MessageError,
    Reader,
    Reassembler,
    Writer,
    decode_advert,
    encode_advert,
    fragment,
)


def reassemble(pieces: list[bytes]) -> bytes | None:
    r = Reassembler()
    out = None
    for piece in pieces:
        out = r.feed(piece)
    return out


@pytest.mark.parametrize("mtu", [23, 24, 100, 247, 517])
@pytest.mark.parametrize("size", [1, 16, 17, 18, 19, 20, 36, 37, 300, MAX_MESSAGE])
def test_fragments_fit_the_mtu_and_join_back(mtu: int, size: int) -> None:
    message = bytes(i % 251 for i in range(size))
    pieces = fragment(message, mtu)
    assert all(1 < len(p) <= mtu - 3 for p in pieces)
    assert reassemble(pieces) == message


def test_default_mtu_carries_17_bytes_in_the_first_fragment() -> None:
    pieces = fragment(b"x" * 17, 23)
    assert len(pieces) == 1
    assert pieces[0][:3] == b"\x80\x00\x11"
    assert len(fragment(b"x" * 18, 23)) == 2


def test_fragment_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(MessageError):
        fragment(b"", 23)
    with pytest.raises(MessageError):
        fragment(b"x" * (MAX_MESSAGE + 1), 247)
    with pytest.raises(MessageError):
        fragment(b"x", 22)


def test_reassembler_returns_none_until_the_last_fragment() -> None:
    pieces = fragment(b"y" * 50, 23)
    r = Reassembler()
    assert [r.feed(p) for p in pieces[:-1]] == [None] * (len(pieces) - 1)
    assert r.busy
    assert r.feed(pieces[-1]) == b"y" * 50
    assert not r.busy


def test_index_wraps_after_127_continuations() -> None:
    message = bytes(range(256)) * 12  # > 128 fragments at MTU 23
    pieces = fragment(message, 23)
    assert len(pieces) > 130
    assert pieces[128][0] == 0x00
    assert reassemble(pieces) == message


def test_lost_fragment_is_detected_and_the_next_message_still_arrives() -> None:
    first = fragment(b"a" * 60, 23)
    second = fragment(b"b" * 60, 23)
    r = Reassembler()
    r.feed(first[0])
    with pytest.raises(FragmentError, match="sequence"):
        r.feed(first[2])
    assert not r.busy
    out = None
    for piece in second:
        out = r.feed(piece)
    assert out == b"b" * 60


def test_a_new_first_fragment_supersedes_an_unfinished_message() -> None:
    r = Reassembler()
    r.feed(fragment(b"a" * 60, 23)[0])
    assert reassemble_with(r, fragment(b"short", 23)) == b"short"


def reassemble_with(r: Reassembler, pieces: list[bytes]) -> bytes | None:
    out = None
    for piece in pieces:
        out = r.feed(piece)
    return out


@pytest.mark.parametrize(
    ("piece", "why"),
    [
        (b"", "empty"),
        (b"\x01abc", "without a first"),
        (b"\x80\x00", "too short"),
        (b"\x80\x00\x00", "length 0"),
        (b"\x80\xff\xff" + b"x" * 10, "length"),
        (b"\x81\x00\x05abcde", "non-zero index"),
        (b"\x80\x00\x02abc", "more bytes"),
    ],
)
def test_bad_fragments_are_refused(piece: bytes, why: str) -> None:
    with pytest.raises(FragmentError):
        Reassembler().feed(piece)
    assert why


def test_max_message_is_enforced_by_the_receiver() -> None:
    r = Reassembler(max_message=100)
    with pytest.raises(FragmentError):
        r.feed(b"\x80\x00\x65" + b"x" * 10)


def test_fields_round_trip() -> None:
    when = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    data = (
        Writer()
        .u8(7)
        .u16(65535)
        .u32(2**32 - 1)
        .i64(-5)
        .raw(b"abcd", 4)
        .blob(b"\x00\x01")
        .text("Zoë")
        .time(when)
        .bytes()
    )
    r = Reader(data)
    assert (r.u8(), r.u16(), r.u32(), r.i64()) == (7, 65535, 2**32 - 1, -5)
    assert r.raw(4) == b"abcd"
    assert r.blob() == b"\x00\x01"
    assert r.text() == "Zoë"
    assert r.time() == when
    r.end()


def test_times_keep_the_instant_and_come_back_in_utc() -> None:
    local = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    back = Reader(Writer().time(local).bytes()).time()
    assert back == local
    assert back.tzinfo == UTC


def test_field_errors_are_message_errors() -> None:
    with pytest.raises(MessageError):
        Writer().u8(256)
    with pytest.raises(MessageError):
        Writer().raw(b"abc", 4)
    with pytest.raises(MessageError):
        Writer().time(datetime(2026, 1, 1))  # naive
    with pytest.raises(MessageError):
        Reader(b"\x00").u16()
    with pytest.raises(MessageError):
        Reader(b"\x00\x02\xff\xfe").text()
    with pytest.raises(MessageError):
        Reader(b"\x7f\xff\xff\xff\xff\xff\xff\xff").time()
    with pytest.raises(MessageError, match="trailing"):
        Reader(b"\x00\x01").end()


def test_advert_flags() -> None:
    assert decode_advert(encode_advert(pairing=True)).pairing  # type: ignore[union-attr]
    assert not decode_advert(encode_advert(pairing=False)).pairing  # type: ignore[union-attr]
    assert decode_advert(b"XX\x01\x01") is None
    assert decode_advert(b"KS") is None

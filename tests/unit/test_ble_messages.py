"""BLE application messages: error mapping both ways, PIN hygiene, and malformed input."""

from __future__ import annotations

import pytest

from keyslot.protocol.ble_frames import decode_frame
from keyslot.protocol.ble_messages import (
    ErrorCode,
    ErrorReply,
    GetInfo,
    ListSlots,
    WriteSlot,
    decode_message,
    encode_message,
    error_from_reply,
    reply_for_error,
)
from keyslot.protocol.ble_wire import MessageError
from keyslot.protocol.slots import (
    AuthenticationFailed,
    CodeRejected,
    DuplicateCode,
    KeyslotError,
    LockUnavailable,
    NameRejected,
    NoFreeSlot,
    NotSupported,
    ProtocolError,
    SlotEntry,
    SlotNotFound,
    SlotRejected,
)

ERRORS: list[KeyslotError] = [
    DuplicateCode("taken", slot=4, existing_slot=2),
    CodeRejected("too short", slot=4, constraint="no_zeros"),
    NameRejected("too short", slot=4),
    NoFreeSlot("full", slot=4),
    SlotNotFound("no slot 99", slot=99),
    NotSupported("no schedules"),
    AuthenticationFailed("stale"),
    SlotRejected("bad schedule", slot=4),
    LockUnavailable("motor running"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_lock_errors_reach_the_driver_as_the_same_kind(error: KeyslotError) -> None:
    reply = decode_message(encode_message(reply_for_error(7, error)))
    assert isinstance(reply, ErrorReply)
    assert reply.request_id == 7
    back = error_from_reply(reply)
    assert type(back) is type(error)
    assert back.retryable == error.retryable
    for attribute in ("slot", "existing_slot", "constraint"):
        assert getattr(back, attribute, None) == getattr(error, attribute, None)


def test_an_unknown_failure_is_a_retryable_protocol_error() -> None:
    reply = reply_for_error(1, KeyslotError("firmware bug"))
    assert reply.code is ErrorCode.INTERNAL
    error = error_from_reply(reply)
    assert isinstance(error, ProtocolError)
    assert error.retryable


def test_a_bad_request_reply_is_not_mistaken_for_a_slot_refusal() -> None:
    error = error_from_reply(ErrorReply(3, ErrorCode.BAD_REQUEST, "not a request"))
    assert isinstance(error, ProtocolError)


def test_the_pin_is_inside_the_message_but_never_in_its_repr() -> None:
    message = WriteSlot(9, b"c" * 16, 3, SlotEntry("918273", "Guest"))
    assert b"918273" in encode_message(message)
    assert "918273" not in repr(message)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",  # no request id
        b"\x01\x00\x01\x00",  # trailing byte
        b"\x55\x00\x01",  # unknown type
        b"\xee\x00\x01\x63\x00\x00\x00",  # unknown error code
        b"\x83\x00\x01\x00\x01\x07\x00\x00",  # unknown slot status
        b"\xe0\x00\x00\x63" + bytes(8) + b"\x00",  # unknown event kind
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(MessageError):
        decode_message(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x42", b"\x7f\x63", b"\x20\x00\x00\x00\x01short", b"\x10" + bytes(23)],
)
def test_malformed_frames_are_refused(data: bytes) -> None:
    with pytest.raises(MessageError):
        decode_frame(data)


def test_request_ids_are_echoed() -> None:
    assert decode_message(encode_message(GetInfo(0xBEEF))) == GetInfo(0xBEEF)


def test_the_examples_in_the_protocol_document() -> None:
    assert encode_message(GetInfo(1)).hex(" ") == "01 00 01"
    assert encode_message(ListSlots(2, 0, 32)).hex(" ") == "02 00 02 00 00 00 20"

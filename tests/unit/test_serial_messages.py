"""Serial message bodies, the session keys, and how a NAK becomes a driver error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyslot.protocol import serial_messages as msg
from keyslot.protocol.serial_frames import FrameDecodeError, FrameKind, encode_frame
from keyslot.protocol.serial_messages import MsgType, Nak, Status
from keyslot.protocol.serial_session import PairingKeyPair, SealError, Session
from keyslot.protocol.slots import (
    AuthenticationFailed,
    CodeRejected,
    DuplicateCode,
    FinalError,
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
    SlotStatus,
    WriteConfirmation,
)
from keyslot.simulator.profiles import PROFILES

KEY = bytes(range(32))
HOST_NONCE, LOCK_NONCE = bytes(range(8)), bytes(range(8, 16))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "wire"),
    [
        ("12345678", "08 12 34 56 78"),
        ("123", "03 12 3f"),
        ("0000", "04 00 00"),
        ("12*#", "84 31 32 2a 23"),
    ],
)
def test_code_packing(code: str, wire: str) -> None:
    assert msg.encode_code(code) == bytes.fromhex(wire)
    assert msg.decode_code(bytes.fromhex(wire)) == code


@pytest.mark.parametrize("bad", ["03 12 34", "02 1a", "02 12 34", "82 31 0a"])
def test_bad_codes_do_not_decode(bad: str) -> None:
    with pytest.raises(FrameDecodeError):
        msg.decode_code(bytes.fromhex(bad))


def test_documented_write_body() -> None:
    body = msg.WriteSlot(3, SlotEntry("12345678", "Alexandra Berg")).encode()
    assert body == bytes.fromhex(
        "03 01 08 12 34 56 78 0e 41 6c 65 78 61 6e 64 72 61 20 42 65 72 67"
    )
    assert msg.WriteSlot.decode(body).entry.code == "12345678"


def test_documented_sealed_write() -> None:
    session = Session(KEY, HOST_NONCE, LOCK_NONCE)
    body = msg.WriteSlot(3, SlotEntry("12345678", "Alexandra Berg")).encode()
    frame = session.seal(FrameKind.REQUEST, MsgType.WRITE_SLOT, 1, body)
    assert encode_frame(frame) == bytes.fromhex(
        "03 46 01 21 4e a2 c8 e7 ec 92 b4 e3 37 d2 32 7b 16 e4 e7 a4 9b 66 78 6a"
        " e1 8b d1 33 28 cf 7c ec 0b 32 10 b5 00"
    )
    assert session.open(frame) == body


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_lock_info_round_trip(name: str) -> None:
    info = PROFILES[name].info("lock-1")
    assert msg.decode_info(msg.encode_info(info)) == info


@pytest.mark.parametrize(
    "slot",
    [
        Slot(index=1),
        Slot(index=300, status=SlotStatus.ENABLED, code="4821", name="Zoë"),
        Slot(index=2, status=SlotStatus.DISABLED, code_masked=True, name=None),
        Slot(
            index=5,
            status=SlotStatus.ENABLED,
            code="12*#",
            name="Ann Lee",
            first_name="Ann",
            last_name="Lee",
            schedule=Schedule(T0, T0 + timedelta(days=1, microseconds=7)),
            one_time=True,
            confirmation=WriteConfirmation.NO_CHANGE,
        ),
    ],
)
def test_slot_record_round_trip(slot: Slot) -> None:
    assert msg.decode_slot(msg.encode_slot(slot)) == slot
    page = msg.SlotPage(slot.index + 1, (slot, slot))
    assert msg.SlotPage.decode(page.encode()) == page


def test_write_round_trip_with_every_option() -> None:
    entry = SlotEntry(
        "908172",
        "李小龍",
        schedule=Schedule(T0, T0 + timedelta(hours=2)),
        one_time=True,
        enabled=False,
    )
    assert msg.WriteSlot.decode(msg.WriteSlot(129, entry).encode()) == msg.WriteSlot(129, entry)


@pytest.mark.parametrize("kind", list(LockEventKind))
def test_events_round_trip(kind: LockEventKind) -> None:
    event = LockEvent(kind, T0, slot=3, reason="unknown_code", offline_code=True)
    code = msg.EVENT_CODES[kind]
    assert msg.decode_event(code, msg.encode_event(event)) == event
    bare = LockEvent(kind, T0)
    assert msg.decode_event(code, msg.encode_event(bare)) == bare


def test_documented_event_body() -> None:
    event = LockEvent(LockEventKind.KEYPAD_UNLOCK, T0, slot=3)
    assert msg.encode_event(event) == bytes.fromhex("01 00 06 4c 06 cf cb 84 00 03")


def test_hello_round_trip() -> None:
    reply = msg.HelloReply(1, True, False, LOCK_NONCE, "front-door")
    assert (
        reply.encode().hex(" ") == "01 01 08 09 0a 0b 0c 0d 0e 0f 0a 66 72 6f 6e 74 2d 64 6f 6f 72"
    )
    assert msg.HelloReply.decode(reply.encode()) == reply
    assert msg.Hello.decode(msg.Hello(1, HOST_NONCE).encode()) == msg.Hello(1, HOST_NONCE)


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(msg.MessageDecodeError, match="trailing"):
        msg.ReadSlots.decode(msg.ReadSlots(1, 16).encode() + b"\x00")
    with pytest.raises(msg.MessageDecodeError, match="ends early"):
        msg.decode_u16(b"\x01")


def test_naive_times_are_refused_at_encoding() -> None:
    with pytest.raises(ValueError, match="timezone"):
        msg.encode_time(datetime(2026, 1, 1))


# ------------------------------------------------------------------ sessions and pairing


def test_pairing_agrees_on_key_and_confirmation() -> None:
    host, lock = PairingKeyPair(), PairingKeyPair()
    ends = {"lock_id": "door", "host_public": host.public, "lock_public": lock.public}
    at_host = host.agree(lock.public, **ends)
    at_lock = lock.agree(host.public, **ends)
    assert at_host == at_lock
    assert len(at_host.key) == 32
    assert at_host.confirmation.isdigit()
    assert len(at_host.confirmation) == 6
    assert "key" not in repr(at_host).replace("key=<hidden>", "")
    other = PairingKeyPair()
    assert other.agree(lock.public, **ends).key != at_host.key


def test_pairing_refuses_a_bad_public_key() -> None:
    with pytest.raises(FrameDecodeError):
        PairingKeyPair().agree(b"short", lock_id="x", host_public=b"", lock_public=b"")
    with pytest.raises(FrameDecodeError):  # a low-order point gives an all-zero secret
        PairingKeyPair().agree(bytes(32), lock_id="x", host_public=b"", lock_public=b"")


def test_sealed_frames_are_bound_to_key_session_direction_and_header() -> None:
    session = Session(KEY, HOST_NONCE, LOCK_NONCE)
    frame = session.seal(FrameKind.REQUEST, MsgType.CLEAR_SLOT, 7, b"\x03")
    assert b"\x03" not in frame.body[:1] or frame.body != b"\x03"
    assert session.open(frame) == b"\x03"
    others = [
        Session(bytes(32), HOST_NONCE, LOCK_NONCE),  # another key
        Session(KEY, HOST_NONCE, bytes(8)),  # another session
    ]
    for other in others:
        with pytest.raises(SealError):
            other.open(frame)
    from dataclasses import replace

    for forged in (
        replace(frame, code=MsgType.WRITE_SLOT),  # header is authenticated
        replace(frame, seq=8),  # so is the counter
        replace(frame, kind=FrameKind.REPLY, code=0),  # a request is no reply
        replace(frame, body=frame.body[:-1] + bytes((frame.body[-1] ^ 1,))),
    ):
        with pytest.raises(SealError):
            session.open(forged)
    with pytest.raises(ValueError, match="counter"):
        session.seal(FrameKind.REQUEST, 1, 0, b"")


# ------------------------------------------------------------------ NAKs -> errors

CASES: list[tuple[Status, type[Exception]]] = [
    (Status.DUPLICATE_CODE, DuplicateCode),
    (Status.CODE_REJECTED, CodeRejected),
    (Status.NAME_REJECTED, NameRejected),
    (Status.NO_FREE_SLOT, NoFreeSlot),
    (Status.SLOT_NOT_FOUND, SlotNotFound),
    (Status.SLOT_REJECTED, SlotRejected),
    (Status.NOT_SUPPORTED, NotSupported),
    (Status.UNKNOWN_TYPE, NotSupported),
    (Status.NOT_PAIRED, NotPaired),
    (Status.AUTH_REQUIRED, NotPaired),
    (Status.NOT_PAIRING, NotPaired),
    (Status.AUTH_FAILED, AuthenticationFailed),
    (Status.REPLAY, AuthenticationFailed),
    (Status.BUSY, LockUnavailable),
    (Status.INTERNAL, ProtocolError),
]


@pytest.mark.parametrize(("status", "error"), CASES)
def test_nak_to_error(status: Status, error: type[Exception]) -> None:
    nak = Nak("because", slot=4, existing_slot=2, reason="no_zeros")
    exc = msg.nak_to_error(status, Nak.decode(nak.encode()), lock="serial:///dev/ttyUSB0")
    assert type(exc) is error
    assert exc.retryable == (status in (Status.BUSY, Status.INTERNAL))
    assert isinstance(exc, FinalError) != exc.retryable


def test_nak_details_survive_the_wire() -> None:
    exc = msg.nak_to_error(
        Status.DUPLICATE_CODE, Nak.decode(Nak("dup", 3, 2).encode()), lock="lock"
    )
    assert isinstance(exc, DuplicateCode)
    assert (exc.slot, exc.existing_slot) == (3, 2)
    replay = msg.nak_to_error(Status.REPLAY, Nak(), lock="lock")
    assert "replay" in replay.message
    assert "keyslot pair" in msg.nak_to_error(Status.NOT_PAIRED, Nak(), lock="x").message


@pytest.mark.parametrize(
    "error",
    [
        DuplicateCode("d", slot=3, existing_slot=1),
        CodeRejected("c", slot=3, constraint="no_zeros"),
        NameRejected("n", slot=3),
        NoFreeSlot("f", slot=3),
        SlotNotFound("s", slot=99),
        SlotRejected("r", code="invalid_schedule", slot=3),
        NotSupported("x"),
    ],
)
def test_firmware_refusals_keep_their_type_over_the_wire(error: Exception) -> None:
    assert isinstance(error, SlotRejected | NotSupported)
    status, nak = msg.error_to_nak(error)
    back = msg.nak_to_error(status, Nak.decode(nak.encode()), lock="lock")
    assert type(back) is type(error)
    assert getattr(back, "slot", None) == getattr(error, "slot", None)
    assert back.code == error.code

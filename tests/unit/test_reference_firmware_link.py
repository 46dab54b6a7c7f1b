"""The reference firmware's side of the serial protocol, checked with keyslot's host-side
codec: the specification's examples, retransmissions, replays, forgeries, paging, events,
and the CPython shim run as a person would run it."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyslot.drivers import open_lock, parse_lock_url
from keyslot.drivers.serial import pair
from keyslot.protocol import serial_messages as msg
from keyslot.protocol.clock import SystemClock
from keyslot.protocol.serial_frames import Deframer, Frame, FrameKind, encode_frame
from keyslot.protocol.serial_messages import MsgType, Status
from keyslot.protocol.serial_session import PairingKeyPair, Session
from keyslot.protocol.slots import LockEventKind, Schedule, SlotEntry
from tests.reference_firmware_rig import FIRMWARE_DIR, firmware_module, load_shim
from tests.serial_helpers import MemoryKeyStore

lock_module = firmware_module("lock")
consts = firmware_module("consts")

KEY = bytes(range(32))
HOST_NONCE = bytes(range(8))
LOCK_NONCE = bytes(range(8, 16))


class Board:
    """A platform with settable milliseconds and scripted random bytes."""

    def __init__(self) -> None:
        self.ms = 0
        self.randoms: list[bytes] = []
        shim = load_shim()
        self.platform = shim.HostPlatform(lambda: self.ms, lambda: 1_772_441_600_000_000)
        self.platform.random_bytes = self._random

    def _random(self, n: int) -> bytes:
        for i, queued in enumerate(self.randoms):
            if len(queued) == n:
                return self.randoms.pop(i)
        return os.urandom(n)


class Host:
    """keyslot's codec in the host's seat, talking to a firmware Lock object directly."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.session: Session | None = None
        self.counter = 0

    def exchange(self, data: bytes) -> list[Frame]:
        out = self.lock.receive(data)
        return [f for f in Deframer().feed(out) if isinstance(f, Frame)]

    def send(self, frame: Frame) -> Frame:
        (reply,) = self.exchange(encode_frame(frame))
        return reply

    def plain(self, mtype: MsgType, body: bytes = b"") -> Frame:
        self.counter += 1
        return Frame(FrameKind.REQUEST, mtype, self.counter & 0xFF, body)

    def sealed(self, mtype: MsgType, body: bytes = b"") -> Frame:
        assert self.session is not None
        self.counter += 1
        return self.session.seal(FrameKind.REQUEST, mtype, self.counter, body)

    def hello(self, key: bytes | None = KEY) -> msg.HelloReply:
        """A new session; a fresh host nonce, as a HELLO byte for byte like the last one
        would be a retransmission and answered from the lock's cache."""
        self.counter = 0
        nonce = os.urandom(8)
        reply = self.send(self.plain(MsgType.HELLO, msg.Hello(1, nonce).encode()))
        hello = msg.HelloReply.decode(reply.body)
        self.session = Session(key, nonce, hello.nonce) if key else None
        return hello


def paired_lock(tmp_path: Path, lock_id: str = "front-door") -> tuple[Board, Any, Host]:
    board = Board()
    lock = lock_module.Lock(board.platform, str(tmp_path), lock_id)
    lock.flash.save(lock_module.KEY_FILE, KEY)
    lock = lock_module.Lock(board.platform, str(tmp_path), lock_id)
    host = Host(lock)
    host.hello()
    return board, lock, host


def opened(host: Host, reply: Frame) -> bytes:
    assert host.session is not None
    return host.session.open(reply) if reply.sealed else reply.body


# --------------------------------------------------------------------------- the examples


def test_the_specifications_examples(tmp_path: Path) -> None:
    board = Board()
    lock = lock_module.Lock(board.platform, str(tmp_path), "front-door")
    host = Host(lock)
    # garbage: a BAD_FRAME NAK with seq 0
    assert lock.receive(b"\x07\x01\x02\x00") == bytes.fromhex("02 82 03 60 f5 00")
    # an INFO request, seq 1
    (info,) = host.exchange(bytes.fromhex("05 02 01 6b 4c 00"))
    assert (Status(info.code), info.seq) == (Status.OK, 1)
    decoded = msg.decode_info(info.body)
    assert (decoded.slot_count, decoded.first_slot, decoded.code_lengths) == (
        20,
        1,
        (4, 5, 6, 7, 8),
    )
    assert decoded.name_rules is not None
    assert decoded.name_rules.max_length == 12
    # the HELLO reply of a paired lock
    lock.flash.save(lock_module.KEY_FILE, KEY)
    lock = lock_module.Lock(board.platform, str(tmp_path), "front-door")
    host = Host(lock)
    board.randoms.append(LOCK_NONCE)
    reply = host.send(host.plain(MsgType.HELLO, msg.Hello(1, HOST_NONCE).encode()))
    assert reply.body == bytes.fromhex(
        "01 01 08 09 0a 0b 0c 0d 0e 0f 0a 66 72 6f 6e 74 2d 64 6f 6f 72"
    )
    # the sealed WRITE_SLOT of section 7, byte for byte
    write = bytes.fromhex(
        "03 46 01 21 4e a2 c8 e7 ec 92 b4 e3 37 d2 32 7b 16 e4 e7 a4 9b 66 78 6a"
        "e1 8b d1 33 28 cf 7c ec 0b 32 10 b5 00"
    )
    host.session = Session(KEY, HOST_NONCE, LOCK_NONCE)
    (nak,) = host.exchange(write)
    # it verifies and opens, and this model refuses 12345678 as a straight run of digits
    assert Status(nak.code) is Status.CODE_REJECTED
    assert nak.sealed
    assert msg.Nak.decode(opened(host, nak)).reason == "no_ascending_or_descending_sequence"
    assert lock.table.get(3) is None
    # the keypad-unlock event body and its EVENT_ACK
    lock.link.events.clear()
    lock.link.emit(0x01, 1_772_442_000_000_000, slot=3)
    assert lock.link.events[0][1] == bytes.fromhex("01 00 06 4c 06 cf cb 84 00 03")
    assert lock.poll()
    assert lock.receive(bytes.fromhex("03 09 01 04 01 50 a6 00")) == b""
    assert lock.link.events == []
    # the plain ACK of a write, seq 1, is what the lock sends for an empty ACK
    frames = firmware_module("frames")
    assert frames.encode(frames.header(0x80, 1, False)) == bytes.fromhex("05 80 01 16 b6 00")


# --------------------------------------------------------------------------- refusals


def test_a_retransmitted_write_is_answered_again_and_applied_once(tmp_path: Path) -> None:
    _board, lock, host = paired_lock(tmp_path)
    saves: list[str] = []
    save = lock.flash.save

    def counted(name: str, data: bytes) -> None:
        saves.append(name)
        save(name, data)

    lock.flash.save = counted
    write = host.sealed(MsgType.WRITE_SLOT, msg.WriteSlot(2, SlotEntry("482913", "Kim")).encode())
    first = host.send(write)
    again = host.send(write)
    assert encode_frame(first) == encode_frame(again)
    assert Status(first.code) is Status.OK
    assert saves == ["slots.bin"]
    # a new request with the same entry is applied, and says nothing changed
    rewrite = host.sealed(MsgType.WRITE_SLOT, msg.WriteSlot(2, SlotEntry("482913", "Kim")).encode())
    assert Status(host.send(rewrite).code) is Status.UNCHANGED
    assert saves == ["slots.bin"]


def test_replays_forgeries_and_plain_changes_are_refused(tmp_path: Path) -> None:
    _board, lock, host = paired_lock(tmp_path)
    write = host.sealed(MsgType.WRITE_SLOT, msg.WriteSlot(4, SlotEntry("583920")).encode())
    host.send(write)
    clear = host.sealed(MsgType.CLEAR_SLOT, msg.encode_index(4))
    cleared = host.send(clear)
    assert Status(host.send(write).code) is Status.REPLAY
    assert lock.table.get(4) is None
    # refusals are not cached: the genuine host's retransmission still gets its answer
    assert encode_frame(host.send(clear)) == encode_frame(cleared)

    plain = host.plain(MsgType.WRITE_SLOT, msg.WriteSlot(4, SlotEntry("583920")).encode())
    assert Status(host.send(plain).code) is Status.AUTH_REQUIRED
    forged_session = Session(bytes(32), HOST_NONCE, LOCK_NONCE)
    for attempt in range(8):
        host.counter += 1
        forged = forged_session.seal(
            FrameKind.REQUEST,
            MsgType.WRITE_SLOT,
            host.counter,
            msg.WriteSlot(4, SlotEntry("5839")).encode(),
        )
        status = Status(host.send(forged).code)
        assert status is Status.AUTH_FAILED, attempt
    # eight bad tags end the session: even the right key must say HELLO again
    assert Status(host.send(host.sealed(MsgType.CHECKSUM)).code) is Status.NO_SESSION
    host.hello()
    assert Status(host.send(host.sealed(MsgType.CHECKSUM)).code) is Status.OK
    assert lock.table.get(4) is None
    assert lock.link.refusals == 10


def test_an_unpaired_lock_and_pairing(tmp_path: Path) -> None:
    board = Board()
    confirmations: list[str] = []
    lock = lock_module.Lock(board.platform, str(tmp_path), "door", on_paired=confirmations.append)
    host = Host(lock)
    hello = host.hello(key=None)
    assert (hello.paired, hello.pairing_mode) == (False, False)
    assert Status(host.send(host.plain(MsgType.READ_SLOTS, b"\x01\x10")).code) is Status.NOT_PAIRED
    ours = PairingKeyPair()
    assert Status(host.send(host.plain(MsgType.PAIR, ours.public)).code) is Status.NOT_PAIRING
    lock.start_pairing(120_000)
    # a low-order point gives no shared secret: refused, and the lock stays unpaired
    assert Status(host.send(host.plain(MsgType.PAIR, bytes(32))).code) is Status.BAD_REQUEST
    assert lock.pairing_key is None
    board.ms += 119_000
    reply = host.send(host.plain(MsgType.PAIR, ours.public))
    assert Status(reply.code) is Status.OK
    agreed = ours.agree(reply.body, lock_id="door", host_public=ours.public, lock_public=reply.body)
    assert confirmations == [agreed.confirmation]
    assert lock.pairing_key == agreed.key
    assert not lock.pairing_mode
    assert lock_module.Lock(board.platform, str(tmp_path), "door").pairing_key == agreed.key
    host.hello(key=agreed.key)
    assert Status(host.send(host.sealed(MsgType.CHECKSUM)).code) is Status.OK
    # the window closes by itself
    lock.start_pairing(1000)
    board.ms += 1000
    assert not lock.pairing_mode


@pytest.mark.parametrize(
    ("mtype", "body", "sealed", "status"),
    [
        (0x3F, b"", False, Status.UNKNOWN_TYPE),
        (MsgType.HELLO, b"\x02" + HOST_NONCE, False, Status.BAD_REQUEST),
        (MsgType.INFO, b"\x00", False, Status.BAD_REQUEST),
        (MsgType.WRITE_SLOT, b"\x01\x09\x04\x12\x34", True, Status.BAD_REQUEST),
        (MsgType.WRITE_SLOT, b"\x01\x01\x04\x12\x3a\xff", True, Status.BAD_REQUEST),
        (MsgType.READ_SLOTS, b"\x01", True, Status.BAD_REQUEST),
        (MsgType.CLEAR_SLOT, b"\x63", True, Status.SLOT_NOT_FOUND),
    ],
)
def test_malformed_requests(
    tmp_path: Path, mtype: int, body: bytes, sealed: bool, status: Status
) -> None:
    _board, _lock, host = paired_lock(tmp_path)
    if sealed:
        frame = host.sealed(MsgType(mtype), body)
    else:
        host.counter += 1
        frame = Frame(FrameKind.REQUEST, mtype, host.counter, body)
    assert Status(host.send(frame).code) is status


def test_write_refusals_carry_their_details(tmp_path: Path) -> None:
    _board, _lock, host = paired_lock(tmp_path)
    host.send(host.sealed(MsgType.WRITE_SLOT, msg.WriteSlot(1, SlotEntry("2580")).encode()))
    cases = [
        (SlotEntry("2580"), Status.DUPLICATE_CODE, "existing_slot", 1),
        (SlotEntry("0000"), Status.CODE_REJECTED, "reason", "no_all_same_digits"),
        (SlotEntry("25*0"), Status.CODE_REJECTED, "reason", "alphabet"),
        (SlotEntry("2581", one_time=True, enabled=False), None, None, None),
    ]
    for entry, status, field, value in cases:
        assert field is None or field in ("existing_slot", "reason")
        reply = host.send(host.sealed(MsgType.WRITE_SLOT, msg.WriteSlot(2, entry).encode()))
        if status is None:
            assert Status(reply.code) is Status.OK
            assert reply.body == b""  # held exactly as sent: an empty ACK
            continue
        nak = msg.Nak.decode(opened(host, reply))
        assert Status(reply.code) is status
        assert (nak.existing_slot if field == "existing_slot" else nak.reason) == value
        assert nak.slot == 2
        assert entry.code not in (nak.message or "")
    schedule = msg.WriteSlot(
        3,
        SlotEntry(
            "3692",
            schedule=Schedule(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
        ),
    ).encode()
    assert Status(host.send(host.sealed(MsgType.WRITE_SLOT, schedule)).code) is Status.NOT_SUPPORTED


def test_slot_pages_stay_small_and_cover_the_table(tmp_path: Path) -> None:
    _board, lock, host = paired_lock(tmp_path)
    for index in range(1, 21):
        lock.manager_set(index, f"{index:02d}7391", "Maximilianus " + str(index))
    found = []
    start = 1
    while start < 21:
        reply = host.send(host.sealed(MsgType.READ_SLOTS, msg.ReadSlots(start, 16).encode()))
        body = opened(host, reply)
        assert len(body) < 240
        page = msg.SlotPage.decode(body)
        assert page.next_start > start
        found += [(s.index, s.code, s.name) for s in page.slots]
        start = page.next_start
    assert found == [(i, f"{i:02d}7391", "Maximilianus") for i in range(1, 21)]


def test_events_wait_for_a_session_and_are_resent(tmp_path: Path) -> None:
    board, lock, host = paired_lock(tmp_path)
    lock.link.events.clear()
    lock.link.end_session()
    lock.manager_set(3, "7319")
    assert lock.next_event_ms() is None
    assert lock.poll() == b""  # paired and no session: nobody could open it
    host.hello()
    first = [f for f in Deframer().feed(lock.poll()) if isinstance(f, Frame)]
    assert first[0].kind is FrameKind.EVENT
    assert first[0].sealed
    assert host.session is not None
    event = msg.decode_event(first[0].code, host.session.open(first[0]))
    assert (event.kind, event.slot) == (LockEventKind.CODE_ADDED, 3)
    assert lock.poll() == b""
    assert lock.next_event_ms() == 250
    board.ms += 250
    resent = [f for f in Deframer().feed(lock.poll()) if isinstance(f, Frame)]
    assert resent[0].counter == first[0].counter
    for _ in range(19):
        board.ms += 250
        lock.poll()
    board.ms += 250
    assert lock.poll() == b""  # 20 tries: given up
    assert lock.link.events == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    noise=st.binary(max_size=120),
    requests=st.lists(
        st.tuples(st.integers(0, 0x3F), st.binary(max_size=40), st.booleans()), max_size=6
    ),
)
def test_whatever_arrives_the_lock_answers_without_failing(
    noise: bytes, requests: list[tuple[int, bytes, bool]]
) -> None:
    """Noise and well-framed nonsense get replies (or, for EVENT_ACK, silence), never INTERNAL."""
    with tempfile.TemporaryDirectory() as state:
        _board, _lock, host = paired_lock(Path(state))
        replies = host.exchange(noise + b"\x00")
        for mtype, body, sealed in requests:
            frame = host.sealed(MsgType.CHECKSUM, body) if sealed else host.plain(MsgType.INFO)
            frame = Frame(FrameKind.REQUEST, mtype, frame.seq, frame.body, frame.counter_hi)
            replies += host.exchange(encode_frame(frame))
        for reply in replies:
            assert reply.kind in (FrameKind.REPLY, FrameKind.EVENT)
            assert reply.kind is FrameKind.EVENT or Status(reply.code) is not Status.INTERNAL


# --------------------------------------------------------------------------- the shim


async def test_the_shim_as_a_person_runs_it(tmp_path: Path) -> None:
    state = tmp_path / "flash"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(FIRMWARE_DIR / "shim.py"),
        "--state",
        str(state),
        "--pairing",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        path = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert path.startswith("/dev/"), path
        url = f"serial://{path}?timeout=0.2"
        keys = MemoryKeyStore()
        confirmation = await pair(parse_lock_url(url), keys, SystemClock())
        lock = await open_lock(url, keys=keys)
        try:
            events = lock.events()
            written = await lock.write_slot(6, SlotEntry("824613", "Robin"))
            assert written.code == "824613"
            process.stdin.write(b"enter 824613\n")
            await process.stdin.drain()

            async def unlocked() -> Any:
                async for event in events:
                    if event.kind is LockEventKind.KEYPAD_UNLOCK:
                        return event
                return None

            event = await asyncio.wait_for(unlocked(), 10)
            assert event.slot == 6
        finally:
            await lock.aclose()
        process.stdin.write(b"quit\n")
        await process.stdin.drain()
        assert await asyncio.wait_for(process.wait(), 10) == 0
        said = (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    assert f"confirmation code {confirmation}" in said
    assert "relay: open (slot 6)" in said
    assert "824613" not in said
    assert sorted(os.listdir(state)) == ["device.key", "pairing.bin", "slots.bin"]

"""The simulated lock refuses replayed, forged and unpaired changes; the driver says which.

An attacker here is someone spliced into the line: they see every byte and can send their
own. They must not learn a PIN, and nothing they send may change the lock.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from keyslot.drivers import open_lock, parse_lock_url
from keyslot.drivers.serial import key_id, pair
from keyslot.protocol.clock import ManualClock, SystemClock
from keyslot.protocol.serial_frames import Deframer, Frame, FrameKind, encode_frame
from keyslot.protocol.serial_messages import MsgType, Status
from keyslot.protocol.slots import AuthenticationFailed, NotPaired, SlotEntry
from keyslot.simulator.serial_endpoint import SerialEndpoint
from tests.serial_helpers import MemoryKeyStore, SerialRig, serial_rig


def tap_requests(rig: SerialRig, monkeypatch: pytest.MonkeyPatch) -> list[Frame]:
    """Every request frame the lock receives, as a wire tap would record it."""
    seen: list[Frame] = []
    device = rig.endpoint.device
    original = device.handle

    def handle(item: object) -> object:
        if isinstance(item, Frame) and item.kind is FrameKind.REQUEST:
            seen.append(item)
        return original(item)  # type: ignore[arg-type]

    monkeypatch.setattr(device, "handle", handle)
    return seen


async def inject(endpoint: SerialEndpoint, frame: Frame) -> Frame:
    """Send `frame` to the lock on a connection of our own and return its answer."""
    host, port = endpoint.url.removeprefix("socket://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(encode_frame(frame))
        deframer = Deframer()

        async def answer() -> Frame:
            while True:
                data = await reader.read(1024)
                assert data, "the lock closed the connection"
                for item in deframer.feed(data):
                    if isinstance(item, Frame) and item.kind is FrameKind.REPLY:
                        return item

        return await asyncio.wait_for(answer(), 5.0)
    finally:
        writer.close()


async def test_replayed_write_is_refused(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serial_rig("kwikset", clock, transport="tcp") as rig:
        assert rig.lock is not None
        seen = tap_requests(rig, monkeypatch)
        await rig.lock.write_slot(1, SlotEntry("482913", "Guest"))
        await rig.lock.clear_slot(1)
        captured = next(f for f in seen if f.code == MsgType.WRITE_SLOT)

        reply = await inject(rig.endpoint, captured)
        assert Status(reply.code) is Status.REPLAY
        assert not rig.firmware.read_slot(1).occupied
        assert rig.endpoint.device.refused == [Status.REPLAY]

        # the genuine host carries on (it reconnects: the attacker took the line)
        await rig.lock.write_slot(2, SlotEntry("591827", "Host"))
        assert rig.firmware.read_slot(2).occupied

        # a frame recorded in an earlier session does not even verify now
        reply = await inject(rig.endpoint, captured)
        assert Status(reply.code) in (Status.AUTH_FAILED, Status.NO_SESSION)
        assert not rig.firmware.read_slot(1).occupied


async def test_wrong_key_is_refused_and_reported(clock: ManualClock) -> None:
    async with serial_rig("kwikset", clock, transport="tcp") as rig:
        assert rig.lock is not None
        await rig.lock.aclose()
        forged = MemoryKeyStore()
        forged.save_key(key_id(parse_lock_url(rig.url)), os.urandom(32))
        lock = await open_lock(rig.url, clock=SystemClock(), keys=forged)
        try:
            with pytest.raises(AuthenticationFailed, match="authentication tag") as caught:
                await lock.write_slot(1, SlotEntry("482913", "Mallory"))
            assert "482913" not in caught.value.message
        finally:
            await lock.aclose()
        assert not rig.firmware.read_slot(1).occupied
        assert set(rig.endpoint.device.refused) == {Status.AUTH_FAILED}


async def test_write_before_pairing_is_refused(clock: ManualClock) -> None:
    async with serial_rig("kwikset", clock, paired=False) as rig:
        assert rig.lock is not None
        with pytest.raises(NotPaired, match="keyslot pair serial://") as caught:
            await rig.lock.write_slot(1, SlotEntry("482913", "Early"))
        assert not caught.value.retryable
        assert not rig.firmware.read_slot(1).occupied
        assert rig.endpoint.device.refused == [Status.NOT_PAIRED]
        # reading the table (codes!) needs pairing too
        with pytest.raises(NotPaired):
            await rig.lock.read_slots()
        # pairing outside pairing mode is refused as well
        with pytest.raises(NotPaired, match="pairing mode"):
            await pair(parse_lock_url(rig.url), MemoryKeyStore(), SystemClock())


async def test_a_host_without_the_key_is_refused(clock: ManualClock) -> None:
    async with serial_rig("kwikset", clock, transport="tcp") as rig:
        assert rig.lock is not None
        await rig.lock.aclose()
        stranger = await open_lock(rig.url, clock=SystemClock(), keys=MemoryKeyStore())
        try:
            with pytest.raises(NotPaired, match="another key"):
                await stranger.write_slot(1, SlotEntry("482913", "Stranger"))
        finally:
            await stranger.aclose()
        assert rig.endpoint.device.refused == [Status.AUTH_REQUIRED]


async def test_pins_never_cross_the_wire_in_the_clear(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serial_rig("kwikset", clock) as rig:
        assert rig.lock is not None
        wire = bytearray()
        endpoint = rig.endpoint
        receive, write = endpoint._receive, endpoint._write

        def on_receive(data: bytes) -> None:
            wire.extend(data)
            receive(data)

        def on_write(data: bytes) -> None:
            wire.extend(data)
            write(data)

        monkeypatch.setattr(endpoint, "_receive", on_receive)
        monkeypatch.setattr(endpoint, "_write", on_write)
        code = "97531864"
        await rig.lock.write_slot(4, SlotEntry(code, "Secret Keeper"))
        slots = await rig.lock.read_slots()
        assert slots[3].code == code
        assert len(wire) > 50
        assert code.encode() not in wire
        assert bytes.fromhex(code) not in wire  # nor packed two digits to a byte
        assert b"Secret Keeper" not in wire  # the request is encrypted whole


async def test_pairing_needs_the_lock_in_pairing_mode_once(clock: ManualClock) -> None:
    async with serial_rig("nuki", clock) as rig:
        assert rig.endpoint.device.pairing_mode is False  # used up by the first pairing
        assert len(rig.endpoint.confirmations) == 1
        rig.endpoint.enter_pairing_mode()
        other = MemoryKeyStore()
        confirmation = await pair(parse_lock_url(rig.url), other, SystemClock())
        assert confirmation == rig.endpoint.confirmations[-1]
        # the lock now holds the new key: the first host's key no longer works
        assert rig.lock is not None
        with pytest.raises(AuthenticationFailed):
            await rig.lock.write_slot(1, SlotEntry("482913", "Old key"))

"""The serial link under trouble: pulled cables, silent locks, retransmits, reboots, noise."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyslot.drivers import LockUrlError, open_lock, parse_lock_url
from keyslot.drivers.serial import SerialLock, pair
from keyslot.drivers.serial_link import LinkOptions
from keyslot.protocol.clock import ManualClock, SystemClock
from keyslot.protocol.serial_frames import Frame, FrameKind, decode_frame
from keyslot.protocol.serial_messages import (
    Hello,
    HelloReply,
    MsgType,
    ReadSlots,
    Status,
    WriteSlot,
)
from keyslot.protocol.serial_session import Session
from keyslot.protocol.slots import (
    LockEventKind,
    LockTimeout,
    LockUnavailable,
    SlotEntry,
)
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.serial_device import SerialDevice
from keyslot.simulator.serial_endpoint import SerialEndpoint
from keyslot.simulator.serial_faults import ByteFaults
from tests.serial_helpers import MemoryKeyStore, serial_rig

OPTIONS = "baud=921600&timeout=0.05&retries=6"


async def _until(predicate: object, limit: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 - a list filled by another task
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), limit)


async def test_pulled_cable_is_reported_and_the_link_comes_back(
    clock: ManualClock, tmp_path: Path
) -> None:
    firmware = LockFirmware(get_profile("kwikset"), clock=clock)
    endpoint = SerialEndpoint(firmware, pairing_mode=True, event_retry=0.05)
    link = tmp_path / "ttyLOCK"
    await endpoint.open_pty(link)
    url = f"serial://{link}?{OPTIONS}"
    keys = MemoryKeyStore()
    try:
        await pair(parse_lock_url(url), keys, SystemClock())
        lock = await open_lock(url, clock=SystemClock(), keys=keys)
        try:
            stream = lock.events()
            seen: list[LockEventKind] = []

            async def collect() -> None:
                async for event in stream:
                    seen.append(event.kind)

            collector = asyncio.ensure_future(collect())
            await lock.write_slot(1, SlotEntry("482913", "Before"))
            endpoint.unplug()
            await _until(lambda: LockEventKind.OFFLINE in seen)
            with pytest.raises(LockUnavailable) as caught:
                await lock.read_slots()
            assert caught.value.retryable
            await endpoint.replug()  # same path, new pty behind it
            await _until(lambda: LockEventKind.ONLINE in seen)
            slots = await lock.read_slots()
            assert slots[0].name == "Before"
            firmware.enter("482913")  # events flow on the new link
            await _until(lambda: LockEventKind.KEYPAD_UNLOCK in seen)
        finally:
            await lock.aclose()
        await asyncio.wait_for(collector, 5.0)
    finally:
        await endpoint.aclose()


async def test_a_silent_lock_times_out_on_the_drivers_clock(clock: ManualClock) -> None:
    firmware = LockFirmware(get_profile("kwikset"), clock=clock)
    endpoint = SerialEndpoint(firmware, faults=ByteFaults(drop_frames=1.0))
    await endpoint.open_pty()
    driver_clock = ManualClock()
    options = LinkOptions(timeout=0.5, retries=3)
    lock = SerialLock(parse_lock_url(endpoint.url), clock=driver_clock, keys=None, options=options)
    try:
        task = asyncio.ensure_future(lock.connect())
        for _ in range(200):
            if task.done():
                break
            await asyncio.sleep(0.005)
            driver_clock.advance(0.25)
        with pytest.raises(LockTimeout, match="did not answer"):
            await asyncio.wait_for(task, 5.0)
        assert lock.channel.sends == options.retries + 1
        assert endpoint.faults.frames_dropped == options.retries + 1
    finally:
        await lock.aclose()
        await endpoint.aclose()


async def test_unopenable_ports_and_bad_options_are_keyslot_errors(tmp_path: Path) -> None:
    with pytest.raises(LockUnavailable, match="cannot be opened"):
        await open_lock(f"serial://{tmp_path}/ttyNONE", clock=SystemClock())
    with pytest.raises(LockUnavailable):
        await open_lock("socket://127.0.0.1:1", clock=SystemClock())
    with pytest.raises(LockUrlError):
        await open_lock("serial:///dev/ttyUSB0?baud=fast", clock=SystemClock())
    with pytest.raises(LockUrlError):
        await open_lock("socket://127.0.0.1", clock=SystemClock())


def _session_device(clock: ManualClock) -> tuple[SerialDevice, Session]:
    firmware = LockFirmware(get_profile("kwikset"), clock=clock)
    key = bytes(range(32))
    device = SerialDevice(firmware, pairing_key=key)
    host_nonce = bytes(8)
    hello = Frame(FrameKind.REQUEST, MsgType.HELLO, 0, Hello(1, host_nonce).encode())
    reply = decode_frame(device.handle(hello)[0].data)
    lock_nonce = HelloReply.decode(reply.body).nonce
    return device, Session(key, host_nonce, lock_nonce)


async def test_a_retransmitted_write_is_applied_once(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    device, session = _session_device(clock)
    writes: list[int] = []
    original = device.firmware.write_slot

    def counting(index: int, entry: SlotEntry) -> object:
        writes.append(index)
        return original(index, entry)

    monkeypatch.setattr(device.firmware, "write_slot", counting)
    frame = session.seal(
        FrameKind.REQUEST, MsgType.WRITE_SLOT, 1, WriteSlot(2, SlotEntry("482913")).encode()
    )
    first = device.handle(frame)
    again = device.handle(frame)  # the reply was lost; the host sends the same bytes
    assert again == first
    assert writes == [2]
    assert Status(decode_frame(first[0].data).code) is Status.OK
    # a new request with a fresh counter is applied, and the old one stays refused
    clear = session.seal(FrameKind.REQUEST, MsgType.CLEAR_SLOT, 2, b"\x02")
    device.handle(clear)
    assert Status(decode_frame(device.handle(frame)[0].data).code) is Status.REPLAY
    assert writes == [2]
    assert device.firmware.stored(2) is None


async def test_reboots_mid_frame_are_survived(clock: ManualClock) -> None:
    faults = ByteFaults(reboot=0.2, seed=3)
    async with serial_rig("kwikset", clock, faults=faults) as rig:
        assert rig.lock is not None
        for index in range(1, 11):
            await rig.lock.write_slot(index, SlotEntry(f"48{index:02d}91", f"Guest {index}"))
        slots = await rig.lock.read_slots()
        assert [s.name for s in slots[:10]] == [f"Guest {i}" for i in range(1, 11)]
        assert faults.reboots > 0
        assert rig.firmware.boot_count == faults.reboots


async def test_noise_is_retransmitted_through(clock: ManualClock) -> None:
    faults = ByteFaults.parse("corrupt:0.05,burst:1,duplicate:0.01,drop_bytes:0.01", seed=11)
    async with serial_rig(
        "schlage", clock, faults=faults, options=OPTIONS + "&retries=12&sends=200"
    ) as rig:
        assert rig.lock is not None
        for index in range(1, 6):
            written = await rig.lock.write_slot(index, SlotEntry(f"7{index}4{index}91"))
            assert written.code_masked
        assert sum(s.occupied for s in await rig.lock.read_slots()) == 5
        assert 0.02 < faults.corrupted_fraction < 0.09
        assert rig.lock.channel.sends > 15  # more sends than requests: noise was resent


async def test_a_page_of_slots_fits_in_one_frame(clock: ManualClock) -> None:
    device, session = _session_device(clock)
    for index in range(1, 31):
        device.firmware.write_slot(index, SlotEntry(f"{index:02d}4817", "Fourteen chars"))
    frame = session.seal(FrameKind.REQUEST, MsgType.READ_SLOTS, 1, ReadSlots(1, 30).encode())
    reply = decode_frame(device.handle(frame)[0].data)
    assert Status(reply.code) is Status.OK
    assert len(reply.body) < 260  # the lock cut the page short; the host asks for the rest

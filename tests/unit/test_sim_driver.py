"""The in-process `sim://` driver: URLs, the id registry, latency, faults and event streams."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyslot.drivers import LockUrlError, open_lock
from keyslot.drivers import sim as sim_driver
from keyslot.drivers.sim import SimLock, SimLockNotFound, get_firmware
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import (
    KeyslotError,
    LockEventKind,
    LockTimeout,
    LockUnavailable,
    SlotEntry,
    SlotProgrammer,
)
from keyslot.simulator.faults import FaultKind
from keyslot.simulator.state import KEY_ENV


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    before = set(sim_driver.registered_locks())
    yield
    for lock_id in set(sim_driver.registered_locks()) - before:
        sim_driver.forget_firmware(lock_id)


async def open_sim(url: str, clock: ManualClock) -> SimLock:
    lock = await open_lock(url, clock=clock)
    assert isinstance(lock, SimLock)
    return lock


async def test_opens_a_slot_programmer(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    assert isinstance(lock, SlotProgrammer)
    info = await lock.info()
    assert info.vendor == "Kwikset"
    slot = await lock.write_slot(1, SlotEntry("4821", "Front"))
    assert slot.name == "Front"
    assert [s.index for s in await lock.read_slots() if s.occupied] == [1]
    assert lock.firmware.read_slot(1) == slot
    await lock.aclose()


async def test_same_id_same_firmware(clock: ManualClock) -> None:
    first = await open_sim("sim://nuki?id=front", clock)
    second = await open_sim("sim://nuki?id=front", clock)
    assert first.firmware is second.firmware is get_firmware("front")
    await first.write_slot(2, SlotEntry("345678"))
    assert (await second.read_slots())[1].occupied
    with pytest.raises(LockUrlError, match="nuki"):
        await open_lock("sim://kwikset?id=front", clock=clock)


async def test_without_id_every_lock_is_new(clock: ManualClock) -> None:
    first = await open_sim("sim://nuki", clock)
    second = await open_sim("sim://nuki", clock)
    assert first.firmware is not second.firmware
    assert first.lock_id != second.lock_id
    with pytest.raises(SimLockNotFound):
        get_firmware(first.lock_id)


@pytest.mark.parametrize(
    "url",
    [
        "sim://acme",
        "sim://kwikset?latency=soon",
        "sim://kwikset?latency=-1",
        "sim://kwikset?faults=lose",
        "sim://kwikset?seed=abc",
    ],
)
async def test_bad_urls(url: str, clock: ManualClock) -> None:
    with pytest.raises(LockUrlError):
        await open_lock(url, clock=clock)


async def test_latency_is_measured_on_the_clock(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset?latency=2", clock)
    task = asyncio.ensure_future(lock.read_slots())
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(1.9)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.1)
    assert len(await task) == 30


async def test_faults_from_the_url(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset?faults=fail:1&seed=4", clock)
    with pytest.raises(LockUnavailable):
        await lock.info()
    lock.faults.clear()
    assert (await lock.info()).vendor == "Kwikset"


async def test_lost_request_is_not_applied(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    lock.faults.inject(FaultKind.LOSE, ops={"write_slot"})
    with pytest.raises(LockTimeout):
        await lock.write_slot(1, SlotEntry("4821"))
    assert not lock.firmware.read_slot(1).occupied


async def test_lost_reply_is_applied(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    lock.faults.inject(FaultKind.LOSE_REPLY, ops={"write_slot"})
    with pytest.raises(LockTimeout):
        await lock.write_slot(1, SlotEntry("4821"))
    assert lock.firmware.read_slot(1).occupied


async def test_timeout_waits_on_the_clock(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset?timeout=5", clock)
    lock.faults.inject(FaultKind.LOSE)
    task = asyncio.ensure_future(lock.info())
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(5)
    with pytest.raises(LockTimeout):
        await task


async def test_offline_until_the_clock_passes(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    lock.faults.go_offline(clock.monotonic(), 60)
    with pytest.raises(LockUnavailable):
        await lock.read_slots()
    clock.advance(60)
    assert await lock.read_slots()


async def test_firmware_bugs_are_wrapped(clock: ManualClock) -> None:
    lock = await open_sim("sim://split", clock)
    with pytest.raises(KeyslotError) as err:
        await lock.set_clock(clock.now().replace(tzinfo=None))
    assert err.value.__cause__ is not None


async def test_checksum_only_where_the_lock_has_one(clock: ManualClock) -> None:
    kwikset = await open_sim("sim://kwikset", clock)
    assert await kwikset.slots_checksum() is None
    schlage = await open_sim("sim://schlage", clock)
    assert await schlage.slots_checksum() == 0
    await schlage.write_slot(1, SlotEntry("4821"))
    assert await schlage.slots_checksum() == schlage.firmware.checksum() != 0


async def test_set_clock(clock: ManualClock) -> None:
    lock = await open_sim("sim://split", clock)
    later = clock.now().replace(year=2027)
    await lock.set_clock(later)
    assert lock.firmware.now() == later


async def test_events_stream(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    stream = lock.events()
    await lock.write_slot(3, SlotEntry("4821"))
    lock.firmware.enter("4821")
    lock.firmware.enter("0000")
    first = await asyncio.wait_for(anext(stream), 1)
    second = await asyncio.wait_for(anext(stream), 1)
    assert (first.kind, first.slot) == (LockEventKind.KEYPAD_UNLOCK, 3)
    assert (second.kind, second.reason) == (LockEventKind.ACCESS_DENIED, "unknown_code")
    await lock.aclose()
    assert [e async for e in stream] == []
    with pytest.raises(LockUnavailable):
        await lock.read_slots()


async def test_events_stream_is_bounded(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    stream = lock.events()
    for _ in range(sim_driver.EVENT_QUEUE_SIZE + 10):
        lock.firmware.reboot()
    assert stream.dropped == 10
    await stream.aclose()
    events = [e async for e in stream]
    assert len(events) == sim_driver.EVENT_QUEUE_SIZE - 1  # one place went to the end mark
    assert all(e.kind is LockEventKind.REBOOTED for e in events)


async def test_each_reader_gets_every_event(clock: ManualClock) -> None:
    lock = await open_sim("sim://kwikset", clock)
    one, two = lock.events(), lock.events()
    lock.firmware.enter("9999")
    assert (await anext(one)).kind is (await anext(two)).kind is LockEventKind.ACCESS_DENIED
    await lock.aclose()
    late = lock.events()
    assert [e async for e in late] == []


async def test_state_outlives_the_registry(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    state = tmp_path / "door.state"
    lock = await open_sim(f"sim://split?id=door&state={state}", clock)
    await lock.write_slot(4, SlotEntry("4821", "Ada Lovelace"))
    await lock.aclose()
    sim_driver.forget_firmware("door")  # as if the process had restarted
    again = await open_sim(f"sim://split?id=door&state={state}", clock)
    assert again.firmware is not lock.firmware
    assert (await again.read_slots())[3].name == "Ada Lovelace"


async def test_state_without_id_keeps_the_saved_id(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    state = tmp_path / "lock.state"
    lock = await open_sim(f"sim://nuki?state={state}", clock)
    await lock.write_slot(2, SlotEntry("345678", "Ida"))
    again = await open_sim(f"sim://nuki?state={state}", clock)
    assert again.lock_id == lock.lock_id
    assert (await again.info()).serial_number == (await lock.info()).serial_number
    assert (await again.read_slots())[1].name == "Ida"
    with pytest.raises(LockUrlError, match="nuki"):
        await open_lock(f"sim://kwikset?state={state}", clock=clock)

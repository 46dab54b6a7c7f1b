"""The reconciler over a group-commit store: each lock operation is sent only once the intent
committed before it is on disk, and a pass after one change does not redo the work of the
codes that did not change."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyslot.drivers import open_lock
from keyslot.model import AccessCodeStatus
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockUnavailable, Slot, SlotEntry, SlotProgrammer
from keyslot.reconciler import Reconciler, RetryPolicy, Settings
from keyslot.reconciler import jobs as jobs_module
from keyslot.reconciler import ledger as ledger_module
from keyslot.reconciler import memo as memo_module
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import CodeRecord, DeviceRecord, Store

WAIT = 10.0


@dataclass
class Bench:
    store: Store
    service: Service
    reconciler: Reconciler
    firmware: dict[str, LockFirmware]
    clock: ManualClock

    def add_lock(self, lock_id: str) -> str:
        device = self.service.add_device(lock_url=f"sim://kwikset?id={lock_id}")
        self.firmware[device.device_id] = LockFirmware(
            get_profile("kwikset"), clock=self.clock, lock_id=lock_id
        )
        return device.device_id

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait (bounded) until `done()`: the fsyncs run in a thread, so give it real time."""

        async def poll() -> None:
            while not done():  # noqa: ASYNC110 - a store condition, nothing to wait on
                await asyncio.sleep(0.001)

        await asyncio.wait_for(poll(), WAIT)


@asynccontextmanager
async def bench(store: Store, clock: ManualClock) -> AsyncIterator[Bench]:
    firmware: dict[str, LockFirmware] = {}

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, firmware=firmware[device.device_id])

    reconciler = Reconciler(
        store, opener=opener, clock=clock, settings=Settings(), rng=random.Random(3)
    )
    service = Service(store, clock=clock, wake=reconciler.wake)
    yield Bench(store, service, reconciler, firmware, clock)
    await asyncio.wait_for(reconciler.stop(), WAIT)


def all_set(store: Store, device_id: str, count: int) -> bool:
    codes = store.access_codes.for_device(device_id)
    return len(codes) == count and all(r.access_code.status is AccessCodeStatus.SET for r in codes)


async def test_a_lock_write_waits_for_its_intent_to_be_on_disk(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    store = Store(tmp_path / "keyslot.db", key=b"\x33" * 32, clock=clock, group_commit=True)
    barrier = store._db.durability
    assert barrier is not None
    seen: list[tuple[bool, int | None]] = []
    try:
        async with bench(store, clock) as b:
            device_id = b.add_lock("durable-1")
            fw = b.firmware[device_id]
            original = fw.write_slot

            def write_slot(index: int, entry: SlotEntry) -> Slot:
                reserved = [
                    r.slot for r in store.access_codes.for_device(device_id) if r.slot == index
                ]
                seen.append((barrier.pending, reserved[0] if reserved else None))
                return original(index, entry)

            monkeypatch.setattr(fw, "write_slot", write_slot)
            for n in range(3):
                b.service.create_access_code(device_id=device_id, name=f"Guest {n}")
            await store.durable()
            before = len(synced)
            await b.reconciler.start()
            await b.until(lambda: all_set(store, device_id, 3))
            assert len(seen) == 3
            for pending, reserved in seen:
                assert not pending  # every commit so far, the intent included, was synced
                assert reserved is not None  # and the intent reserved the slot written
            assert len(synced) > before
    finally:
        store.close()


async def test_a_pass_after_one_create_leaves_the_other_codes_alone(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.memory(clock=clock)
    settled: list[str] = []
    specs: list[str] = []
    real_settle = ledger_module.Ledger.settle
    real_spec_of = memo_module.spec_of

    def counting_settle(self: ledger_module.Ledger, record: object, **kwargs: object) -> object:
        settled.append(record.access_code_id)  # type: ignore[attr-defined]
        return real_settle(self, record, **kwargs)  # type: ignore[arg-type]

    def counting_spec_of(record: object, fingerprint: object) -> object:
        specs.append(record.access_code_id)  # type: ignore[attr-defined]
        return real_spec_of(record, fingerprint)  # type: ignore[arg-type]

    monkeypatch.setattr(ledger_module.Ledger, "settle", counting_settle)
    monkeypatch.setattr(memo_module, "spec_of", counting_spec_of)
    try:
        async with bench(store, clock) as b:
            device_id = b.add_lock("memo-1")
            await b.reconciler.start()
            for n in range(12):
                b.service.create_access_code(device_id=device_id, name=f"Guest {n}")
            await b.until(lambda: all_set(store, device_id, 12))
            assert await b.reconciler.until_idle()
            # the pass after a code's write settles it once more; from then on it is quiet
            following, _ = b.service.create_access_code(device_id=device_id, name="Next guest")
            await b.until(lambda: all_set(store, device_id, 13))
            assert await b.reconciler.until_idle()
            settled.clear()
            specs.clear()
            new, _ = b.service.create_access_code(device_id=device_id, name="Late guest")
            await b.until(lambda: all_set(store, device_id, 14))
            assert await b.reconciler.until_idle()
            others = {r.access_code_id for r in store.access_codes.for_device(device_id)}
            others -= {new.access_code_id, following.access_code_id}
            assert len(others) == 12
            assert not others & set(settled)  # nothing about them changed: not settled again
            assert not others & set(specs)  # ... and their planner view was remembered
            assert new.access_code_id in settled
    finally:
        store.close()


async def after_quiet_spell(b: Bench, device_id: str, name: str, count: int) -> int:
    """A quiet spell, then a change: planned at once. Returns the passes before it."""
    worker = b.reconciler.worker(device_id)
    assert worker is not None
    await b.clock.run_for(2.0, step=0.5)
    before = worker.stats.passes
    b.service.create_access_code(device_id=device_id, name=name)
    await b.until(lambda: all_set(b.store, device_id, count))
    assert worker.stats.passes == before + 1
    return before


@asynccontextmanager
async def gathering(clock: ManualClock, settings: Settings) -> AsyncIterator[Bench]:
    """A reconciler over simulated locks, started, with `settings` (its pass pacing)."""
    store = Store.memory(clock=clock)
    firmware: dict[str, LockFirmware] = {}

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, firmware=firmware[device.device_id])

    reconciler = Reconciler(store, opener=opener, clock=clock, settings=settings)
    service = Service(store, clock=clock, wake=reconciler.wake)
    try:
        yield Bench(store, service, reconciler, firmware, clock)
    finally:
        await asyncio.wait_for(reconciler.stop(), WAIT)
        store.close()


async def test_a_lock_with_many_codes_gathers_its_changes_longer(clock: ManualClock) -> None:
    """10 codes at 0.1 s a code: a change that follows a pass waits 1 s for the next, not the
    0.2 s of `pass_interval` alone."""
    settings = Settings(pass_interval=0.2, pass_interval_per_code=0.1)
    async with gathering(clock, settings) as b:
        device_id = b.add_lock("gather-many")
        for n in range(9):
            b.service.create_access_code(device_id=device_id, name=f"Guest {n}")
        await b.reconciler.start()
        await b.until(lambda: all_set(b.store, device_id, 9))
        worker = b.reconciler.worker(device_id)
        assert worker is not None
        before = await after_quiet_spell(b, device_id, "Tenth", 10)  # now 10 codes
        b.service.create_access_code(device_id=device_id, name="Eleventh")
        await clock.run_for(0.5, step=0.25)  # past pass_interval, within 10 x 0.1 s
        for _ in range(50):
            await asyncio.sleep(0)
        assert worker.stats.passes == before + 1
        await clock.run_for(0.75, step=0.25)
        await b.until(lambda: all_set(b.store, device_id, 11))
        assert worker.stats.passes == before + 2


async def test_changes_that_keep_coming_are_planned_together(clock: ManualClock) -> None:
    async with gathering(clock, Settings(pass_interval=1.0)) as b:
        device_id = b.add_lock("gather-1")
        await b.reconciler.start()
        assert await b.reconciler.until_idle()
        worker = b.reconciler.worker(device_id)
        assert worker is not None
        before = await after_quiet_spell(b, device_id, "First", 1)
        for n in range(3):  # within the interval: they wait for one pass together
            b.service.create_access_code(device_id=device_id, name=f"Guest {n}")
            for _ in range(50):
                await asyncio.sleep(0)
        assert worker.stats.passes == before + 1
        await clock.run_for(1.0, step=0.25)
        await b.until(lambda: all_set(b.store, device_id, 4))
        assert worker.stats.passes == before + 2


async def test_a_lock_that_keeps_failing_marks_its_codes_once_per_change(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.memory(clock=clock)
    reads: list[str] = []
    real_slot_codes = jobs_module.slot_codes

    def counting_slot_codes(store_: Store, device_id: str) -> list[CodeRecord]:
        reads.append(device_id)
        return real_slot_codes(store_, device_id)

    monkeypatch.setattr(jobs_module, "slot_codes", counting_slot_codes)

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        raise LockUnavailable("the lock does not answer")

    policy = RetryPolicy(
        base_delay=1.0,
        max_delay=8.0,
        jitter=0.0,
        warn_after=2,
        offline_after=4,
        suspend_delay=5.0,
        suspend_max=20.0,
    )
    reconciler = Reconciler(store, opener=opener, clock=clock, settings=Settings(retry=policy))
    service = Service(store, clock=clock, wake=reconciler.wake)
    device = service.add_device(lock_url="sim://kwikset?id=gone-1")
    for n in range(5):
        service.create_access_code(device_id=device.device_id, name=f"Guest {n}")
    await reconciler.start()
    try:
        worker = reconciler.worker(device.device_id)
        assert worker is not None
        for _ in range(200):  # failures 1-6: warned from the 2nd, offline from the 4th
            if worker.stats.failures >= 6:
                break
            await clock.run_for(1.0, step=0.25)
        assert worker.stats.failures >= 6
        codes = store.access_codes.for_device(device.device_id)
        for record in codes:
            errors = {e.error_code.value for e in record.access_code.errors}
            warnings = {w.warning_code.value for w in record.access_code.warnings}
            assert "device_offline" in errors
            assert "delay_in_setting_on_device" in warnings
        # read when first warned and when first marked offline; the repeats read nothing
        assert reads == [device.device_id, device.device_id]
    finally:
        await asyncio.wait_for(reconciler.stop(), WAIT)
        store.close()

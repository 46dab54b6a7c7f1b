"""Changes made at the keypad that a read alone does not explain: on a lock that masks codes
while keyslot was not listening (the events are lost, the new PIN does not show, the slot
table's checksum gives them away), and on a slot whose write was never confirmed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from keyslot.drivers import open_lock
from keyslot.drivers.sim import SimLock
from keyslot.model import (
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeWarningCode,
    ChangeType,
    EventType,
)
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import Slot, SlotEntry, SlotProgrammer
from keyslot.reconciler import Reconciler, Settings
from keyslot.reconciler.settings import Opener
from keyslot.reconciler.worker import DeviceWorker
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import DeviceRecord, Store
from tests.reconciler_rig import FAST_RETRY, Rig, rig

PIN = "24680"
KEYPAD_PIN = "97531"


def kinds(r: Rig | Store, cid: str) -> list[EventType]:
    store = r if isinstance(r, Store) else r.store
    return [e.event.event_type for e in store.events.query(access_code_ids=[cid])]


def worker_of(r: Rig, dev: str) -> DeviceWorker:
    worker = r.reconciler.worker(dev)
    assert worker is not None
    return worker


async def set_code(r: Rig, *, allow: bool = False) -> tuple[str, str, int]:
    """A Schlage-like lock (codes read back masked, slot table checksum) holding one code."""
    dev = r.add_lock("schlage")
    code, _ = r.service.create_access_code(
        device_id=dev, code=PIN, allow_external_modification=allow
    )
    await r.settle()
    record = r.code(code.access_code_id)
    assert record.access_code.status is AccessCodeStatus.SET
    assert record.slot is not None
    return dev, code.access_code_id, record.slot


async def disconnect(r: Rig, dev: str) -> None:
    """The lock stops answering until the worker gives up its connection."""
    firmware = r.firmware[dev]
    firmware.faults.go_offline(r.clock.monotonic(), 3600)
    r.reconciler.wake(dev)
    await r.settle(seconds=20, step=0.5)
    assert worker_of(r, dev).backoff.failures >= FAST_RETRY.reconnect_after


async def reconnect(r: Rig, dev: str) -> None:
    r.firmware[dev].faults.clear()
    await r.settle(seconds=120, step=1)  # past the suspension: the worker connects again
    assert worker_of(r, dev).backoff.failures == 0


async def test_a_pin_changed_while_disconnected_is_found_and_set_again(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r)
        await disconnect(r, dev)
        r.firmware[dev].manager_set(slot, KEYPAD_PIN)  # nobody hears the lock's event
        events_before = kinds(r, cid)
        await reconnect(r, dev)
        restored = r.code(cid)
        assert restored.slot == slot
        assert restored.access_code.status is AccessCodeStatus.SET
        assert restored.access_code.errors == ()  # the conflict ended with the write
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert worker_of(r, dev).stats.writes == 2
        new = kinds(r, cid)[len(events_before) :]
        assert new.count(EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM) == 1
        (modified,) = [
            e.event
            for e in r.store.events.query(
                access_code_ids=[cid],
                event_types=[EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM.value],
            )
        ]
        assert modified.access_code_id == cid


async def test_the_conflict_is_reported_while_the_code_is_set_again(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r)
        await disconnect(r, dev)
        r.firmware[dev].manager_set(slot, KEYPAD_PIN)
        r.firmware[dev].faults.clear()
        r.firmware[dev].faults.inject("fail", ops={"write_slot"})  # the first write fails
        worker = worker_of(r, dev)
        failed = worker.stats.failures
        for _ in range(120):  # until that write has failed
            if worker.stats.failures > failed:
                break
            await r.settle(seconds=1, step=0.5)
        assert worker.stats.failures == failed + 1
        conflicted = r.code(cid).access_code
        (error,) = [
            e
            for e in conflicted.errors
            if e.error_code is AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION
        ]
        assert error.change_type is ChangeType.MODIFIED
        assert [f.field for f in error.modified_fields] == ["code"]
        assert conflicted.status is AccessCodeStatus.SETTING
        await reconnect(r, dev)
        done = r.code(cid).access_code
        assert done.status is AccessCodeStatus.SET
        assert done.errors == ()
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == PIN


async def test_a_change_made_while_disconnected_is_kept_when_allowed(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r, allow=True)
        await disconnect(r, dev)
        r.firmware[dev].manager_set(slot, KEYPAD_PIN)
        await reconnect(r, dev)
        kept = r.code(cid).access_code
        assert kept.status is AccessCodeStatus.SET
        (warning,) = kept.warnings
        assert warning.warning_code is AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT
        assert warning.change_type is ChangeType.MODIFIED
        assert kept.errors == ()
        assert kept.code == PIN  # a masked lock never shows the PIN it now holds
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == KEYPAD_PIN  # the change stays on the lock
        assert worker_of(r, dev).stats.writes == 1
        assert kinds(r, cid).count(EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM) == 1


async def test_a_reconnect_with_nothing_changed_writes_and_reports_nothing(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r)
        events_before = kinds(r, cid)
        await disconnect(r, dev)
        await reconnect(r, dev)
        assert worker_of(r, dev).stats.writes == 1
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        new = kinds(r, cid)[len(events_before) :]
        assert EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM not in new
        assert r.firmware[dev].stored(slot) is not None


async def test_a_code_deleted_then_added_again_at_the_keypad_is_set_again(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r)
        r.firmware[dev].manager_delete(slot)  # both events arrive before the next pass:
        r.firmware[dev].manager_set(slot, KEYPAD_PIN)  # the slot looks as it did
        await r.settle()
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        assert kinds(r, cid).count(EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM) == 1


async def gateway_run(store: Store, opener: Opener, device_id: str, pins: list[str]) -> None:
    """One life of a gateway: start, create codes with `pins`, let every pass finish, stop."""
    reconciler = Reconciler(
        store, opener=opener, clock=store.clock, settings=Settings(retry=FAST_RETRY)
    )
    service = Service(store, clock=store.clock, wake=reconciler.wake)
    await reconciler.start()
    try:
        for pin in pins:
            service.create_access_code(device_id=device_id, code=pin)
        for _ in range(3):  # let lock events reach their handler and wake another pass
            assert await reconciler.until_idle()
            await asyncio.sleep(0)
    finally:
        await asyncio.wait_for(reconciler.stop(), timeout=10)


async def test_a_pin_changed_while_the_gateway_was_down_is_found_after_a_restart(
    clock: ManualClock,
) -> None:
    store = Store.memory(clock=clock)
    firmware = LockFirmware(get_profile("schlage"), clock=clock, lock_id="restart")

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, firmware=firmware)

    try:
        dev = Service(store, clock=clock).add_device(lock_url="sim://schlage?id=restart")
        await gateway_run(store, opener, dev.device_id, [PIN])
        (record,) = store.access_codes.for_device(dev.device_id)
        slot = record.slot
        assert slot is not None
        firmware.manager_set(slot, KEYPAD_PIN)  # while no gateway runs
        await gateway_run(store, opener, dev.device_id, [])
        restored = store.access_codes.require(record.access_code_id)
        assert restored.access_code.status is AccessCodeStatus.SET
        stored = firmware.stored(slot)
        assert stored is not None
        assert stored.code == PIN
        modified = EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM
        assert kinds(store, record.access_code_id).count(modified) == 1
    finally:
        store.close()


class ActsBeforeAnswering(SimLock):
    """A simulated lock that runs what `after[op]` holds once an operation `op` (a read, a
    write) is done but before it answers, and lets the loop deliver what that caused (a
    keypad event to its handler, a stop to the worker)."""

    after: dict[str, list[Callable[[], None]]]

    async def _acts(self, op: str) -> None:
        pending = self.after.get(op, [])
        while pending:
            pending.pop()()
            for _ in range(20):
                await asyncio.sleep(0)

    async def read_slots(self) -> Sequence[Slot]:
        table = await super().read_slots()  # the table from before what follows
        await self._acts("read_slots")
        return table

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        landed = await super().write_slot(index, entry)
        await self._acts("write_slot")
        return landed


async def test_a_code_added_at_the_keypad_during_a_read_is_not_lost_to_the_checksum(
    clock: ManualClock,
) -> None:
    store = Store.memory(clock=clock)
    firmware = LockFirmware(get_profile("schlage"), clock=clock, lock_id="race")

    keypad = [lambda: firmware.manager_set(5, KEYPAD_PIN)]

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        lock = ActsBeforeAnswering(firmware, clock=clock)
        lock.after = {"read_slots": keypad}
        return lock

    try:
        dev = Service(store, clock=clock).add_device(lock_url="sim://schlage?id=race")
        # The first pass reads a table without slot 5, then writes the new code and reads
        # the checksum, which includes slot 5: that table must not be kept as current.
        await gateway_run(store, opener, dev.device_id, [PIN])
        (found,) = store.unmanaged.for_device(dev.device_id)
        assert found.slot == 5
        (record,) = store.access_codes.for_device(dev.device_id)
        assert record.access_code.status is AccessCodeStatus.SET
    finally:
        store.close()


async def cut_off_write(r: Rig, dev: str) -> str:
    """A new code whose write lands but whose answer is lost, then the lock goes quiet until
    the worker gives up its connection: keyslot changed the lock after its last checksum."""
    firmware = r.firmware[dev]
    firmware.faults.inject("lose_reply", ops={"write_slot"})
    code, _ = r.service.create_access_code(device_id=dev, code="13579")
    await r.settle()
    firmware.faults.set_rates(fail=1.0)
    await r.settle(seconds=20, step=0.5)
    assert worker_of(r, dev).backoff.failures >= FAST_RETRY.reconnect_after
    return code.access_code_id


async def test_after_an_outage_that_cut_off_a_write_the_codes_are_written_again_silently(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r)
        events_before = kinds(r, cid)
        new_cid = await cut_off_write(r, dev)
        writes = worker_of(r, dev).stats.writes
        await reconnect(r, dev)  # the checksum moved, perhaps by keyslot's own write alone
        for code_id in (cid, new_cid):
            assert r.code(code_id).access_code.status is AccessCodeStatus.SET
            assert r.code(code_id).access_code.errors == ()
        # Nothing said about a change at the keypad: at most that the code is set again.
        assert set(kinds(r, cid)[len(events_before) :]) <= {EventType.ACCESS_CODE_SET_ON_DEVICE}
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert worker_of(r, dev).stats.writes == writes + 2  # both codes once more


async def test_a_pin_changed_during_an_outage_that_cut_off_a_write_is_set_again(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev, cid, slot = await set_code(r)
        await cut_off_write(r, dev)
        r.firmware[dev].manager_set(slot, KEYPAD_PIN)
        await reconnect(r, dev)
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert r.code(cid).access_code.status is AccessCodeStatus.SET


async def test_a_lost_write_changed_at_the_keypad_before_the_retry_is_sent_again_in_place(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("split")  # names readable, and unique on the lock
        r.firmware[dev].faults.inject("lose_reply", ops={"write_slot"})
        code, _ = r.service.create_access_code(device_id=dev, code="1357", name="Ann")
        cid = code.access_code_id
        await r.settle()  # the write landed, its answer was lost: not confirmed
        slot = r.code(cid).slot
        assert slot is not None
        assert r.code(cid).access_code.status is AccessCodeStatus.SETTING
        # A change (not an addition) proves the write had landed: the code is keyslot's.
        r.firmware[dev].manager_set(slot, "9753")  # keeps the name "Ann"
        await r.settle(seconds=10, step=0.5)
        done = r.code(cid)
        assert done.slot == slot
        assert done.access_code.status is AccessCodeStatus.SET
        assert done.access_code.errors == ()
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == "1357"
        assert r.firmware[dev].occupied == 1
        assert r.store.unmanaged.for_device(dev) == []


async def test_a_pin_changed_after_a_stop_in_the_middle_of_a_pass_is_found_after_a_restart(
    clock: ManualClock,
) -> None:
    store = Store.memory(clock=clock)
    firmware = LockFirmware(get_profile("schlage"), clock=clock, lock_id="stopped")
    stops: list[Callable[[], None]] = []

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        lock = ActsBeforeAnswering(firmware, clock=clock)
        lock.after = {"write_slot": stops}  # the stop comes once the first write landed
        return lock

    try:
        dev = Service(store, clock=clock).add_device(lock_url="sim://schlage?id=stopped")
        reconciler = Reconciler(
            store, opener=opener, clock=clock, settings=Settings(retry=FAST_RETRY)
        )
        service = Service(store, clock=clock, wake=reconciler.wake)
        await reconciler.start()
        stopping: list[asyncio.Future[None]] = []
        stops.append(lambda: stopping.append(asyncio.ensure_future(reconciler.stop())))
        ids = [
            service.create_access_code(device_id=dev.device_id, code=pin)[0].access_code_id
            for pin in (PIN, "13579", "86420")
        ]
        for _ in range(1000):  # until the first write lands and asks for the stop
            if stopping:
                break
            await asyncio.sleep(0)
        await asyncio.wait_for(stopping[0], timeout=10)
        assert firmware.occupied == 1  # the other two codes were not sent
        (done,) = [
            r for r in map(store.access_codes.require, ids) if r.slot and firmware.stored(r.slot)
        ]
        assert done.access_code.status is AccessCodeStatus.SET
        assert done.slot is not None
        firmware.manager_set(done.slot, KEYPAD_PIN)  # while no gateway runs
        await gateway_run(store, opener, dev.device_id, [])
        for cid in ids:
            assert store.access_codes.require(cid).access_code.status is AccessCodeStatus.SET
        stored = firmware.stored(done.slot)
        assert stored is not None
        assert stored.code == done.access_code.code
        assert firmware.occupied == 3
        modified = EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM
        assert kinds(store, done.access_code_id).count(modified) == 1
        assert all(modified not in kinds(store, cid) for cid in ids if cid != done.access_code_id)
    finally:
        store.close()

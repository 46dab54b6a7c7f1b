"""Events lost while the lock stays connected: its event stream breaks, or a slow reader's
queue drops the oldest. On a lock that masks codes a change at the keypad whose event was
lost is found by the slot table's checksum at the next pass, and set again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from keyslot.drivers import sim
from keyslot.drivers.event_queue import BoundedEventStream
from keyslot.drivers.sim import SimLock
from keyslot.model import AccessCodeStatus, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockEvent, LockEventKind, LockUnavailable, SlotProgrammer
from keyslot.reconciler import Reconciler, Settings
from keyslot.reconciler.unheard import Heard
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import DeviceRecord, Store
from tests.reconciler_rig import FAST_RETRY, rig

PIN = "24680"
KEYPAD_PIN = "97531"
MODIFIED = EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM


def modified(store: Store, cid: str) -> int:
    return sum(e.event.event_type is MODIFIED for e in store.events.query(access_code_ids=[cid]))


class BreakingStream:
    """A lock's events until `broken` is set: then the next one is lost with an error (at
    once when it is set from the start)."""

    def __init__(self, inner: AsyncIterator[LockEvent], *, broken: bool) -> None:
        self._inner = inner
        self.broken = broken

    def __aiter__(self) -> BreakingStream:
        return self

    async def __anext__(self) -> LockEvent:
        if self.broken:
            raise LockUnavailable("the lock's event subscription failed")
        event = await anext(self._inner)
        if self.broken:
            raise LockUnavailable("the lock's event subscription was lost")
        return event


class BreakableLock(SimLock):
    """A simulated lock whose event streams the test can break (the lock stays connected)."""

    streams: list[BreakingStream]
    failing = False  # every stream fails at once

    def events(self) -> BreakingStream:  # type: ignore[override]
        stream = BreakingStream(super().events(), broken=self.failing)
        self.streams.append(stream)
        return stream


@asynccontextmanager
async def gateway(
    clock: ManualClock, firmware: LockFirmware, *, failing: bool = False
) -> AsyncIterator[tuple[Store, Service, Reconciler, list[BreakingStream]]]:
    store = Store.memory(clock=clock)
    streams: list[BreakingStream] = []

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        lock = BreakableLock(firmware, clock=clock)
        lock.streams, lock.failing = streams, failing
        return lock

    reconciler = Reconciler(store, opener=opener, clock=clock, settings=Settings(retry=FAST_RETRY))
    service = Service(store, clock=clock, wake=reconciler.wake)
    await reconciler.start()
    try:
        yield store, service, reconciler, streams
    finally:
        await asyncio.wait_for(reconciler.stop(), timeout=10)
        store.close()


async def settle(clock: ManualClock, reconciler: Reconciler, seconds: float = 0.0) -> None:
    for _ in range(20):  # lock events travel through a queue to their handler
        await asyncio.sleep(0)
    if seconds:
        await clock.run_for(seconds, step=0.5)
    assert await reconciler.until_idle()


async def test_a_pin_changed_after_the_event_stream_broke_is_found_and_set_again(
    clock: ManualClock,
) -> None:
    firmware = LockFirmware(get_profile("schlage"), clock=clock, lock_id="broken-stream")
    async with gateway(clock, firmware) as (store, service, reconciler, streams):
        dev = service.add_device(lock_url="sim://schlage?id=broken-stream").device_id
        code, _ = service.create_access_code(device_id=dev, code=PIN)
        cid = code.access_code_id
        await settle(clock, reconciler, seconds=5)
        slot = store.access_codes.require(cid).slot
        assert slot is not None
        assert store.access_codes.require(cid).access_code.status is AccessCodeStatus.SET
        (stream,) = streams
        stream.broken = True
        firmware.manager_set(slot, KEYPAD_PIN)  # its event is lost as the stream breaks
        await settle(clock, reconciler)
        reconciler.wake(dev)  # a pass, whether or not the broken stream asks for one
        await settle(clock, reconciler, seconds=5)
        assert len(streams) == 2  # a new connection, and with it a new stream
        stored = firmware.stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert store.access_codes.require(cid).access_code.status is AccessCodeStatus.SET
        assert modified(store, cid) == 1
        firmware.manager_set(slot, KEYPAD_PIN)  # heard on the new stream
        await settle(clock, reconciler, seconds=5)
        stored = firmware.stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert modified(store, cid) == 2
        assert len(streams) == 2


async def test_a_stream_that_keeps_failing_is_opened_again_once_a_second_at_most(
    clock: ManualClock,
) -> None:
    firmware = LockFirmware(get_profile("schlage"), clock=clock, lock_id="failing-stream")
    async with gateway(clock, firmware, failing=True) as (store, service, reconciler, streams):
        dev = service.add_device(lock_url="sim://schlage?id=failing-stream").device_id
        code, _ = service.create_access_code(device_id=dev, code=PIN)
        await settle(clock, reconciler)  # quiet at once: no reconnect follows another at once
        opened = len(streams)
        for _ in range(10):
            await settle(clock, reconciler, seconds=1)
        assert len(streams) - opened == 10  # one a second (`RetryPolicy.base_delay`)
        record = store.access_codes.require(code.access_code_id)
        assert record.access_code.status is AccessCodeStatus.SET


async def test_a_pin_change_whose_event_a_full_queue_dropped_is_found_and_set_again(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim, "EVENT_QUEUE_SIZE", 2)  # a reader that falls behind loses events
    async with rig(clock) as r:
        dev = r.add_lock("schlage")
        code, _ = r.service.create_access_code(device_id=dev, code=PIN)
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        firmware = r.firmware[dev]
        firmware.manager_set(slot, KEYPAD_PIN)  # pushed out of the queue by the next two
        firmware.enter(KEYPAD_PIN)
        firmware.enter(KEYPAD_PIN)
        await r.settle()
        r.reconciler.wake(dev)  # a pass, whether or not the drop asks for one
        await r.settle(seconds=5)
        unlocked = r.store.events.query(event_types=[EventType.LOCK_UNLOCKED.value])
        assert len(unlocked) == 2  # the two entries were heard, the change before them not
        stored = firmware.stored(slot)
        assert stored is not None
        assert stored.code == PIN
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        assert modified(r.store, cid) == 1


async def test_a_checksum_read_after_events_were_dropped_is_not_taken_as_heard() -> None:
    stream = BoundedEventStream(1)
    heard = Heard()
    heard.listen(stream)
    heard.caught_up(7, ops=0)
    assert (heard.checksum, heard.unheard) == (7, False)
    heard.hear(8, ops=0)  # nothing lost: every change up to this read was heard
    assert heard.checksum == 8
    event = LockEvent(LockEventKind.KEYPAD_UNLOCK, at=ManualClock().now(), slot=1)
    stream.push(event)
    stream.push(event)  # the first one is dropped
    heard.hear(9, ops=0)
    assert (heard.checksum, heard.unheard) == (8, True)  # the next pass compares with 8
    heard.caught_up(9, ops=0)
    heard.hear(10, ops=0)
    assert (heard.checksum, heard.unheard) == (10, False)

"""The reconciler driving Z-Wave locks through the simulated gateway on a real mosquitto:
it converges after a broker restart in the middle of a batch, and never writes a masked
lock again just because it cannot read it back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyslot.drivers import open_lock
from keyslot.model import AccessCodeStatus, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import SlotProgrammer
from keyslot.reconciler import Reconciler, RetryPolicy, Settings
from keyslot.service import Service
from keyslot.store import DeviceRecord, Store
from keyslot.store.events import StoredEvent
from tests.support_zwave import ZwaveRig, eventually, zwave_rig

pytestmark = pytest.mark.mosquitto

RETRY = RetryPolicy(base_delay=1.0, max_delay=4.0, warn_after=50, offline_after=100)
PINS = [f"{n:06d}" for n in range(135791, 135791 + 12 * 1111, 1111)]


@dataclass
class Site:
    rig: ZwaveRig
    store: Store
    service: Service
    reconciler: Reconciler

    def statuses(self, ids: list[str]) -> list[AccessCodeStatus]:
        return [self.store.access_codes.require(i).access_code.status for i in ids]


@asynccontextmanager
async def site(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Site]:
    async with zwave_rig(tmp_path, clock, {2: "schlage"}, reconnect_delay=0.05) as rig:
        store = Store.memory(clock=clock)

        async def opener(device: DeviceRecord) -> SlotProgrammer:
            return await open_lock(device.lock_url, clock=clock)

        reconciler = Reconciler(
            store,
            opener=opener,
            clock=clock,
            settings=Settings(retry=RETRY),
            rng=random.Random(3),
        )
        service = Service(store, clock=clock, wake=reconciler.wake)
        await reconciler.start()
        try:
            yield Site(rig, store, service, reconciler)
        finally:
            await asyncio.wait_for(reconciler.stop(), timeout=10)
            store.close()


async def converge(s: Site, ids: list[str], clock: ManualClock) -> None:
    """Move the clock on (backoffs, reconnects) until every code is set on the lock."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not all(status is AccessCodeStatus.SET for status in s.statuses(ids)):
        assert loop.time() < deadline, f"not converged: {s.statuses(ids)}"
        await asyncio.sleep(0.01)
        clock.advance(0.25)


async def test_the_reconciler_converges_after_a_broker_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with site(tmp_path, clock) as s:
        url = s.rig.url(2, masked=1, confirm_timeout=20)
        device = s.service.add_device(lock_url=url)
        node = s.rig.sim.nodes[2]
        ids = [
            s.service.create_access_code(device_id=device.device_id, code=pin, name=f"G{i}")[
                0
            ].access_code_id
            for i, pin in enumerate(PINS)
        ]
        await eventually(lambda: sum(node.writes.values()) >= 4)
        await s.rig.broker.arestart()  # in the middle of the batch
        assert sum(node.writes.values()) < len(PINS)
        await converge(s, ids, clock)
        held = {s.rig.firmware[2].stored(i) for i in s.rig.firmware[2].profile.slot_range}
        assert {c.code for c in held if c is not None} == set(PINS)  # nothing lost
        assert s.rig.firmware[2].occupied == len(PINS)  # nothing twice
        assert sum(node.writes.values()) == len(PINS)  # no slot written twice
        device_after = s.store.devices.require(device.device_id)
        assert device_after.online


async def test_a_keypad_unlock_names_the_access_code(tmp_path: Path, clock: ManualClock) -> None:
    async with site(tmp_path, clock) as s:
        device = s.service.add_device(lock_url=s.rig.url(2, masked=1))
        ids = [
            s.service.create_access_code(device_id=device.device_id, code=pin)[0].access_code_id
            for pin in PINS[:3]
        ]
        await converge(s, ids, clock)
        assert s.rig.firmware[2].enter(PINS[1]).unlocked

        def unlocked() -> list[StoredEvent]:
            return s.store.events.query(event_types=[EventType.LOCK_UNLOCKED.value])

        events = await eventually(unlocked)
        assert [e.event.access_code_id for e in events] == [ids[1]]


async def test_a_masked_lock_is_written_once_per_code(tmp_path: Path, clock: ManualClock) -> None:
    async with site(tmp_path, clock) as s:
        device = s.service.add_device(lock_url=s.rig.url(2, masked=1))
        ids = [
            s.service.create_access_code(device_id=device.device_id, code=pin)[0].access_code_id
            for pin in PINS[:5]
        ]
        await converge(s, ids, clock)
        node = s.rig.sim.nodes[2]
        assert sum(node.writes.values()) == 5
        for _ in range(3):  # audits and wake-ups: the lock reads back only asterisks
            s.reconciler.wake(device.device_id)
            await asyncio.sleep(0.05)
            clock.advance(1000)  # past the audit interval: a full re-read is due
            await eventually(lambda: not any(w.busy for w in s.reconciler.workers))
        assert sum(node.writes.values()) == 5
        assert all(status is AccessCodeStatus.SET for status in s.statuses(ids))

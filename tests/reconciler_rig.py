"""A store, the service and the reconciler over simulated locks, on a ManualClock.

Locks are opened through `keyslot.drivers.open_lock` (the sim driver), each with its own
in-process firmware, so tests drive the real interface and can poke the keypad.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from keyslot.drivers import open_lock
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import SlotProgrammer
from keyslot.reconciler import Reconciler, RetryPolicy, Settings
from keyslot.service import Service
from keyslot.simulator.faults import FaultPlan
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import CodeRecord, DeviceRecord, Store

FAST_RETRY = RetryPolicy(
    base_delay=1.0, max_delay=8.0, warn_after=2, offline_after=4, suspend_delay=30.0
)

_ids = itertools.count(1)


@dataclass
class Rig:
    clock: ManualClock
    store: Store
    service: Service
    reconciler: Reconciler
    firmware: dict[str, LockFirmware] = field(default_factory=dict)

    def add_lock(self, profile: str = "kwikset", *, faults: FaultPlan | None = None) -> str:
        lock_id = f"rig-{next(_ids)}"
        firmware = LockFirmware(
            get_profile(profile), clock=self.clock, lock_id=lock_id, faults=faults
        )
        device = self.service.add_device(lock_url=f"sim://{profile}?id={lock_id}")
        self.firmware[device.device_id] = firmware
        return device.device_id

    def code(self, access_code_id: str) -> CodeRecord:
        return self.store.access_codes.require(access_code_id)

    async def settle(self, seconds: float = 0.0, step: float = 0.5) -> None:
        """Let passes run; advance the clock by `seconds` in steps, then until quiet."""
        for _ in range(20):  # lock events travel through a queue to their handler
            await asyncio.sleep(0)
        if seconds:
            await self.clock.run_for(seconds, step=step)
        assert await self.reconciler.until_idle()


@asynccontextmanager
async def rig(clock: ManualClock, *, settings: Settings | None = None) -> AsyncIterator[Rig]:
    store = Store.memory(clock=clock)
    firmware: dict[str, LockFirmware] = {}

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, firmware=firmware[device.device_id])

    reconciler = Reconciler(
        store,
        opener=opener,
        clock=clock,
        settings=settings or Settings(retry=FAST_RETRY),
        rng=random.Random(7),
    )
    service = Service(store, clock=clock, wake=reconciler.wake)
    the_rig = Rig(clock, store, service, reconciler, firmware)
    await reconciler.start()
    try:
        yield the_rig
    finally:
        await asyncio.wait_for(reconciler.stop(), timeout=10)
        store.close()

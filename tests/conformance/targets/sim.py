"""The in-process simulator target: the `sim://` driver over a LockFirmware, no wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from keyslot.drivers import open_lock
from keyslot.drivers.sim import SimLock
from keyslot.protocol.clock import ManualClock
from tests.conformance.targets import ConformanceTarget, Harness, manual_advance


@asynccontextmanager
async def open_sim(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
    lock = await open_lock(f"sim://{profile}", clock=clock)
    assert isinstance(lock, SimLock)
    try:
        yield Harness(lock, lock.firmware, clock, manual_advance(clock), profile)
    finally:
        await lock.aclose()


TARGET = ConformanceTarget(name="sim", open=open_sim)

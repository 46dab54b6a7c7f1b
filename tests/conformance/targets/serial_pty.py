"""The serial driver against the simulated lock over a real pty (os.openpty), paired first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from keyslot.protocol.clock import ManualClock
from tests.conformance.targets import ConformanceTarget, Harness, manual_advance
from tests.serial_helpers import serial_rig


@asynccontextmanager
async def open_serial_pty(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
    async with serial_rig(profile, clock, transport="pty") as rig:
        assert rig.lock is not None
        yield Harness(rig.lock, rig.firmware, clock, manual_advance(clock), profile)


TARGET = ConformanceTarget(name="serial-pty", open=open_serial_pty)

"""The serial driver against the simulated lock over a real TCP socket (socket://), paired first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from keyslot.protocol.clock import ManualClock
from tests.conformance.targets import ConformanceTarget, Harness, manual_advance
from tests.serial_helpers import serial_rig


@asynccontextmanager
async def open_serial_tcp(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
    async with serial_rig(profile, clock, transport="tcp") as rig:
        assert rig.lock is not None
        yield Harness(rig.lock, rig.firmware, clock, manual_advance(clock), profile)


TARGET = ConformanceTarget(name="serial-tcp", open=open_serial_tcp)

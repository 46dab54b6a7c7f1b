"""The serial driver over a pty that corrupts 5 % of the bytes and drops 5 % of the frames.

Corruption comes in bursts of 8 bytes (line noise hits runs of bits), both directions; the
seed is fixed so a failure replays exactly. The driver gets more sends for the noise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from keyslot.protocol.clock import ManualClock
from keyslot.simulator.serial_faults import ByteFaults
from tests.conformance.targets import ConformanceTarget, Harness, manual_advance
from tests.serial_helpers import serial_rig

FAULTS = "corrupt:0.05,burst:8,drop_frames:0.05"
# a fast line and short timeouts keep the suite quick; 12 retries absorb a busy CI machine
OPTIONS = "baud=921600&timeout=0.03&retries=12&sends=200"
# one lock that reads codes back and names them, one that masks codes and has no names
PROFILES = ("kwikset", "schlage")


@asynccontextmanager
async def open_serial_lossy(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
    faults = ByteFaults.parse(FAULTS, seed=sum(map(ord, profile)))
    async with serial_rig(profile, clock, faults=faults, options=OPTIONS) as rig:
        assert rig.lock is not None
        yield Harness(rig.lock, rig.firmware, clock, manual_advance(clock), profile)
    assert faults.bytes_seen > 0  # the faults were on the path


TARGET = ConformanceTarget(name="serial-lossy", open=open_serial_lossy, profiles=PROFILES)

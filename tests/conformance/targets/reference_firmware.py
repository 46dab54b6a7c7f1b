"""The serial driver against the reference keypad firmware (`hardware/firmware/`) on a pty.

The firmware core is the code a Raspberry Pi Pico runs, here under CPython; it has one
fixed model, so this target has one profile, `reference`. The suite presses its keypad,
reboots it and injects faults between the wire and the firmware as for the simulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from keyslot.protocol.clock import ManualClock
from keyslot.simulator.firmware import LockFirmware
from tests.conformance.targets import ConformanceTarget, Harness, manual_advance
from tests.reference_firmware_rig import reference_rig


@asynccontextmanager
async def open_reference_firmware(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
    async with reference_rig(clock) as rig:
        # ReferenceControl offers the part of LockFirmware's surface the suite uses
        firmware = cast(LockFirmware, rig.control)
        yield Harness(rig.lock, firmware, clock, manual_advance(clock), profile)


TARGET = ConformanceTarget(
    name="reference-firmware", open=open_reference_firmware, profiles=("reference",)
)

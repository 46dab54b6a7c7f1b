"""The Z-Wave driver (zwave+mqtt://) against the simulated zwave-js-ui gateway on a real broker.

Z-Wave locks store no names, no schedules and no one-time codes, so the target runs the
Z-Wave profiles: `schlage` (masked codes, checksum) and `kwikset` (readable codes, no
checksum). The URL tells the driver what a user would configure for such a lock: its code
lengths and whether it masks codes.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.simulator.profiles import get_profile
from tests.conformance.targets import ConformanceTarget, Harness, manual_advance
from tests.support_zwave import zwave_rig

NODE = 5


@asynccontextmanager
async def open_zwave(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
    spec = get_profile(profile)
    lengths = f"{min(spec.code_lengths)}-{max(spec.code_lengths)}"
    with tempfile.TemporaryDirectory(prefix="keyslot-zwave-") as workdir:
        async with zwave_rig(Path(workdir), clock, {NODE: profile}) as rig:
            masked = 0 if spec.codes_readable else 1
            lock = await rig.open(NODE, masked=masked, code_lengths=lengths)
            yield Harness(lock, rig.firmware[NODE], clock, manual_advance(clock), profile)


TARGET = ConformanceTarget(
    name="zwave-mqtt",
    open=open_zwave,
    profiles=("schlage", "kwikset"),
    marks=(pytest.mark.mosquitto,),
)

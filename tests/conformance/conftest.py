"""Runs every conformance test over every (target, profile) pair.

Targets are the modules of `tests.conformance.targets` (each defines `TARGET`), plus a
`hardware` target that opens the lock given with `--lock-url` (skipped without it). On
hardware the suite writes only to slots that were empty when it started and clears them
again at the end. `keyslot bench` replaces this module's `open_lock` to hand the driver its
pairing keys, so the hardware target must open the lock through that name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from keyslot.drivers import open_lock
from keyslot.protocol.clock import ManualClock, SystemClock
from keyslot.protocol.slots import KeyslotError, SlotProgrammer
from keyslot.simulator.profiles import profile_names
from tests.conformance import targets as targets_package
from tests.conformance.targets import ConformanceTarget, Harness

HARDWARE = "hardware"


def discover_targets() -> list[ConformanceTarget]:
    found: list[ConformanceTarget] = []
    for info in sorted(pkgutil.iter_modules(targets_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{targets_package.__name__}.{info.name}")
        target = getattr(module, "TARGET", None)
        if not isinstance(target, ConformanceTarget):
            raise TypeError(f"conformance target module {info.name} defines no TARGET")
        found.append(target)
    return found


def _hardware_target(url: str) -> ConformanceTarget:
    @asynccontextmanager
    async def open_hardware(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
        del profile, clock  # a real lock is what it is, on real time
        real = SystemClock()
        lock = await open_lock(url, clock=real)
        before = {s.index for s in await lock.read_slots() if s.occupied}
        try:
            yield Harness(lock, None, real, real.sleep, HARDWARE)
        finally:
            try:
                await _clear_new_slots(lock, before)
            except KeyslotError:  # the test closed or upset the connection: use a new one
                await lock.aclose()
                lock = await open_lock(url, clock=real)
                await _clear_new_slots(lock, before)
            finally:
                await lock.aclose()

    return ConformanceTarget(name=HARDWARE, open=open_hardware, profiles=("device",))


async def _clear_new_slots(lock: SlotProgrammer, before: set[int]) -> None:
    for slot in await lock.read_slots():
        if slot.occupied and slot.index not in before:
            await lock.clear_slot(slot.index)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    params = []
    for target in discover_targets():
        for profile in target.profiles or profile_names():
            params.append(
                pytest.param((target, profile), id=f"{target.name}-{profile}", marks=target.marks)
            )
    url = metafunc.config.getoption("--lock-url")
    skip_hardware = pytest.mark.skip(reason="no real lock given (--lock-url)")
    params.append(
        pytest.param(
            (_hardware_target(url or ""), "device"),
            id=f"{HARDWARE}-device",
            marks=(pytest.mark.hardware,) if url else (pytest.mark.hardware, skip_hardware),
        )
    )
    metafunc.parametrize("conformance_case", params)


@pytest.fixture
async def harness(
    conformance_case: tuple[ConformanceTarget, str], clock: ManualClock
) -> AsyncIterator[Harness]:
    target, profile = conformance_case
    async with target.open(profile, clock) as opened:
        yield opened

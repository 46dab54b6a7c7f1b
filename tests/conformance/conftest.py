"""Runs every conformance test over every (target, profile) pair.

Targets are the modules of `tests.conformance.targets` (each defines `TARGET`), plus a
`hardware` target that opens the lock given with `--lock-url` (skipped without it), with
the pairing keys of the keyslot store given with `--lock-data-dir` (what `keyslot bench`
passes). On hardware the suite writes only to slots that were empty when it started and
clears them again at the end, on a new connection when the test closed or upset its own.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest

from keyslot.drivers import PairingKeyStore, open_lock
from keyslot.protocol.clock import Clock, ManualClock, SystemClock
from keyslot.protocol.slots import (
    KeyslotError,
    LockEvent,
    LockInfo,
    Slot,
    SlotEntry,
    SlotProgrammer,
)
from keyslot.simulator.profiles import profile_names
from tests.conformance import targets as targets_package
from tests.conformance.targets import ConformanceTarget, Harness

HARDWARE = "hardware"
DATA_DIR_OPTION = "--lock-data-dir"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        DATA_DIR_OPTION,
        action="store",
        default=None,
        help="a keyslot data directory whose pairing keys the hardware target uses",
    )


def discover_targets() -> list[ConformanceTarget]:
    found: list[ConformanceTarget] = []
    for info in sorted(pkgutil.iter_modules(targets_package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{targets_package.__name__}.{info.name}")
        target = getattr(module, "TARGET", None)
        if not isinstance(target, ConformanceTarget):
            raise TypeError(f"conformance target module {info.name} defines no TARGET")
        found.append(target)
    return found


class TrackedLock:
    """A lock that remembers whether the test closed it, so cleanup does not use it then.

    Every `SlotProgrammer` method passes through; add new ones here as the interface grows.
    """

    def __init__(self, lock: SlotProgrammer) -> None:
        self.inner = lock
        self.closed = False

    async def info(self) -> LockInfo:
        return await self.inner.info()

    async def read_slots(self) -> Sequence[Slot]:
        return await self.inner.read_slots()

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        return await self.inner.write_slot(index, entry)

    async def clear_slot(self, index: int) -> None:
        await self.inner.clear_slot(index)

    def events(self) -> AsyncIterator[LockEvent]:
        return self.inner.events()

    async def set_clock(self, now: datetime) -> None:
        await self.inner.set_clock(now)

    async def slots_checksum(self) -> int | None:
        return await self.inner.slots_checksum()

    async def pair_offline_pins(self, host_public_key: bytes) -> bytes:
        return await self.inner.pair_offline_pins(host_public_key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # anything a driver offers beyond the interface

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


@contextlib.contextmanager
def pairing_keys(data_dir: str | None) -> Iterator[PairingKeyStore | None]:
    """The keyslot store of `data_dir` (its pairing keys), or None without one."""
    if not data_dir:
        yield None
        return
    from keyslot.store import DB_FILE_NAME, Store

    directory = Path(data_dir).expanduser()
    if not (directory / DB_FILE_NAME).is_file():
        raise pytest.UsageError(f"{DATA_DIR_OPTION} {data_dir}: no keyslot store there")
    store = Store.open(directory)
    try:
        yield store
    finally:
        store.close()


def _hardware_target(url: str, data_dir: str | None) -> ConformanceTarget:
    @asynccontextmanager
    async def open_hardware(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
        del profile, clock  # a real lock is what it is, on real time
        real = SystemClock()
        with pairing_keys(data_dir) as keys:
            lock = TrackedLock(await open_lock(url, clock=real, keys=keys))
            before: set[int] | None = None
            try:
                before = {s.index for s in await lock.read_slots() if s.occupied}
                yield Harness(lock, None, real, real.sleep, HARDWARE)
            finally:
                try:
                    if before is not None:
                        await _clean_up(url, lock, before, real, keys)
                finally:
                    await lock.aclose()

    return ConformanceTarget(name=HARDWARE, open=open_hardware, profiles=("device",))


async def _clean_up(
    url: str, lock: TrackedLock, before: set[int], clock: Clock, keys: PairingKeyStore | None
) -> None:
    """Clear the slots the test filled: through its lock if it is still usable, else anew."""
    if not lock.closed:
        try:
            await _clear_new_slots(lock, before)
        except KeyslotError:  # the test upset the connection: use a new one
            pass
        else:
            return
    fresh = await open_lock(url, clock=clock, keys=keys)
    try:
        await _clear_new_slots(fresh, before)
    finally:
        await fresh.aclose()


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
    data_dir = metafunc.config.getoption(DATA_DIR_OPTION, default=None)
    skip_hardware = pytest.mark.skip(reason="no real lock given (--lock-url)")
    params.append(
        pytest.param(
            (_hardware_target(url or "", data_dir), "device"),
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

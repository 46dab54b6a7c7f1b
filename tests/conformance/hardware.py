"""The `hardware` conformance target: the real lock given with `--lock-url`.

A real lock holds other people's codes. The suite may change only the slots that were empty
when the run reached the lock first: `GuardedLock` refuses any other write or clear before
it reaches the lock (`ForeignSlotError`) and remembers every slot it let a write through to.
After each check (and before the next, for a check whose cleanup failed) exactly those
slots are cleared again, on a new connection if the check closed or upset its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
from tests.conformance.helpers import ForeignSlotError
from tests.conformance.targets import ConformanceTarget, Harness

__all__ = [
    "DATA_DIR_OPTION",
    "HARDWARE",
    "GuardedLock",
    "HardwareRun",
    "TrackedLock",
    "hardware_target",
]

HARDWARE = "hardware"
DATA_DIR_OPTION = "--lock-data-dir"


@dataclass
class HardwareRun:
    """What a whole run knows about the real lock: the slots it may use, those it wrote."""

    url: str
    data_dir: str | None = None
    usable: frozenset[int] | None = None  # empty when the run first read the lock
    written: set[int] = field(default_factory=set)  # a write was sent there (it may have landed)


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


class GuardedLock(TrackedLock):
    """A real lock on which the suite may only change slots that were empty at the start."""

    def __init__(self, lock: SlotProgrammer, run: HardwareRun) -> None:
        super().__init__(lock)
        self.run = run

    def _check(self, index: int, action: str) -> None:
        if self.run.usable is None or index not in self.run.usable:
            raise ForeignSlotError(
                f"the suite may not {action} slot {index}: it was not empty when the run "
                "started (someone's code, or outside the lock's numbering)"
            )

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        self._check(index, "write")
        self.run.written.add(index)  # before sending: a write that times out may still land
        return await super().write_slot(index, entry)

    async def clear_slot(self, index: int) -> None:
        self._check(index, "clear")
        await super().clear_slot(index)


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


def hardware_target(run: HardwareRun) -> ConformanceTarget:
    """The target for `run.url`; every check of the run shares `run`."""

    @asynccontextmanager
    async def open_hardware(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
        del profile, clock  # a real lock is what it is, on real time
        real = SystemClock()
        with pairing_keys(run.data_dir) as keys:
            lock = GuardedLock(await open_lock(run.url, clock=real, keys=keys), run)
            opened = False
            try:
                slots = await lock.read_slots()
                if run.usable is None:
                    run.usable = frozenset(s.index for s in slots if not s.occupied)
                await _clear_written(lock.inner, run, slots)  # an earlier cleanup failed
                opened = True
                yield Harness(lock, None, real, real.sleep, HARDWARE)
            finally:
                try:
                    if opened:
                        await _clean_up(run, lock, real, keys)
                finally:
                    await lock.aclose()

    return ConformanceTarget(name=HARDWARE, open=open_hardware, profiles=("device",))


async def _clean_up(
    run: HardwareRun, lock: TrackedLock, clock: Clock, keys: PairingKeyStore | None
) -> None:
    """Clear what the suite wrote: through the check's lock if it is still usable, else anew."""
    if not lock.closed:
        try:
            await _clear_written(lock.inner, run)
        except KeyslotError:  # the check upset the connection: use a new one
            pass
        else:
            return
    fresh = await open_lock(run.url, clock=clock, keys=keys)
    try:
        await _clear_written(fresh, run)
    finally:
        await fresh.aclose()


async def _clear_written(
    lock: SlotProgrammer, run: HardwareRun, slots: Sequence[Slot] | None = None
) -> None:
    """Clear every slot the suite wrote to that holds a code; no other slot is touched."""
    if not run.written:
        return
    if slots is None:
        slots = await lock.read_slots()
    for slot in slots:
        if slot.occupied and slot.index in run.written:
            await lock.clear_slot(slot.index)

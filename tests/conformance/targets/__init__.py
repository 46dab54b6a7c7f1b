"""Conformance targets: one module per transport, each defining `TARGET = ConformanceTarget(...)`.

A target opens a lock of a simulator profile behind its transport and yields a `Harness`.
The conftest discovers every module in this package; adding a transport needs no change to
the suite. A target that cannot reach the firmware (real hardware) yields `firmware=None`,
and the tests that need to press keys or inject faults skip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from keyslot.protocol.clock import Clock, ManualClock
from keyslot.protocol.slots import SlotProgrammer
from keyslot.simulator.firmware import LockFirmware

__all__ = ["ConformanceTarget", "Harness", "OpenHarness", "manual_advance"]


@dataclass(frozen=True)
class Harness:
    """A lock under test and what the suite may do behind its back.

    `advance(seconds)` moves the clock the lock and driver share (a ManualClock for the
    simulator targets, real sleeping on hardware) and lets pending work run.
    """

    lock: SlotProgrammer
    firmware: LockFirmware | None
    clock: Clock
    advance: Callable[[float], Awaitable[None]]
    profile: str = ""


OpenHarness = Callable[[str, ManualClock], AbstractAsyncContextManager[Harness]]


@dataclass(frozen=True)
class ConformanceTarget:
    """A transport to run the suite over.

    `open(profile_name, clock)` is an async context manager factory yielding a `Harness`;
    it owns everything it starts (servers, brokers, tasks) and stops it on exit.
    `profiles` limits the profiles it supports (None: every simulator profile); `marks`
    are pytest marks added to each of its cases (e.g. `pytest.mark.mosquitto`).
    """

    name: str
    open: OpenHarness
    profiles: tuple[str, ...] | None = None
    marks: tuple[Any, ...] = field(default=())


def manual_advance(clock: Clock) -> Callable[[float], Awaitable[None]]:
    """An `advance` for a target on `clock`: steps a ManualClock, sleeps on any other."""

    async def advance(seconds: float) -> None:
        if isinstance(clock, ManualClock):
            await clock.run_for(seconds, step=max(0.05, seconds / 50))
        else:
            await clock.sleep(seconds)

    return advance

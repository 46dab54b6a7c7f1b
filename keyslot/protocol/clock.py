"""Injectable time: real code takes a `Clock`, tests drive a `ManualClock` instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class ClockTimeout(TimeoutError):
    """A wait measured on a `Clock` ran out."""


class Clock(Protocol):
    """Wall time for schedules and records, plus a sleep that tests can fast-forward."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and backoff)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Real time sped up by `factor`: a demo watches an hour pass in seconds."""

    def __init__(self, factor: float, start: datetime | None = None) -> None:
        if factor <= 0:
            raise ValueError("factor must be positive")
        self.factor = factor
        self._start_wall = start or utcnow()
        self._start_mono = time.monotonic()

    def now(self) -> datetime:
        return self._start_wall + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        return (time.monotonic() - self._start_mono) * self.factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)


class ManualClock:
    """A clock that moves only when told to; sleepers wake when `advance` passes their deadline."""

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._t = 0.0
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._t)

    def monotonic(self) -> float:
        return self._t

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock (cancelled waits excluded)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def next_deadline(self) -> float | None:
        live = [d for d, _, f in self._sleepers if not f.done()]
        return min(live) - self._t if live else None

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), fut))
        await fut

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._t += seconds
        while self._sleepers and self._sleepers[0][0] <= self._t:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def set(self, when: datetime) -> None:
        """Jump to a wall time (forward only)."""
        self.advance((when - self.now()).total_seconds())

    async def run_for(self, seconds: float, step: float = 0.05) -> None:
        """Advance in small steps, letting the event loop run between them."""
        end = self._t + seconds
        while self._t < end:
            for _ in range(3):
                await asyncio.sleep(0)
            self.advance(min(step, end - self._t))
        for _ in range(3):
            await asyncio.sleep(0)


async def wait_for(clock: Clock, aw: Awaitable[T], timeout: float) -> T:
    """`asyncio.wait_for` measured on `clock`, so a `ManualClock` decides when it times out."""
    if type(clock) is SystemClock:  # the loop's own clock: no task or timer task needed
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await aw
        except TimeoutError:
            if deadline.expired():
                raise ClockTimeout(f"timed out after {timeout:g} s") from None
            raise
    task = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        timer.cancel()
        raise
    if task in done:
        timer.cancel()
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):  # the timeout is what matters
        await task
    raise ClockTimeout(f"timed out after {timeout:g} s")

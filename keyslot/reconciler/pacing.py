"""When one lock's worker starts its next pass.

A pass starts when the worker is woken (a code changed, a keypad event), at the next time
boundary of the lock's codes, or after `Settings.audit_interval` of quiet; never while the
lock's backoff lasts. A lock whose codes keep changing waits for `Settings.pass_interval`
(longer for a lock with many codes) since its last pass began, so that the changes share a
pass. Every wait is on the
reconciler's clock, and ends when the worker stops.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from keyslot.reconciler.policy import Backoff
from keyslot.reconciler.settings import Shared

__all__ = ["Pacing"]


class Pacing:
    """The wake-ups, stop request and timers of one lock's worker."""

    def __init__(self, shared: Shared, backoff: Backoff) -> None:
        self._shared = shared
        self._backoff = backoff
        self._woken = asyncio.Event()
        self._stop = asyncio.Event()
        self.stopping = False
        self.next: datetime | None = None  # the next time boundary of the lock's codes
        self._due_at: float | None = None  # when the idle wait ends (monotonic)
        self._pass_started: float | None = None  # when the last pass began (monotonic)
        self.codes = 0  # the lock's codes at the last pass

    def wake(self) -> None:
        self._woken.set()

    def stop(self) -> None:
        self.stopping = True
        self._stop.set()

    def begin_pass(self) -> None:
        self._woken.clear()
        self._due_at = None
        self._pass_started = self._shared.clock.monotonic()

    def busy(self, running: bool) -> bool:
        """A pass is due, or `running` (a pass or a lock event is under way)."""
        now = self._shared.clock.monotonic()
        retry_at = self._backoff.retry_at
        if retry_at is not None and now < retry_at:
            return running  # backing off: quiet until the retry time
        due = self._due_at is not None and now >= self._due_at
        return running or self._woken.is_set() or due

    async def _sleep_until(self, deadline: float) -> None:
        clock = self._shared.clock
        await clock.sleep(max(0.0, deadline - clock.monotonic()))

    async def _wait(self, seconds: float, *, wakeable: bool) -> None:
        """Sleep on the clock until `seconds` pass, the worker stops or (if `wakeable`) wakes."""
        deadline = self._shared.clock.monotonic() + seconds
        waits: list[asyncio.Future[object]] = [
            asyncio.ensure_future(self._stop.wait()),
            asyncio.ensure_future(self._sleep_until(deadline)),
        ]
        if wakeable:
            waits.append(asyncio.ensure_future(self._woken.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def until_due(self) -> bool:
        """Wait for the next pass; False when stopping."""
        clock = self._shared.clock
        while not self.stopping:
            pause = self._backoff.waiting(clock.monotonic())
            if pause > 0:  # backing off: a wake waits for the retry time as well
                await self._wait(pause, wakeable=False)
                continue
            if self._woken.is_set():
                gather = self._gather_time(clock.monotonic())
                if gather > 0:  # changes keep coming: let more join this pass
                    await self._wait(gather, wakeable=False)
                    continue
                return True
            timeout = self._idle_timeout()
            started = clock.monotonic()
            self._due_at = started + timeout
            await self._wait(timeout, wakeable=True)
            if self._woken.is_set():
                continue  # woken: see above (it may wait to gather more changes)
            if clock.monotonic() - started >= timeout:
                return not self.stopping
        return False

    def _gather_time(self, now: float) -> float:
        """How long to wait before the next pass (`Settings.pass_interval`, and
        `pass_interval_per_code` for each code of the lock)."""
        started = self._pass_started
        settings = self._shared.settings
        interval = max(settings.pass_interval, settings.pass_interval_per_code * self.codes)
        if started is None or interval <= 0:
            return 0.0
        return max(0.0, started + interval - now)

    def _idle_timeout(self) -> float:
        settings = self._shared.settings
        timeout = settings.audit_interval
        if self.next is not None:
            until = (self.next - self._shared.clock.now()).total_seconds()
            timeout = min(timeout, max(0.0, until))
        return timeout

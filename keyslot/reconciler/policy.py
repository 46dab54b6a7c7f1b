"""Retry policy: exponential backoff with jitter, a delay warning, and suspension of a lock that
keeps failing. Pure: the caller supplies the clock reading and the random source.

Only retryable errors (the lock did not answer, or said "busy") count here; a final error is
a verdict on one code, not on the lock, and never retried blindly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Seconds are measured on the reconciler's `Clock`.

    After `warn_after` failures in a row, codes waiting on the lock get the warning
    `delay_in_setting_on_device`; after `offline_after` the lock is marked offline
    (`device_offline`) and retried every `suspend_delay`..`suspend_max` seconds only.
    """

    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.5  # each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]
    warn_after: int = 2
    offline_after: int = 5
    suspend_delay: float = 300.0
    suspend_max: float = 3600.0
    reconnect_after: int = 3  # reopen the lock's connection after this many failures in a row

    def __post_init__(self) -> None:
        if self.base_delay <= 0 or self.factor < 1 or self.max_delay < self.base_delay:
            raise ValueError("retry delays must be positive and grow")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if not 1 <= self.warn_after <= self.offline_after:
            raise ValueError("warn_after must be at least 1 and at most offline_after")

    def delay(self, failures: int, rng: random.Random) -> float:
        """How long to wait after the `failures`-th failure in a row (1 = the first)."""
        if failures >= self.offline_after:
            steps = failures - self.offline_after
            raw = min(self.suspend_max, self.suspend_delay * self.factor**steps)
        else:
            raw = min(self.max_delay, self.base_delay * self.factor ** max(0, failures - 1))
        if self.jitter:
            raw *= rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return raw


@dataclass(slots=True)
class Backoff:
    """The failure streak of one lock and when it may be tried again (monotonic seconds)."""

    policy: RetryPolicy
    rng: random.Random
    failures: int = 0
    retry_at: float | None = None

    def fail(self, now: float) -> float:
        """Count one more failure; returns the seconds until the next attempt."""
        self.failures += 1
        wait = self.policy.delay(self.failures, self.rng)
        self.retry_at = now + wait
        return wait

    def succeed(self) -> bool:
        """The lock answered: the streak ends. True when it had been offline."""
        was_offline = self.offline
        self.failures = 0
        self.retry_at = None
        return was_offline

    @property
    def warn(self) -> bool:
        return self.failures >= self.policy.warn_after

    @property
    def offline(self) -> bool:
        return self.failures >= self.policy.offline_after

    def waiting(self, now: float) -> float:
        """Seconds left before the next attempt is allowed (0 when it is)."""
        if self.retry_at is None:
            return 0.0
        return max(0.0, self.retry_at - now)

"""When a time-bound code is first sent to its lock: the one policy that the service shows
(a code `unset` with `deferring_creation` until then) and the reconciler follows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Timing"]


@dataclass(frozen=True, slots=True)
class Timing:
    """`jit_lead` before its start on a lock without native schedules, up to
    `native_horizon` ahead on one with them (Seam: 60 minutes and 72 hours)."""

    jit_lead: timedelta = timedelta(minutes=60)
    native_horizon: timedelta = timedelta(hours=72)

    def sent_from(self, starts_at: datetime, native: bool) -> datetime:
        """When a code starting at `starts_at` is first due on its lock (`native`: with the
        lock's own schedule)."""
        return starts_at - (self.native_horizon if native else self.jit_lead)

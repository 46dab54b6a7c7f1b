"""When a code belongs on its lock: ongoing always; time-bound natively pre-loaded or just in time.

A lock with native schedules enforces the time frame itself, so the code is written ahead (up
to `native_horizon`) with its schedule. Without them keyslot writes the code `jit_lead` before
`starts_at` and clears it at `ends_at`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from keyslot.model.timing import Timing
from keyslot.protocol.slots import LockInfo, Schedule
from keyslot.reconciler.state import CodeSpec, Content, Fingerprint, Phase

__all__ = ["CodeStatus", "Timing", "next_boundary", "settled_status", "target_content"]


class CodeStatus(enum.StrEnum):
    """Seam's access code status."""

    SETTING = "setting"
    SET = "set"
    UNSET = "unset"
    REMOVING = "removing"
    UNKNOWN = "unknown"


def _uses_native(spec: CodeSpec, native_schedules: bool) -> bool:
    return spec.time_bound and native_schedules and spec.prefer_native_scheduling


def _due(spec: CodeSpec, now: datetime, native: bool, timing: Timing) -> tuple[bool, bool]:
    """(whether the code belongs on the lock now, whether with a native schedule)."""
    if spec.starts_at is None or spec.ends_at is None:
        return True, False
    if now >= spec.ends_at:
        return False, False
    scheduled = _uses_native(spec, native)
    return now >= timing.sent_from(spec.starts_at, scheduled), scheduled


def target_content(spec: CodeSpec, now: datetime, lock: LockInfo, timing: Timing) -> Content | None:
    """What the code's slot should hold at `now`, or None when the code belongs off the lock.

    A lock that keeps no names is sent none, so a new name alone costs it no write. A
    one-time code is programmed as such where the lock has one-time codes; once used
    (`spent`) it belongs off the lock for good.
    """
    if spec.removing or spec.code is None or spec.hold or spec.removal_accepted or spec.spent:
        return None
    due, scheduled = _due(spec, now, lock.native_schedules, timing)
    if not due:
        return None
    schedule = None
    if scheduled and spec.starts_at is not None and spec.ends_at is not None:
        schedule = Schedule(spec.starts_at, spec.ends_at)
    name = spec.name if lock.name_rules is not None else None
    return Content(spec.code, name, schedule, one_time=spec.one_time and lock.one_time_codes)


def settled_status(
    spec: CodeSpec,
    now: datetime,
    lock: LockInfo,
    timing: Timing,
    fingerprint: Fingerprint,
) -> CodeStatus:
    """The status a code has given its committed slot record (the lock is taken to hold it).

    A natively scheduled code waiting on the lock for its start is `unset`, as in Seam.
    """
    record = spec.record
    if spec.removing:
        return CodeStatus.REMOVING
    if spec.code is None:
        return CodeStatus.SETTING
    if spec.hold:  # due but refused by the lock: still on its way, with an error
        due = _due(spec, now, lock.native_schedules, timing)[0]
        return CodeStatus.SETTING if due else CodeStatus.UNSET
    target = target_content(spec, now, lock, timing)
    if target is None:
        return CodeStatus.REMOVING if record is not None else CodeStatus.UNSET
    if record is None or record.phase is not Phase.SET or not record.holds(target, fingerprint):
        return CodeStatus.SETTING
    if target.schedule is not None and now < target.schedule.starts_at:
        return CodeStatus.UNSET
    return CodeStatus.SET


def next_boundary(
    specs: Iterable[CodeSpec], now: datetime, lock: LockInfo, timing: Timing
) -> datetime | None:
    """The next moment at which a code's target or status changes by time alone."""
    best: datetime | None = None
    for spec in specs:
        if spec.removing or spec.starts_at is None or spec.ends_at is None:
            continue
        moments: tuple[datetime, ...]
        native = _uses_native(spec, lock.native_schedules)
        sent = timing.sent_from(spec.starts_at, native)
        moments = (sent, spec.starts_at, spec.ends_at) if native else (sent, spec.ends_at)
        for moment in moments:
            if moment > now and (best is None or moment < best):
                best = moment
    return best

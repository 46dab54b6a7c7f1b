"""How full a lock's backup pool is, as Seam shows it: the device gets
`empty_backup_access_code_pool` (no backup ready) or `partial_backup_access_code_pool`
(fewer ready than configured), and each code that may pull a backup gets
`is_backup_access_code_available`. Pure: the pool keeper commits what these return.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from keyslot.backup_codes import in_pool, is_ready
from keyslot.model import (
    DeviceError,
    DeviceErrorCode,
    DeviceWarning,
    DeviceWarningCode,
)
from keyslot.store import CodeRecord, Desired, DeviceRecord

__all__ = [
    "EMPTY",
    "LOW",
    "Issues",
    "availability",
    "device_issues",
    "has_pool_issues",
    "members",
    "ready",
]

EMPTY = DeviceErrorCode.EMPTY_BACKUP_ACCESS_CODE_POOL
LOW = DeviceWarningCode.PARTIAL_BACKUP_ACCESS_CODE_POOL

Issues = tuple[tuple[DeviceError, ...], tuple[DeviceWarning, ...]]


def members(records: Iterable[CodeRecord]) -> list[CodeRecord]:
    """The backups waiting in the pool."""
    return [r for r in records if r.desired is Desired.PRESENT and in_pool(r.access_code)]


def ready(records: Iterable[CodeRecord]) -> int:
    """How many backups of the pool are on the lock, ready to hand out."""
    return sum(1 for r in members(records) if is_ready(r.access_code))


def availability(records: Iterable[CodeRecord], now: datetime) -> dict[str, bool]:
    """`is_backup_access_code_available` for the codes where it must change.

    A time-bound code created with `use_backup_access_code_pool` may pull a backup while one
    is ready, and keeps the one it pulled.
    """
    codes = list(records)
    count = ready(codes)
    backups = {r.access_code_id for r in codes if r.access_code.is_backup}
    changes: dict[str, bool] = {}
    for record in codes:
        code = record.access_code
        if code.is_backup or not record.options.use_backup_access_code_pool:
            continue
        available = (
            record.desired is Desired.PRESENT
            and code.ends_at is not None
            and code.ends_at > now
            and (count > 0 or code.pulled_backup_access_code_id in backups)
        )
        if available != code.is_backup_access_code_available:
            changes[record.access_code_id] = available
    return changes


def has_pool_issues(device: DeviceRecord) -> bool:
    return any(e.error_code is EMPTY for e in device.errors) or any(
        w.warning_code is LOW for w in device.warnings
    )


def device_issues(device: DeviceRecord, size: int, count: int, now: datetime) -> Issues | None:
    """The device's errors and warnings with `count` of `size` backups ready, or None when
    they stay as they are (an issue that still holds keeps its time)."""
    errors, warnings = device.errors, device.warnings
    has_empty = any(e.error_code is EMPTY for e in errors)
    if size and not count:
        if not has_empty:
            errors = (*errors, DeviceError(EMPTY, "the lock has no backup access code ready", now))
    elif has_empty:
        errors = tuple(e for e in errors if e.error_code is not EMPTY)
    lows = [w for w in warnings if w.warning_code is LOW]
    wanted = f"the lock has {count} of {size} backup access codes ready"
    if 0 < count < size:
        if [w.message for w in lows] != [wanted]:
            kept = tuple(w for w in warnings if w.warning_code is not LOW)
            warnings = (*kept, DeviceWarning(LOW, wanted, now))
    elif lows:
        warnings = tuple(w for w in warnings if w.warning_code is not LOW)
    if errors == device.errors and warnings == device.warnings:
        return None
    return errors, warnings

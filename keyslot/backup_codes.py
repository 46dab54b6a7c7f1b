"""Backup access codes (Seam's `use_backup_access_code_pool`): the facts the service and the
reconciler share (pure).

A lock whose pool is enabled keeps a few spare codes programmed, ready to hand out when a
code fails to reach the lock. A backup is an ordinary managed access code with `is_backup`.
While it waits in the pool it is ongoing; pulling it gives it the time frame of the code it
stands in for, which takes it out of the pool for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyslot.model import AccessCode, AccessCodeStatus
from keyslot.names import fit_name
from keyslot.protocol.slots import LockInfo, NameRejected, NameRules

__all__ = [
    "DEFAULT_POOL_SIZE",
    "FREE_SLOTS_KEPT",
    "MAX_POOL_SIZE",
    "POOL_SIZE_SETTING",
    "backup_name",
    "code_capacity",
    "in_pool",
    "is_ready",
    "pool_size",
]

# Device setting: how many backups the lock keeps (0 or absent: no pool).
POOL_SIZE_SETTING = "backup_access_code_pool_size"
DEFAULT_POOL_SIZE = 2
MAX_POOL_SIZE = 10
# Backups use spare slots only: this many slots always stay free for the next regular code.
FREE_SLOTS_KEPT = 1


def pool_size(settings: Mapping[str, Any]) -> int:
    """The configured pool size of a device (0 when it has no pool)."""
    value = settings.get(POOL_SIZE_SETTING)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(MAX_POOL_SIZE, value))


def in_pool(code: AccessCode) -> bool:
    """A backup waiting in the pool (not pulled: it has no time frame yet)."""
    return code.is_backup and code.ends_at is None


def is_ready(code: AccessCode) -> bool:
    """A backup of the pool that is on the lock, ready to hand out. `unknown` counts: a code
    is unknown only once it was set and the lock then stopped answering, which is when a
    backup is needed most."""
    return in_pool(code) and code.status in (AccessCodeStatus.SET, AccessCodeStatus.UNKNOWN)


def code_capacity(info: LockInfo) -> int:
    """How many codes the lock holds at once."""
    if info.max_active_codes is None:
        return info.slot_count
    return min(info.slot_count, info.max_active_codes)


def backup_name(access_code_id: str, rules: NameRules | None) -> str | None:
    """`Backup <last 8 characters of its id>`, or None where the lock would refuse that name
    (the lock then shows none). An id begins with its creation time (`new_id`), so its
    random end tells backups made in the same minute apart."""
    name = f"Backup {access_code_id[-8:]}"
    if rules is None:
        return name
    try:
        fit_name(name, rules)
    except NameRejected:
        return None
    return name

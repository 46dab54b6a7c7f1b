"""Backup access codes: enabling a lock's pool, and Seam's `pull_backup_access_code`.

The reconciler keeps the pool filled (`keyslot.reconciler.backup_pool`); the service only
turns it on and hands a ready backup to a code that asks for one. Pulling is idempotent: a
code that pulled a backup gets the same one back on every later call.
"""

from __future__ import annotations

from dataclasses import replace

from keyslot.backup_codes import DEFAULT_POOL_SIZE, MAX_POOL_SIZE, POOL_SIZE_SETTING, is_ready
from keyslot.model import (
    AccessCode,
    AccessCodeNotFound,
    AccessCodeWarning,
    AccessCodeWarningCode,
    Conflict,
    EventType,
    InvalidInput,
)
from keyslot.service_base import ServiceBase, as_int, as_str
from keyslot.store import CodeRecord, Desired, DeviceRecord, Store

__all__ = ["BackupCodes", "enable_pool"]


def enable_pool(store: Store, device: DeviceRecord) -> None:
    """Give `device` a backup pool of the default size unless its size was ever set: a pool
    turned off (size 0, as a gateway's config may say) stays off. Runs inside the caller's
    transaction; the caller wakes the reconciler."""
    if POOL_SIZE_SETTING in device.settings:
        return
    store.devices.update(
        device.device_id,
        lambda d: replace(d, settings={**d.settings, POOL_SIZE_SETTING: DEFAULT_POOL_SIZE}),
    )


class BackupCodes(ServiceBase):
    """Seam's `/access_codes/pull_backup_access_code`, and sizing a lock's backup pool."""

    def pull_backup_access_code(self, *, access_code_id: str) -> tuple[AccessCode, AccessCode]:
        """The access code and the backup that stands in for it, from its lock's pool.

        Only a time-bound code created with `use_backup_access_code_pool` may pull one (as in
        Seam). The backup is one already on the lock; it takes the code's end (and starts
        now), leaves the pool, and the original gets `pulled_backup_access_code_id` and the
        warning `using_backup_access_code`. The reconciler then refills the pool.
        """
        cid = as_str(access_code_id, "access_code_id") or ""
        with self.store.transaction():
            record = self.store.access_codes.get(cid)
            if record is None or record.desired is Desired.ABSENT:
                raise AccessCodeNotFound(f"access code {access_code_id} not found")
            original = record.access_code
            pulled = self._pulled_before(original)
            if pulled is not None:
                return original, pulled
            self._check_can_pull(record)
            chosen = self._ready_backup(original.device_id)
            now = self.now()
            backup = replace(chosen.access_code, starts_at=now, ends_at=original.ends_at)
            stored = self.store.access_codes.put(
                replace(
                    chosen,
                    access_code=backup,
                    # it works at once: no rewrite for a native schedule, removed at the end
                    options=replace(chosen.options, prefer_native_scheduling=False),
                ),
                expected_revision=chosen.revision,
            )
            using = replace(
                original,
                pulled_backup_access_code_id=backup.access_code_id,
                is_backup_access_code_available=True,
            ).with_warning(
                AccessCodeWarning(
                    AccessCodeWarningCode.USING_BACKUP_ACCESS_CODE,
                    "a backup access code stands in for this access code",
                    now,
                )
            )
            self.store.access_codes.put(
                replace(record, access_code=using), expected_revision=record.revision
            )
            self.event(
                EventType.ACCESS_CODE_BACKUP_ACCESS_CODE_PULLED,
                device_id=original.device_id,
                access_code_id=original.access_code_id,
                data={"backup_access_code_id": backup.access_code_id},
            )
            self.wake_after_commit([original.device_id])
        return using, stored.access_code

    def _pulled_before(self, original: AccessCode) -> AccessCode | None:
        """The backup this code pulled earlier, if it still exists."""
        backup_id = original.pulled_backup_access_code_id
        if backup_id is None:
            return None
        backup = self.store.access_codes.get(backup_id)
        if backup is None or backup.desired is Desired.ABSENT:
            return None
        return backup.access_code

    def _check_can_pull(self, record: CodeRecord) -> None:
        code = record.access_code
        field = "access_code_id"
        if code.is_backup:
            raise InvalidInput.for_field(field, "a backup access code has no backup of its own")
        if code.is_offline_access_code:
            raise InvalidInput.for_field(field, "an offline access code has no backup")
        if not record.options.use_backup_access_code_pool:
            raise InvalidInput.for_field(
                field, "the access code was not created with use_backup_access_code_pool"
            )
        if code.ends_at is None:
            raise InvalidInput.for_field(
                field, "backup access codes can be pulled for time-bound access codes only"
            )
        if code.ends_at <= self.now():
            raise InvalidInput.for_field(field, "the access code has ended")

    def _ready_backup(self, device_id: str) -> CodeRecord:
        """The oldest backup of the pool that is on the lock (set, or unknown while the lock
        does not answer)."""
        ready = [
            r
            for r in self.store.access_codes.for_device(device_id)
            if r.desired is Desired.PRESENT and is_ready(r.access_code)
        ]
        if not ready:
            raise Conflict(
                "no backup access code of this device is ready; the pool is being refilled",
                type="no_backup_access_code_available",
            )
        return min(ready, key=lambda r: (r.access_code.created_at, r.access_code_id))

    def set_backup_access_code_pool(self, *, device_id: str, size: int) -> DeviceRecord:
        """How many backups a lock keeps (0 turns its pool off; backups not pulled go).

        Not a Seam call: a gateway's own setting (`backup_access_code_pool_size` of a lock in
        its config), also made by the first code created with `use_backup_access_code_pool`
        (to the default size) on a lock whose size was never set.
        """
        wanted = as_int(size, "size")
        if wanted is None or not 0 <= wanted <= MAX_POOL_SIZE:
            raise InvalidInput.for_field(
                "size", f"must be a whole number from 0 to {MAX_POOL_SIZE}"
            )
        with self.store.transaction():
            self.device_record(device_id)
            updated = self.store.devices.update(
                device_id, lambda d: replace(d, settings={**d.settings, POOL_SIZE_SETTING: wanted})
            )
            self.wake_after_commit([device_id])
        return updated

"""Keeping a lock's backup access code pool full, in spare slots only, and saying how full it is.

Before each pass the worker calls `keep_pool`: backups refused for good by the lock are
replaced, missing ones are created (PINs from `keyslot.codes.generate_code` under the lock's
rules), and surplus ones are removed. The pool never holds more than

    capacity - (regular codes due now or holding a slot) - (unmanaged codes) - FREE_SLOTS_KEPT

backups, so the next regular code always finds a free slot, and when regular codes need
more room the backups not yet pulled give way first (those not on the lock yet, then the
newest). How full the pool is (`keyslot.reconciler.backup_report`) is recorded as the pass
finds it, so a lock that keeps failing still shows an empty pool, and again after the pass
(`Pool.report`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from keyslot.backup_codes import FREE_SLOTS_KEPT, backup_name, code_capacity, in_pool, pool_size
from keyslot.codes import CodeSpaceExhausted, generate_code
from keyslot.model import (
    AccessCode,
    AccessCodeErrorCode,
    AccessCodeStatus,
    CreatingMutation,
    DeletingMutation,
    Event,
    EventType,
    new_id,
)
from keyslot.protocol.slots import LockInfo
from keyslot.reconciler.backup_report import (
    availability,
    device_issues,
    has_pool_issues,
    members,
    ready,
)
from keyslot.reconciler.jobs import Book
from keyslot.reconciler.ledger import Ledger, Outcome, spec_of
from keyslot.reconciler.settings import Shared
from keyslot.reconciler.state import Fingerprint
from keyslot.reconciler.timing import Timing, target_content
from keyslot.store import CodeOptions, CodeRecord, Desired, DeviceRecord, Store, UnmanagedRecord

__all__ = ["Pool", "PoolPlan", "keep_pool", "plan_pool"]

log = logging.getLogger(__name__)

# A backup with one of these errors will not reach the lock as it is: replace it.
_BROKEN = frozenset(
    {
        AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
        AccessCodeErrorCode.CODE_CONSTRAINTS_VIOLATED,
        AccessCodeErrorCode.FAILED_TO_SET_ON_DEVICE,
    }
)


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """Backups to create and pool members to remove (ids); `target` is the size aimed at."""

    target: int
    add: int = 0
    retire: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.add and not self.retire


def plan_pool(
    records: Iterable[CodeRecord],
    unmanaged_slots: int,
    lock: LockInfo,
    now: datetime,
    size: int,
    *,
    fingerprint: Fingerprint,
    timing: Timing,
) -> PoolPlan:
    """What to change so that the pool holds `size` backups as far as spare slots allow."""
    codes = list(records)
    pooled = members(codes)
    member_ids = {r.access_code_id for r in pooled}
    regular = 0
    for record in codes:
        if record.access_code_id in member_ids or record.desired is not Desired.PRESENT:
            continue
        spec = spec_of(record, fingerprint)
        if spec.record is not None or target_content(spec, now, lock, timing) is not None:
            regular += 1
    spare = code_capacity(lock) - regular - unmanaged_slots - FREE_SLOTS_KEPT
    target = max(0, min(size, spare))
    broken = [r for r in pooled if any(e.error_code in _BROKEN for e in r.access_code.errors)]
    healthy = [r for r in pooled if r not in broken]
    # Kept: those on the lock, oldest first; so those not on the lock yet, then the newest,
    # give way first.
    healthy.sort(
        key=lambda r: (r.access_code.status is not AccessCodeStatus.SET, r.access_code.created_at)
    )
    surplus = healthy[target:]
    kept = len(healthy) - len(surplus)
    retire = tuple(r.access_code_id for r in (*broken, *surplus))
    return PoolPlan(target=target, add=max(0, target - kept), retire=retire)


def _at_millis(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class _Changes:
    """What one pool job changed, for the pass's working set."""

    stored: tuple[CodeRecord, ...]
    dropped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _PoolJob:
    """The store job of `keep_pool`, run in one committer transaction."""

    store: Store
    device_id: str
    lock: LockInfo
    now: datetime
    workspace_id: str

    def __call__(
        self, plan: PoolPlan, flags: Mapping[str, bool], size: int, count: int
    ) -> _Changes:
        """Report `count` of `size` backups ready, set the flags, retire, then create."""
        store = self.store
        device = store.devices.get(self.device_id)
        if device is None:
            return _Changes((), ())
        issues = device_issues(device, size, count, self.now)
        if issues is not None:
            errors, warnings = issues
            device = store.devices.put(replace(device, errors=errors, warnings=warnings))
        stored: list[CodeRecord] = []
        dropped: list[str] = []
        for access_code_id, available in flags.items():
            if store.access_codes.get(access_code_id) is not None:
                stored.append(
                    store.access_codes.update(
                        access_code_id, partial(_flagged, available=available)
                    )
                )
        for access_code_id in plan.retire:
            outcome = self._retire(access_code_id)
            if isinstance(outcome, str):
                dropped.append(outcome)
            elif outcome is not None:
                stored.append(outcome)
        if plan.add:
            stored.extend(self._create(device, plan.add))
        return _Changes(tuple(stored), tuple(dropped))

    def _event(self, kind: EventType, subject: AccessCode, **data: Any) -> None:
        self.store.events.append(
            Event.new(
                kind,
                workspace_id=self.workspace_id,
                at=self.now,
                device_id=subject.device_id,
                access_code_id=subject.access_code_id,
                **data,
            )
        )

    def _retire(self, access_code_id: str) -> CodeRecord | str | None:
        """Remove one pool member: dropped at once if it never reached the lock (its id is
        returned), else marked for removal (the record); None if it left the pool."""
        store = self.store
        current = store.access_codes.get(access_code_id)
        if current is None or current.desired is not Desired.PRESENT:
            return None
        code = current.access_code
        if not in_pool(code):  # pulled meanwhile: it is in use now
            return None
        self._event(EventType.ACCESS_CODE_DELETED, code, code=code.code)
        if not current.ever_sent:
            store.access_codes.delete(access_code_id)
            return access_code_id
        removing = replace(
            code, status=AccessCodeStatus.REMOVING, pending_mutations=(DeletingMutation(self.now),)
        )
        return store.access_codes.put(
            replace(current, access_code=removing, desired=Desired.ABSENT),
            expected_revision=current.revision,
        )

    def _create(self, device: DeviceRecord, count: int) -> list[CodeRecord]:
        """`count` new backups, with PINs that no code known on the lock has."""
        store, lock = self.store, self.lock
        in_use = {
            r.access_code.code
            for r in store.access_codes.for_device(self.device_id)
            if r.access_code.code
        }
        in_use.update(
            u.access_code.code
            for u in store.unmanaged.for_device(self.device_id)
            if u.access_code.code
        )
        reported = device.settings.get("reported_code_lengths")
        lengths = tuple(reported) if reported else lock.code_lengths
        created: list[CodeRecord] = []
        for _ in range(count):
            try:
                pin = generate_code(lengths, lock.constraints, in_use, alphabet=lock.alphabet)
            except CodeSpaceExhausted as exc:
                log.warning("lock %s: no PIN is left for a backup: %s", self.device_id, exc.message)
                break
            in_use.add(pin)
            backup_id = new_id()
            code = AccessCode(
                access_code_id=backup_id,
                device_id=self.device_id,
                workspace_id=self.workspace_id,
                created_at=self.now,
                name=backup_name(backup_id, lock.name_rules),
                code=pin,
                status=AccessCodeStatus.SETTING,
                pending_mutations=(CreatingMutation(self.now),),
                is_backup=True,
            )
            record = CodeRecord(code, options=CodeOptions())
            created.append(store.access_codes.put(record, expected_revision=0))
            self._event(EventType.ACCESS_CODE_CREATED, code)
        return created


@dataclass(frozen=True, slots=True)
class Pool:
    """A device's pool as a pass found it: its configured size, for the end of the pass."""

    device_id: str
    size: int

    def report(self, book: Book, ledger: Ledger) -> None:
        """Device issues and `is_backup_access_code_available` from the codes after the pass
        (runs in the pass's last store job)."""
        for cid, available in availability(book.records.values(), ledger.now).items():
            book.apply(cid, partial(_flag, available=available))
        device = book.store.devices.get(self.device_id)
        if device is None:
            return
        issues = device_issues(device, self.size, ready(book.records.values()), ledger.now)
        if issues is not None:
            errors, warnings = issues
            book.store.devices.put(replace(device, errors=errors, warnings=warnings))


def _flagged(record: CodeRecord, *, available: bool) -> CodeRecord:
    code = replace(record.access_code, is_backup_access_code_available=available)
    return replace(record, access_code=code)


def _flag(record: CodeRecord, *, available: bool) -> Outcome:
    return Outcome(_flagged(record, available=available))


async def keep_pool(
    shared: Shared,
    device_id: str,
    lock: LockInfo,
    records: dict[str, CodeRecord],
    *,
    unmanaged: Iterable[UnmanagedRecord],
    fingerprint: Fingerprint,
) -> Pool | None:
    """Bring the pool to its size before a pass and report it as the pass finds it (so a
    lock that keeps failing still shows an empty pool); `records` (the pass's codes) is
    updated in place. None when the device has no pool and nothing of one is left."""
    device = shared.store.devices.get(device_id)
    if device is None:
        return None
    size = pool_size(device.settings)
    codes = records.values()
    if not (
        size
        or has_pool_issues(device)
        or any(r.access_code.is_backup or r.options.use_backup_access_code_pool for r in codes)
    ):
        return None
    now = _at_millis(shared.clock.now())
    occupied = sum(1 for u in unmanaged if u.slot is not None and u.desired is Desired.PRESENT)
    plan = plan_pool(
        codes, occupied, lock, now, size, fingerprint=fingerprint, timing=shared.settings.timing
    )
    flags = availability(codes, now)
    count = ready(codes)
    if not plan.empty or flags or device_issues(device, size, count, now) is not None:
        job = _PoolJob(shared.store, device_id, lock, now, shared.workspace_id)
        changes = await shared.committer.run(partial(job, plan, flags, size, count))
        for access_code_id in changes.dropped:
            records.pop(access_code_id, None)
        for record in changes.stored:
            records[record.access_code_id] = record
    return Pool(device_id, size)

"""The store side of one lock's pass: each method is a plain function body that the group
committer runs inside a transaction. It works on the codes read at the start of the pass and
re-reads a code only when the service changed it meanwhile (revision conflict).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from keyslot.model import (
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeStatus,
    ActionType,
    DeviceError,
    DeviceErrorCode,
    EventType,
    UnmanagedAccessCode,
    new_id,
)
from keyslot.protocol.slots import CodeRejected, DuplicateCode, FinalError, NoFreeSlot, Slot
from keyslot.reconciler.ledger import Ledger, Outcome, appearance_of
from keyslot.reconciler.memo import PassMemo
from keyslot.reconciler.planner import (
    Adopt,
    Duplicate,
    External,
    Keep,
    NoSpace,
    Operation,
    Plan,
    Release,
    Used,
)
from keyslot.reconciler.state import shown_of
from keyslot.store import CodeRecord, Desired, Store, StoreConflict, UnmanagedRecord

__all__ = ["Book", "HealthMarks", "record_health", "refusal", "slot_codes"]

Change = Callable[[CodeRecord], Outcome]


def slot_codes(store: Store, device_id: str) -> list[CodeRecord]:
    """The managed codes of a device that live in its slots: an offline (algorithmic) code
    is checked by the lock itself and never programmed, so it is none of the reconciler's."""
    return [
        r
        for r in store.access_codes.for_device(device_id)
        if not r.access_code.is_offline_access_code
    ]


def refusal(exc: FinalError, op: Operation, ledger: Ledger) -> tuple[AccessCodeError, bool]:
    """The access code error for a lock's final answer, and whether it holds the content.

    A full table is not held: it lasts only until a slot frees up.
    """
    if isinstance(exc, DuplicateCode):
        code = AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE
    elif isinstance(exc, CodeRejected):
        code = AccessCodeErrorCode.CODE_CONSTRAINTS_VIOLATED
    elif isinstance(exc, NoFreeSlot):
        return AccessCodeError(
            AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE, exc.message, ledger.now
        ), False
    elif op.content is None:
        code = AccessCodeErrorCode.FAILED_TO_REMOVE_FROM_DEVICE
    else:
        code = AccessCodeErrorCode.FAILED_TO_SET_ON_DEVICE
    return AccessCodeError(code, exc.message, ledger.now), op.content is not None


@dataclass(slots=True)
class Book:
    """The codes of one device during one pass, and how to commit changes to them."""

    store: Store
    device_id: str
    records: dict[str, CodeRecord]
    unmanaged: dict[str, UnmanagedRecord] = field(default_factory=dict)
    persist_observed: bool = True
    writes: int = 0  # code rows written (for the benchmark's commits-per-second)
    touched: set[str] = field(default_factory=set)  # codes already settled in this pass
    memo: PassMemo = field(default_factory=PassMemo)  # the worker's, kept across passes

    # -- one code ----------------------------------------------------------------------

    def apply(self, access_code_id: str, change: Change) -> CodeRecord | None:
        """Commit `change` to a code (re-read once if the service changed it since)."""
        record = self.records.get(access_code_id)
        if record is None:
            return None
        self.touched.add(access_code_id)
        try:
            return self._store_outcome(record, change(record))
        except StoreConflict:
            fresh = self.store.access_codes.get(access_code_id)
            if fresh is None:
                self.records.pop(access_code_id, None)
                return None
            return self._store_outcome(fresh, change(fresh))

    def _store_outcome(self, record: CodeRecord, outcome: Outcome) -> CodeRecord | None:
        store = self.store
        for event in outcome.events:
            store.events.append(event)
        if outcome.record is None:
            store.access_codes.delete(record.access_code_id)
            self.records.pop(record.access_code_id, None)
            self._finish_attempts(record.access_code_id, deleted=True)
            return None
        stored = outcome.record
        if stored != record:
            stored = store.access_codes.put(stored, expected_revision=record.revision)
            self.writes += 1
        self.records[record.access_code_id] = stored
        if outcome.settled or outcome.failed is not None:
            self._finish_attempts(record.access_code_id, stored=stored, error=outcome.failed)
        return stored

    def _finish_attempts(
        self,
        access_code_id: str,
        *,
        stored: CodeRecord | None = None,
        error: AccessCodeError | None = None,
        deleted: bool = False,
    ) -> None:
        for attempt in self.store.action_attempts.pending_for_code(access_code_id):
            if deleted:
                if attempt.action_type is ActionType.DELETE_ACCESS_CODE:
                    self.store.action_attempts.put(attempt.succeeded({}))
                continue
            if attempt.action_type not in (
                ActionType.CREATE_ACCESS_CODE,
                ActionType.UPDATE_ACCESS_CODE,
            ):
                continue
            if error is not None:
                done = attempt.failed(error.error_code.value, error.message)
            elif stored is not None:
                done = attempt.succeeded({"access_code": stored.access_code.to_dict()})
            else:
                continue
            self.store.action_attempts.put(done)

    # -- one operation -----------------------------------------------------------------

    def reserve(self, ledger: Ledger, op: Operation) -> bool:
        """The intent, committed before `op` is sent; False when its code is gone."""
        if op.unmanaged:
            return True
        stored = self.apply(op.access_code_id, lambda r: Outcome(ledger.intent(r, op)))
        return stored is not None

    def landed(
        self, ledger: Ledger, op: Operation, slot: Slot, nxt: Operation | None
    ) -> Operation | None:
        """The lock did `op` and now shows `slot`. The next operation's intent is committed
        in the same transaction; returns that operation if it may be sent."""
        if op.unmanaged:
            self.unmanaged_cleared(op.access_code_id)
        elif op.content is None:
            self.apply(op.access_code_id, ledger.released)
        else:
            self.apply(op.access_code_id, partial(ledger.written, op=op, slot=slot))
        return nxt if nxt is not None and self.reserve(ledger, nxt) else None

    def refused(
        self, ledger: Ledger, op: Operation, exc: FinalError, nxt: Operation | None
    ) -> Operation | None:
        """The lock refused `op` for good; as `landed` for the next operation."""
        if not op.unmanaged:
            error, hold = refusal(exc, op, ledger)
            self.apply(op.access_code_id, partial(ledger.refused, op=op, error=error, hold=hold))
        return nxt if nxt is not None and self.reserve(ledger, nxt) else None

    # -- a plan's findings -------------------------------------------------------------

    def findings(self, plan: Plan, ledger: Ledger) -> None:
        """Commit what the plan found without touching the lock."""
        for finding in plan.findings:
            cid = finding.access_code_id
            if isinstance(finding, Adopt | Keep):
                self.apply(cid, partial(ledger.landed, slot=finding.slot))
            elif isinstance(finding, Release):
                self.apply(cid, ledger.released)
            elif isinstance(finding, External):
                self.apply(cid, partial(ledger.external, finding=finding))
            elif isinstance(finding, NoSpace):
                if self._reported(cid, AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE):
                    continue
                error = AccessCodeError(
                    AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE,
                    "the lock has no free slot for this code",
                    ledger.now,
                )
                self.apply(cid, partial(ledger.issue, error=error))
            elif isinstance(finding, Duplicate):
                if self._reported(cid, AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE):
                    continue
                self.apply(cid, partial(ledger.issue, error=self._duplicate(finding, ledger)))
            elif isinstance(finding, Used):
                self.apply(cid, partial(ledger.used, gone=True))

    def _reported(self, access_code_id: str, error_code: AccessCodeErrorCode) -> bool:
        """The code already carries this error: `Ledger.issue` would change nothing (a lock
        that stays full must not cost a write per code per pass). It counts as settled."""
        record = self.records.get(access_code_id)
        if record is None or not any(e.error_code == error_code for e in record.access_code.errors):
            return False
        self.touched.add(access_code_id)
        return True

    def _duplicate(self, finding: Duplicate, ledger: Ledger) -> AccessCodeError:
        unmanaged = next(
            (u.access_code_id for u in self.unmanaged.values() if u.slot == finding.index), None
        )
        return AccessCodeError(
            AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
            f"slot {finding.index} of the lock already holds this code",
            ledger.now,
            unmanaged_access_code_id=unmanaged,
            managed_access_code_id=finding.other_access_code_id,
        )

    def finish_deleted(self, ledger: Ledger, keep: Iterable[str]) -> None:
        """Drop codes deleted by their owner that hold no slot (nothing left on the lock)."""
        busy = set(keep)
        for cid, record in list(self.records.items()):
            if record.desired is Desired.ABSENT and record.slot is None and cid not in busy:
                self.apply(cid, ledger.released)

    def refresh(self, ledger: Ledger) -> None:
        """Statuses that change with time alone (a schedule starting, a window opening);
        codes this pass already committed are settled. A code without a time frame whose
        stored version settled unchanged before (same lock capabilities) is skipped."""
        memo = self.memo
        for cid in [c for c in self.records if c not in self.touched]:
            record = self.records[cid]
            if memo.quiet(record, ledger.lock):
                continue
            if self.apply(cid, ledger.settle) is record:
                memo.settled_unchanged(record, ledger.lock)

    # -- codes keyslot did not put there -----------------------------------------------

    def sync_unmanaged(self, found: Sequence[Slot], ledger: Ledger) -> None:
        """Make the stored unmanaged codes match the occupied slots of a full read."""
        seen = {slot.index: slot for slot in found}
        by_slot: dict[int, UnmanagedRecord] = {}
        for record in list(self.unmanaged.values()):
            if record.slot is None or record.slot not in seen or record.slot in by_slot:
                self.store.unmanaged.delete(record.access_code_id)
                self.unmanaged.pop(record.access_code_id, None)
                self._finish_attempts(record.access_code_id, deleted=True)
                if record.desired is Desired.PRESENT and record.slot is not None:
                    event = ledger.event(
                        EventType.ACCESS_CODE_UNMANAGED_REMOVED, record.access_code
                    )
                    self.store.events.append(event)
            else:
                by_slot[record.slot] = record
        for index, slot in seen.items():
            current = by_slot.get(index)
            code = slot.code
            appearance = appearance_of(shown_of(slot))
            if current is None:
                found_code = UnmanagedAccessCode(
                    access_code_id=new_id(),
                    device_id=self.device_id,
                    workspace_id=ledger.workspace_id,
                    created_at=ledger.now,
                    name=slot.name,
                    code=code,
                    appearance=appearance,
                    status=AccessCodeStatus.SET,
                )
                record = self.store.unmanaged.put(UnmanagedRecord(found_code, slot=index))
                self.unmanaged[found_code.access_code_id] = record
                event = ledger.event(EventType.ACCESS_CODE_UNMANAGED_CREATED, found_code)
                self.store.events.append(event)
                continue
            known = current.access_code
            if (code is not None and code != known.code) or slot.name != known.name:
                changed = replace(
                    known,
                    code=code if code is not None else known.code,
                    name=slot.name,
                    appearance=appearance,
                )
                self.unmanaged[known.access_code_id] = self.store.unmanaged.put(
                    replace(current, access_code=changed)
                )

    def unmanaged_cleared(self, unmanaged_id: str) -> None:
        if self.unmanaged.pop(unmanaged_id, None) is not None:
            self.store.unmanaged.delete(unmanaged_id)
            self._finish_attempts(unmanaged_id, deleted=True)

    # -- what the lock holds -----------------------------------------------------------

    def observed_table(self, slots: Sequence[Slot], ledger: Ledger, checksum: int | None) -> None:
        if self.persist_observed:
            self.store.slots.save_table(
                self.device_id, slots, read_at=ledger.now, checksum=checksum
            )


@dataclass(slots=True)
class HealthMarks:
    """A failing lock's last note on its codes (with the offline mark or without) and the
    stored version of every code of the lock right after it: while neither changed, the
    next failure would mark nothing new, so it does not read the codes again."""

    offline: bool | None = None
    versions: list[tuple[str, int, str]] = field(default_factory=list)


def record_health(
    store: Store,
    ledger: Ledger,
    *,
    online: bool,
    until: datetime | None,
    marks: HealthMarks | None = None,
) -> None:
    """A lock answers again (`online`), or keeps failing: warn the codes waiting on it, and
    once it counts as offline (`until` = when it is tried next) mark it and its codes so."""
    device_id = ledger.device_id
    offline = until is not None
    repeated = (
        not online
        and marks is not None
        and marks.offline == offline
        and marks.versions == store.access_codes.versions(device_id)
    )
    if not repeated:
        records = slot_codes(store, device_id)
        book = Book(store, device_id, {r.access_code_id: r for r in records})
        for record in records:
            if online:
                book.apply(record.access_code_id, ledger.online)
            else:
                book.apply(record.access_code_id, ledger.delayed)
                if offline:
                    book.apply(record.access_code_id, ledger.offline)
    if marks is not None and not repeated:
        marks.offline = None if online else offline
        marks.versions = [] if online else store.access_codes.versions(device_id)
    device = store.devices.get(device_id)
    if device is None:
        return
    errors = tuple(e for e in device.errors if e.error_code is not DeviceErrorCode.DEVICE_OFFLINE)
    if until is not None:
        errors = (
            *errors,
            DeviceError(DeviceErrorCode.DEVICE_OFFLINE, "the lock is offline", ledger.now),
        )
    changed = replace(
        device,
        online=online or (device.online and until is None),
        errors=errors,
        suspended_until=until,
        suspended_reason=None if until is None else "the lock keeps failing",
    )
    if changed != device:
        store.devices.put(changed)

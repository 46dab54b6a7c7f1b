"""A bare slot table and a plan executor for planner tests: a lock and the worker, minimally.

The real firmware lives in keyslot.simulator; the planner's tests need only slot semantics so
that they can run thousands of hypothesis examples quickly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from dataclasses import dataclass, field

from keyslot.protocol.slots import (
    DuplicateCode,
    LockInfo,
    NameRules,
    Schedule,
    Slot,
    SlotStatus,
)
from keyslot.reconciler.planner import (
    Adopt,
    External,
    Keep,
    Operation,
    OpKind,
    Plan,
    Release,
    accepted_change,
)
from keyslot.reconciler.state import CodeSpec, Content, Phase, SlotRecord, shown_of


def fp(code: str) -> str:
    return hashlib.sha256(b"test-key|" + code.encode()).hexdigest()


@dataclass
class TableLock:
    """A slot table with optional masking, name truncation and native schedules."""

    slot_count: int = 10
    first_slot: int = 1
    masked: bool = False
    name_max: int | None = 8
    native: bool = False
    held: dict[int, tuple[str, str | None, Schedule | None]] = field(default_factory=dict)
    writes: int = 0
    clears: int = 0
    refusals: int = 0

    def info(self) -> LockInfo:
        rules = None if self.name_max is None else NameRules(max_length=self.name_max)
        return LockInfo(
            model="table",
            vendor="test",
            slot_count=self.slot_count,
            first_slot=self.first_slot,
            name_rules=rules,
            native_schedules=self.native,
            codes_readable=not self.masked,
        )

    def slot(self, index: int) -> Slot:
        if index not in self.held:
            return Slot(index=index)
        code, name, schedule = self.held[index]
        return Slot(
            index=index,
            status=SlotStatus.ENABLED,
            code=None if self.masked else code,
            code_masked=self.masked,
            name=name,
            schedule=schedule if self.native else None,
        )

    def read(self) -> list[Slot]:
        return [self.slot(i) for i in range(self.first_slot, self.first_slot + self.slot_count)]

    def write(self, index: int, content: Content) -> Slot:
        self.writes += 1
        name = content.name
        if self.name_max is None:
            name = None
        elif name is not None:
            name = name[: self.name_max]
        for other, (code, _, _) in self.held.items():
            if other != index and code == content.code:
                self.refusals += 1
                if not self.masked:
                    raise AssertionError(f"a readable lock was sent a duplicate for {index}")
                raise DuplicateCode("the lock holds this code", slot=index, existing_slot=other)
        self.held[index] = (content.code, name, content.schedule if self.native else None)
        return self.slot(index)

    def clear(self, index: int) -> None:
        self.clears += 1
        self.held.pop(index, None)


def execute(
    specs: list[CodeSpec],
    plan: Plan,
    lock: TableLock,
    *,
    crash_at: int | None = None,
    lands: bool = False,
) -> list[CodeSpec]:
    """Apply a plan the way the worker does: findings first, then each operation and its outcome.

    With `crash_at`, the process dies during that operation: its intent is committed, the lock
    applies it only if `lands`, and nothing after it happens.
    """
    by_id = {s.access_code_id: s for s in specs}
    _apply_findings(by_id, plan, lock)
    for n, op in enumerate(plan.operations):
        if op.unmanaged:
            if n != crash_at or lands:
                lock.clear(op.index)
            if n == crash_at:
                break
            continue
        spec = by_id[op.access_code_id]
        if n == crash_at:
            by_id[op.access_code_id] = dataclasses.replace(spec, record=_intent(spec, op))
            if lands and op.content is not None:
                with contextlib.suppress(DuplicateCode):
                    lock.write(op.index, op.content)
            elif lands:
                lock.clear(op.index)
            break
        if op.kind is OpKind.CLEAR:
            lock.clear(op.index)
            if spec.removing:
                del by_id[op.access_code_id]
            else:
                by_id[op.access_code_id] = dataclasses.replace(spec, record=None)
            continue
        assert op.content is not None
        try:
            slot = lock.write(op.index, op.content)
        except DuplicateCode:  # refused for good: the old record stands, the content is held
            record = None if op.fresh else spec.record
            by_id[op.access_code_id] = dataclasses.replace(spec, record=record, hold=True)
            continue
        record = SlotRecord(
            index=op.index,
            phase=Phase.SET,
            code_fp=fp(op.content.code),
            name=op.content.name,
            schedule=op.content.schedule,
            shown=shown_of(slot),
        )
        by_id[op.access_code_id] = dataclasses.replace(spec, record=record)
    return list(by_id.values())


def _apply_findings(by_id: dict[str, CodeSpec], plan: Plan, lock: TableLock) -> None:
    for finding in plan.findings:
        spec = by_id.get(finding.access_code_id)
        if spec is None:
            continue
        rec = spec.record
        if isinstance(finding, Adopt | Keep) and rec is not None:
            shown = shown_of(finding.slot)
            by_id[spec.access_code_id] = dataclasses.replace(
                spec,
                record=dataclasses.replace(rec, phase=Phase.SET, shown=shown, fresh=False),
            )
        elif isinstance(finding, Release):
            by_id[spec.access_code_id] = dataclasses.replace(spec, record=None)
            if spec.removing:
                del by_id[spec.access_code_id]
        elif isinstance(finding, External) and finding.accepted:
            if finding.change_type == "removed":
                by_id[spec.access_code_id] = dataclasses.replace(spec, removal_accepted=True)
            elif rec is not None and spec.code is not None:
                target = Content(spec.code, spec.name, rec.schedule)
                accepted, target = accepted_change(
                    rec, target, finding.slot, fp, native=lock.native
                )
                by_id[spec.access_code_id] = dataclasses.replace(
                    spec, code=target.code, record=accepted
                )


def _intent(spec: CodeSpec, op: Operation) -> SlotRecord:
    """The record the worker commits before sending `op`."""
    rec = spec.record
    if op.content is None:
        assert rec is not None
        return dataclasses.replace(rec, phase=Phase.CLEARING)
    shown = rec.shown if rec is not None and rec.index == op.index and not op.fresh else None
    return SlotRecord(
        index=op.index,
        phase=Phase.WRITING,
        code_fp=fp(op.content.code),
        name=op.content.name,
        schedule=op.content.schedule,
        shown=shown,
        fresh=op.fresh,
    )

"""The pure planner: desired codes + keyslot's slot records + the observed slot table -> a plan.

A plan is the fewest lock operations that make the lock hold exactly the codes due now, plus
findings to commit without touching the lock (a started write found applied, a slot found
emptied or changed at the keypad, no space, a duplicate PIN, codes keyslot did not put there).
A code keeps its slot; two managed codes never share one; a masked read is unreadable, never
a mismatch.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from keyslot.names import fit_name
from keyslot.protocol.slots import LockInfo, NameRejected, NameRules, Slot
from keyslot.reconciler.state import (
    CodeSpec,
    Content,
    Fingerprint,
    Phase,
    SlotRecord,
    memo,
    shown_of,
)
from keyslot.reconciler.timing import Timing, target_content

__all__ = [
    "Adopt",
    "Change",
    "Duplicate",
    "External",
    "Finding",
    "Keep",
    "NoSpace",
    "OpKind",
    "Operation",
    "Plan",
    "PlanError",
    "Release",
    "Used",
    "accepted_change",
    "plan",
]


class PlanError(ValueError):
    """The inputs contradict an invariant (two records for one slot): a bug, never retried."""


class OpKind(enum.StrEnum):
    WRITE = "write"  # program code, name and schedule into a slot
    RENAME = "rename"  # same code, a new name: still one write_slot
    CLEAR = "clear"


class Change(enum.StrEnum):
    """Why an operation is planned."""

    CREATE = "create"
    UPDATE = "update"
    RESET = "reset"  # undo a change made at the keypad
    VERIFY = "verify"  # write again what a masked slot may have lost unseen
    RESUME = "resume"  # a write that was started before and not seen applied
    REMOVE = "remove"  # the owner deleted the code
    EXPIRE = "expire"  # the time frame ended, or the code is no longer wanted on the lock
    VACATE = "vacate"  # clear first to break a cycle of PINs moving between slots


@dataclass(frozen=True, slots=True)
class Operation:
    """One lock operation. `fresh`: the slot is empty on the lock right before it.

    `unmanaged`: the operation clears a code keyslot did not set (its owner deleted it), and
    `access_code_id` is that unmanaged code's id.
    """

    kind: OpKind
    index: int
    access_code_id: str
    change: Change
    content: Content | None = None
    fresh: bool = False
    unmanaged: bool = False


@dataclass(frozen=True, slots=True)
class Adopt:
    """A started write is on the lock: commit it as set, send nothing."""

    access_code_id: str
    slot: Slot


@dataclass(frozen=True, slots=True)
class Keep:
    """A started clear did not land and the code is wanted again as it is: back to set."""

    access_code_id: str
    slot: Slot


@dataclass(frozen=True, slots=True)
class Release:
    """The code no longer holds its slot (cleared, emptied at the keypad, or taken by another)."""

    access_code_id: str
    index: int


@dataclass(frozen=True, slots=True)
class External:
    """The lock changed a managed code outside keyslot (`removed` or `modified` fields)."""

    access_code_id: str
    index: int
    change_type: str  # "modified" | "removed"
    fields: tuple[str, ...]
    accepted: bool
    slot: Slot


@dataclass(frozen=True, slots=True)
class Used:
    """A one-time code's slot is empty: the lock removed it after its use. Never set again."""

    access_code_id: str
    index: int


@dataclass(frozen=True, slots=True)
class NoSpace:
    access_code_id: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The PIN is already on the lock in another slot, held by another code or unmanaged."""

    access_code_id: str
    index: int
    other_access_code_id: str | None


Finding = Adopt | Keep | Release | External | NoSpace | Duplicate | Used


@dataclass(frozen=True, slots=True)
class Plan:
    operations: tuple[Operation, ...] = ()
    findings: tuple[Finding, ...] = ()
    unmanaged: tuple[Slot, ...] = ()  # occupied slots that hold no managed code

    @property
    def empty(self) -> bool:
        return not self.operations and not self.findings


@dataclass(slots=True)
class _Work:
    """Mutable scratch of one planning run."""

    slots: dict[int, Slot]
    fingerprint: Fingerprint
    native: bool
    ops: list[Operation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    owner: dict[int, str] = field(default_factory=dict)  # slot -> managed code keeping it
    lock_fp: dict[int, str] = field(default_factory=dict)  # slot -> PIN fp the lock holds now
    foreign: set[int] = field(default_factory=set)  # released slots someone else now holds
    wanting: list[tuple[CodeSpec, Content, int | None]] = field(default_factory=list)

    def pins_after(self) -> dict[int, str]:
        """slot -> PIN fp once every planned operation has run."""
        after = dict(self.lock_fp)
        for op in self.ops:
            if op.content is None:
                after.pop(op.index, None)
            else:
                after[op.index] = self.fingerprint(op.content.code)
        return after

    def owner_of(self, index: int, by_slot: dict[int, str]) -> str | None:
        if index in self.foreign:
            return None
        return self.owner.get(index) or by_slot.get(index)


def _differences(rec: SlotRecord, slot: Slot, work: _Work) -> tuple[str, ...]:
    """Fields in which an occupied slot differs from the record; unreadable fields never do."""
    diff: list[str] = []
    if slot.code is not None:
        if work.fingerprint(slot.code) != rec.code_fp:
            diff.append("code")
    elif rec.tampered:
        diff.append("code")
    shown = rec.shown
    if shown is not None:
        seen = shown_of(slot)
        pairs = (
            (seen.name, shown.name),
            (seen.first_name, shown.first_name),
            (seen.last_name, shown.last_name),
        )
        if any(s is not None and s != want for s, want in pairs):
            diff.append("name")
    if work.native and slot.schedule != rec.schedule:
        diff.append("time_frame")
    return tuple(diff)


def _write(
    work: _Work, spec: CodeSpec, index: int, target: Content, change: Change, *, fresh: bool
) -> None:
    rec = spec.record
    kind = OpKind.WRITE
    if (
        change is Change.UPDATE
        and rec is not None
        and rec.code_fp == work.fingerprint(target.code)
        and rec.schedule == target.schedule
    ):
        kind = OpKind.RENAME
    work.ops.append(Operation(kind, index, spec.access_code_id, change, target, fresh))
    work.owner[index] = spec.access_code_id


def _clear(work: _Work, spec: CodeSpec, index: int, change: Change) -> None:
    work.ops.append(Operation(OpKind.CLEAR, index, spec.access_code_id, change))


def _gone(spec: CodeSpec) -> Change:
    return Change.REMOVE if spec.removing else Change.EXPIRE


def _on_empty_slot(work: _Work, spec: CodeSpec, rec: SlotRecord, target: Content | None) -> None:
    index = rec.index
    if rec.phase is Phase.SET and target is not None and target.one_time:
        work.findings.append(Used(spec.access_code_id, index))
        return
    if rec.phase is Phase.SET and target is not None:
        accepted = spec.allow_external_modification
        slot = work.slots[index]
        work.findings.append(External(spec.access_code_id, index, "removed", (), accepted, slot))
        if not accepted:
            _write(work, spec, index, target, Change.RESET, fresh=True)
            return
        target = None
    if target is None:
        work.findings.append(Release(spec.access_code_id, index))
    else:  # a started write or clear, and the code is wanted: write it where it was
        _write(work, spec, index, target, Change.RESUME, fresh=True)


def _on_record(work: _Work, spec: CodeSpec, rec: SlotRecord, target: Content | None) -> None:
    index = rec.index
    slot = work.slots[index]
    if not slot.occupied:
        _on_empty_slot(work, spec, rec, target)
        return
    fp = work.fingerprint
    work.lock_fp[index] = rec.code_fp if slot.code is None else fp(slot.code)
    readable_other = slot.code is not None and fp(slot.code) != rec.code_fp
    if readable_other and rec.phase is Phase.WRITING and rec.fresh:
        # Someone else's code sits in the empty slot our write was going to: not ours.
        # (A slot being cleared may hold an older PIN of ours: it is cleared all the same.)
        work.foreign.add(index)
        work.findings.append(Release(spec.access_code_id, index))
        if target is not None:
            work.wanting.append((spec, target, None))
        return
    diff = _differences(rec, slot, work)
    if rec.phase is Phase.WRITING:
        # Only a write into an empty slot can be proved by an occupied slot; an update in
        # place is simply sent again (same slot, so never a duplicate).
        landed = rec.fresh and not diff
        if landed:
            work.findings.append(Adopt(spec.access_code_id, slot))
            _settled(work, spec, rec, target, index)
        elif target is not None:
            _write(work, spec, index, target, Change.RESUME, fresh=False)
        else:
            _clear(work, spec, index, _gone(spec))
        return
    if rec.phase is Phase.CLEARING:
        # Keep only what can be read back: the record may describe a write that never landed.
        if target is not None and not diff and slot.code is not None and rec.holds(target, fp):
            work.findings.append(Keep(spec.access_code_id, slot))
            work.owner[index] = spec.access_code_id
        elif target is not None:
            _write(work, spec, index, target, Change.RESUME, fresh=False)
        else:
            _clear(work, spec, index, _gone(spec))
        return
    if diff and target is not None:
        accepted = spec.allow_external_modification
        work.findings.append(External(spec.access_code_id, index, "modified", diff, accepted, slot))
        if not accepted:
            _write(work, spec, index, target, Change.RESET, fresh=False)
            return
        # The lock's content becomes the code's; the owner's other changes still apply.
        rec, target = accepted_change(rec, target, slot, work.fingerprint, native=work.native)
        # What the slot holds from now on, as the accepted record says (a masked PIN cannot
        # be read, so that is the code's own): other codes are checked against it.
        work.lock_fp[index] = rec.code_fp
    elif (
        rec.unverified
        and slot.code is None
        and target is not None
        and not spec.allow_external_modification
    ):
        # A change may have reached this masked slot unseen, or not: write the code again,
        # with nothing to report (a code that accepts such changes keeps what the lock has).
        _write(work, spec, index, target, Change.VERIFY, fresh=False)
        return
    _settled(work, spec, rec, target, index)


def accepted_change(
    rec: SlotRecord, target: Content, slot: Slot, fingerprint: Fingerprint, *, native: bool
) -> tuple[SlotRecord, Content]:
    """Record and target once a change made at the keypad is accepted.

    The PIN and name become the lock's; the time frame stays the owner's (a keypad cannot
    set one). A masked PIN cannot be learnt: the record keeps the one keyslot knows.
    """
    code = slot.code if slot.code is not None else target.code
    accepted = replace(
        rec,
        code_fp=fingerprint(code),
        schedule=slot.schedule if native else rec.schedule,
        shown=shown_of(slot) if rec.shown is not None else None,
        tampered=False,
    )
    return accepted, replace(target, code=code)


def _settled(
    work: _Work, spec: CodeSpec, rec: SlotRecord, target: Content | None, index: int
) -> None:
    """The lock holds what the record says: move it to the target."""
    if target is None:
        _clear(work, spec, index, _gone(spec))
    elif rec.holds(target, work.fingerprint):
        work.owner[index] = spec.access_code_id
    else:
        _write(work, spec, index, target, Change.UPDATE, fresh=False)


def _drop_duplicates(work: _Work, by_slot: dict[int, str]) -> None:
    """Drop writes whose PIN another slot would still hold; the lock would refuse them.

    The code's own slot then holds nothing it wants: it is cleared (or released if empty).
    """
    while True:
        after = work.pins_after()
        for n, op in enumerate(work.ops):
            if op.content is None:
                continue
            code_fp = work.fingerprint(op.content.code)
            if work.lock_fp.get(op.index) == code_fp:
                continue  # the PIN is already in this slot: the write changes nothing else
            other = next(
                (i for i, v in sorted(after.items()) if v == code_fp and i != op.index), None
            )
            if other is None:
                continue
            owner = work.owner_of(other, by_slot)
            work.findings.append(Duplicate(op.access_code_id, other, owner))
            del work.ops[n]
            work.owner.pop(op.index, None)
            if by_slot.get(op.index) == op.access_code_id:
                if work.slots[op.index].occupied:
                    work.ops.append(
                        Operation(OpKind.CLEAR, op.index, op.access_code_id, Change.EXPIRE)
                    )
                else:
                    work.findings.append(Release(op.access_code_id, op.index))
            break
        else:
            return


def _allocate(work: _Work, lock: LockInfo, by_slot: dict[int, str], capacity: int | None) -> None:
    """Give every code that wants a slot one: its old slot if free, else the lowest free.

    `capacity` caps how many slots may be occupied at once (a lock may hold fewer codes
    than it has slots).
    """
    cleared = {op.index for op in work.ops if op.kind is OpKind.CLEAR}
    occupied = sum(1 for s in work.slots.values() if s.occupied) - len(cleared)
    occupied += sum(1 for op in work.ops if op.content is not None and op.fresh)
    free = [
        i
        for i in lock.slot_range
        if i not in work.owner
        and i not in work.foreign
        and (not work.slots[i].occupied or i in cleared)
    ]
    # A slot that is empty now is better than one that must be cleared first.
    free.sort(key=lambda i: (i in cleared, i))
    after = work.pins_after()
    lowest: dict[str, int] = {}  # PIN fp -> the lowest slot holding it after the plan
    for i, v in sorted(after.items()):
        lowest.setdefault(v, i)
    for spec, target, preferred in work.wanting:
        code_fp = work.fingerprint(target.code)
        other = lowest.get(code_fp)
        if other is not None:
            work.findings.append(
                Duplicate(spec.access_code_id, other, work.owner_of(other, by_slot))
            )
            continue
        if not free or (capacity is not None and occupied >= capacity):
            work.findings.append(NoSpace(spec.access_code_id))
            continue
        index = preferred if preferred in free else free[0]
        free.remove(index)
        occupied += 1
        fresh = not work.slots[index].occupied or index in cleared
        change = Change.CREATE if spec.record is None else Change.RESUME
        work.ops.append(Operation(OpKind.WRITE, index, spec.access_code_id, change, target, fresh))
        work.owner[index] = spec.access_code_id
        after[index] = code_fp
        lowest[code_fp] = min(lowest.get(code_fp, index), index)


def _name_key(name: str | None, rules: NameRules) -> str | None:
    """The name as the lock would show it, compared as a lock that refuses a repeat does."""
    try:
        shown = fit_name(name, rules)
    except NameRejected:
        return None  # the lock refuses it whatever the order
    return None if shown is None else shown.name.casefold()


def _order(work: _Work, rules: NameRules | None) -> list[Operation]:
    """Clears first; a write whose PIN another slot still holds waits until that slot changes,
    and so does one whose name another slot still shows, where names must be unique and
    that slot is written too (codes swapping names)."""
    clears = sorted((op for op in work.ops if op.kind is OpKind.CLEAR), key=lambda o: o.index)
    held = dict(work.lock_fp)
    unique = rules if rules is not None and rules.unique else None
    names: dict[int, str] = {}  # slot -> name it shows, on a lock with unique names
    if unique is not None:
        for i, slot in work.slots.items():
            if slot.occupied and slot.name:
                names[i] = slot.name.casefold()
    for op in clears:
        held.pop(op.index, None)
        names.pop(op.index, None)
    ordered: list[Operation] = list(clears)
    pending = [op for op in work.ops if op.kind is not OpKind.CLEAR]
    while pending:
        moving = {op.index for op in pending} if unique is not None else set()
        for n, op in enumerate(pending):
            code_fp = work.fingerprint(op.content.code) if op.content is not None else ""
            if any(i != op.index and v == code_fp for i, v in held.items()):
                continue
            name = None
            if unique is not None and op.content is not None:
                name = _name_key(op.content.name, unique)
                if name is not None and any(
                    i != op.index and i in moving and v == name for i, v in names.items()
                ):
                    continue
            ordered.append(op)
            held[op.index] = code_fp
            if name is None:
                names.pop(op.index, None)
            else:
                names[op.index] = name
            del pending[n]
            break
        else:
            # PINs or names move in a cycle between slots: vacate one slot, write it last.
            op = pending.pop(0)
            ordered.append(Operation(OpKind.CLEAR, op.index, op.access_code_id, Change.VACATE))
            held.pop(op.index, None)
            names.pop(op.index, None)
            pending.append(
                Operation(op.kind, op.index, op.access_code_id, op.change, op.content, True)
            )
    return ordered


def plan(
    codes: Iterable[CodeSpec],
    observed: Sequence[Slot],
    lock: LockInfo,
    now: datetime,
    *,
    fingerprint: Fingerprint,
    timing: Timing | None = None,
    capacity: int | None = None,
    remove_unmanaged: Mapping[int, str] | None = None,
) -> Plan:
    """The fewest operations that bring the lock to the codes due at `now` (see module doc).

    `remove_unmanaged` maps slots holding unmanaged codes that their owner deleted to those
    codes' ids; such a slot is cleared (and then free).
    """
    timing = timing or Timing()
    fingerprint = memo(fingerprint)
    slots = {i: Slot(index=i) for i in lock.slot_range}
    for slot in observed:
        if slot.index in slots:
            slots[slot.index] = slot
    work = _Work(slots=slots, fingerprint=fingerprint, native=lock.native_schedules)
    specs = list(codes)
    by_slot: dict[int, str] = {}
    for spec in specs:
        rec = spec.record
        if rec is None:
            continue
        if rec.index in by_slot:
            raise PlanError(f"slot {rec.index} is recorded for two access codes")
        by_slot[rec.index] = spec.access_code_id
    for i, slot in slots.items():
        if slot.occupied and i not in by_slot and slot.code is not None:
            work.lock_fp[i] = fingerprint(slot.code)
    for spec in specs:
        target = target_content(spec, now, lock, timing)
        rec = spec.record
        if rec is not None and rec.index not in slots:  # outside the lock's numbering: stale
            work.findings.append(Release(spec.access_code_id, rec.index))
            if target is not None:
                work.wanting.append((spec, target, None))
        elif rec is not None:
            _on_record(work, spec, rec, target)
        elif target is not None:
            work.wanting.append((spec, target, None))
    for index, unmanaged_id in sorted((remove_unmanaged or {}).items()):
        if index in slots and slots[index].occupied and index not in by_slot:
            work.ops.append(
                Operation(OpKind.CLEAR, index, unmanaged_id, Change.REMOVE, unmanaged=True)
            )
    _drop_duplicates(work, by_slot)
    _allocate(work, lock, by_slot, capacity)
    unmanaged = tuple(
        slots[i]
        for i in sorted(slots)
        if slots[i].occupied and (i not in by_slot or i in work.foreign)
    )
    return Plan(tuple(_order(work, lock.name_rules)), tuple(work.findings), unmanaged)

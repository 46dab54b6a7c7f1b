"""The planner against a bare slot table under random changes, keypad edits and crashes.

After every full round the lock must hold exactly what is due, each code in one slot of its
own, reached with at most one operation per code; the next plan must then be empty.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from keyslot.reconciler.planner import Change, NoSpace, OpKind, Plan, plan
from keyslot.reconciler.state import CodeSpec, Phase
from keyslot.reconciler.timing import CodeStatus, Timing, settled_status, target_content
from tests.reconciler_fakes import TableLock, execute, fp

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PINS = [f"{n:04d}" for n in (1234, 2345, 3456, 4567, 5678, 6789, 7890, 8901, 9012, 1357)]
NAMES = [None, "Alice", "Bob Builder", "Carol the Cleaner", "Dan"]
TIMING = Timing(jit_lead=timedelta(minutes=30), native_horizon=timedelta(hours=24))


class PlannerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lock = TableLock()
        self.specs: list[CodeSpec] = []
        self.now = START
        self.counter = 0
        self.settled = False

    @initialize(
        slots=st.integers(min_value=2, max_value=8),
        masked=st.booleans(),
        native=st.booleans(),
        names=st.sampled_from([None, 4, 12]),
    )
    def setup(self, slots: int, masked: bool, native: bool, names: int | None) -> None:
        self.lock = TableLock(slot_count=slots, masked=masked, native=native, name_max=names)

    # -- the owner ---------------------------------------------------------------------

    @rule(
        pin=st.sampled_from(PINS),
        name=st.sampled_from(NAMES),
        timed=st.none() | st.tuples(st.integers(-120, 3000), st.integers(1, 3000)),
        allow=st.booleans(),
        native=st.booleans(),
    )
    def create(
        self,
        pin: str,
        name: str | None,
        timed: tuple[int, int] | None,
        allow: bool,
        native: bool,
    ) -> None:
        self.counter += 1
        starts = ends = None
        if timed is not None:
            starts = self.now + timedelta(minutes=timed[0])
            ends = starts + timedelta(minutes=timed[1])
        spec = CodeSpec(
            access_code_id=f"c{self.counter}",
            code=pin,
            name=name,
            starts_at=starts,
            ends_at=ends,
            allow_external_modification=allow,
            prefer_native_scheduling=native,
        )
        self.specs.append(spec)
        self.settled = False

    def _pick(self, data: st.DataObject) -> int:
        live = [i for i, s in enumerate(self.specs) if not s.removing]
        return data.draw(st.sampled_from(live))

    def _live(self) -> bool:
        return any(not s.removing for s in self.specs)

    @precondition(_live)
    @rule(data=st.data(), pin=st.sampled_from(PINS))
    def change_pin(self, data: st.DataObject, pin: str) -> None:
        i = self._pick(data)
        self.specs[i] = dataclasses.replace(self.specs[i], code=pin, hold=False)
        self.settled = False

    @precondition(_live)
    @rule(data=st.data(), name=st.sampled_from(NAMES))
    def rename(self, data: st.DataObject, name: str | None) -> None:
        i = self._pick(data)
        self.specs[i] = dataclasses.replace(self.specs[i], name=name)
        self.settled = False

    @precondition(_live)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        i = self._pick(data)
        self.specs[i] = dataclasses.replace(self.specs[i], removing=True)
        self.settled = False

    @precondition(_live)
    @rule(data=st.data())
    def refuse(self, data: st.DataObject) -> None:
        """The lock refused this content for good: it is not sent again until it changes."""
        i = self._pick(data)
        self.specs[i] = dataclasses.replace(self.specs[i], hold=True)
        self.settled = False

    @rule(minutes=st.integers(1, 4000))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.settled = False

    # -- the keypad ---------------------------------------------------------------------

    def _index(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(list(self.lock.info().slot_range)))

    def _pin_free(self, pin: str, index: int) -> bool:
        return all(code != pin for i, (code, _, _) in self.lock.held.items() if i != index)

    @rule(data=st.data(), pin=st.sampled_from(PINS))
    def keypad_sets(self, data: st.DataObject, pin: str) -> None:
        """A manager types a code into a slot (a lock refuses one it already holds)."""
        index = self._index(data)
        if not self._pin_free(pin, index):
            return
        old = self.lock.held.get(index)
        self.lock.held[index] = (pin, None if old is None else old[1], None)
        self._tamper(index)
        self.settled = False

    @rule(data=st.data())
    def keypad_deletes(self, data: st.DataObject) -> None:
        index = self._index(data)
        if self.lock.held.pop(index, None) is not None:
            self._tamper(index)
        self.settled = False

    def _tamper(self, index: int) -> None:
        """The keypad event tells a masked lock's reconciler which slot changed."""
        for i, spec in enumerate(self.specs):
            rec = spec.record
            if rec is not None and rec.index == index:
                tampered = dataclasses.replace(rec, tampered=True)
                self.specs[i] = dataclasses.replace(spec, record=tampered)

    # -- the reconciler -----------------------------------------------------------------

    def _plan(self) -> Plan:
        return plan(
            self.specs, self.lock.read(), self.lock.info(), self.now, fingerprint=fp, timing=TIMING
        )

    @rule(data=st.data(), lands=st.booleans())
    def crash_midway(self, data: st.DataObject, lands: bool) -> None:
        p = self._plan()
        if not p.operations:
            return
        at = data.draw(st.integers(0, len(p.operations) - 1))
        self.specs = execute(self.specs, p, self.lock, crash_at=at, lands=lands)
        self.settled = False

    @rule()
    def reconcile(self) -> None:
        before = {s.access_code_id: s for s in self.specs}
        unmanaged_before = {
            i: v for i, v in self.lock.held.items() if i not in self._recorded_slots()
        }
        p = self._plan()
        for label in {type(f).__name__ for f in p.findings} | {
            o.change.value for o in p.operations
        }:
            event(label)
        self._check_plan(p, before, unmanaged_before)
        refused = self.lock.refusals
        self.specs = execute(self.specs, p, self.lock)
        for _ in range(len(self.specs) + 1):
            # A masked lock hid a duplicate: each refusal holds that code for good, so the
            # rounds it causes (clearing it, reusing its slot) come to an end.
            if self.lock.refusals == refused:
                break
            refused = self.lock.refusals
            self.specs = execute(self.specs, self._plan(), self.lock)
        assert self.lock.refusals == refused, "refusals kept coming"
        follow_up = self._plan()
        assert follow_up.operations == (), follow_up.operations
        self.settled = True

    def _recorded_slots(self) -> set[int]:
        return {s.record.index for s in self.specs if s.record is not None}

    def _check_plan(
        self, p: Plan, before: dict[str, CodeSpec], unmanaged: dict[int, object]
    ) -> None:
        ops = [op for op in p.operations if op.change is not Change.VACATE]
        per_code = Counter(op.access_code_id for op in ops)
        assert all(n == 1 for n in per_code.values()), per_code
        for index in {op.index for op in ops}:
            on_slot = [op for op in ops if op.index == index]
            # at most one operation, or a clear that frees the slot for another code
            assert len(on_slot) == 1 or (
                len(on_slot) == 2
                and on_slot[0].kind is OpKind.CLEAR
                and on_slot[1].access_code_id != on_slot[0].access_code_id
            ), on_slot
        for op in p.operations:
            assert op.index not in unmanaged or op.unmanaged, f"touched unmanaged slot {op.index}"
        lock_now = {s.index: s for s in self.lock.read()}
        for spec in before.values():
            rec = spec.record
            target = target_content(spec, self.now, self.lock.info(), TIMING)
            if rec is None or target is None or rec.phase is not Phase.SET or rec.tampered:
                continue
            held = self.lock.held.get(rec.index)
            in_sync = (
                held is not None
                and held[0] == spec.code
                and rec.holds(target, fp)
                and (rec.shown is None or lock_now[rec.index].name in (None, rec.shown.name))
                and (not self.lock.native or held[2] == rec.schedule)
            )
            if in_sync:
                assert spec.access_code_id not in per_code, f"{spec} was in sync"

    @invariant()
    def lock_matches_records_once_settled(self) -> None:
        if not self.settled:
            return
        info = self.lock.info()
        pins = Counter(code for code, _, _ in self.lock.held.values())
        assert all(n == 1 for n in pins.values())
        slots = Counter(s.record.index for s in self.specs if s.record is not None)
        assert all(n == 1 for n in slots.values()), "two managed codes in one slot"
        for spec in self.specs:
            rec = spec.record
            target = target_content(spec, self.now, info, TIMING)
            status = settled_status(spec, self.now, info, TIMING, fp)
            if rec is not None:
                assert rec.phase is Phase.SET
                held = self.lock.held.get(rec.index)
                assert held is not None, "a managed slot lost its code"
                # A change accepted on a masked lock cannot be read: only then may they differ.
                if not (self.lock.masked and spec.allow_external_modification):
                    assert fp(held[0]) == rec.code_fp, "a managed slot holds another code"
                assert target is not None
                if status is CodeStatus.SET and not self.lock.masked:
                    assert held[0] == spec.code
                if status is CodeStatus.UNSET:
                    assert rec.schedule is not None
                    assert self.now < rec.schedule.starts_at
                continue
            assert status is not CodeStatus.SET
            if target is None:
                continue
            # Wanted but not placed: the lock must be full or hold the PIN elsewhere.
            full = len(self.lock.held) >= self.lock.slot_count
            claimed = {s.record.code_fp for s in self.specs if s.record is not None}
            elsewhere = spec.code in pins or fp(spec.code or "") in claimed
            assert full or elsewhere, f"{spec} was left off a lock with room"


PlannerMachine.TestCase.settings = settings(
    max_examples=500,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPlanner = PlannerMachine.TestCase


def test_no_space_is_reported_for_each_code_left_over() -> None:
    lock = TableLock(slot_count=2)
    specs = [CodeSpec(f"c{i}", PINS[i]) for i in range(4)]
    p = plan(specs, lock.read(), lock.info(), START, fingerprint=fp)
    assert [op.kind for op in p.operations] == [OpKind.WRITE, OpKind.WRITE]
    assert p.findings == (NoSpace("c2"), NoSpace("c3"))


def test_capacity_below_the_slot_count_is_respected() -> None:
    lock = TableLock(slot_count=6)
    specs = [CodeSpec(f"c{i}", PINS[i]) for i in range(4)]
    p = plan(specs, lock.read(), lock.info(), START, fingerprint=fp, capacity=3)
    assert len(p.operations) == 3
    assert p.findings == (NoSpace("c3"),)


def test_an_unmanaged_code_its_owner_deleted_is_cleared_and_its_slot_reused() -> None:
    lock = TableLock(slot_count=1)
    lock.held[1] = ("5555", None, None)
    p = plan(
        [CodeSpec("c1", "1234")],
        lock.read(),
        lock.info(),
        START,
        fingerprint=fp,
        remove_unmanaged={1: "u1"},
    )
    assert [(op.kind, op.index, op.unmanaged) for op in p.operations] == [
        (OpKind.CLEAR, 1, True),
        (OpKind.WRITE, 1, False),
    ]

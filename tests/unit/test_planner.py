"""The planner's decisions, case by case: fewest operations, stable slots, crash intents."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from keyslot.protocol.slots import Schedule, Slot, SlotStatus
from keyslot.reconciler.planner import (
    Adopt,
    Change,
    Duplicate,
    External,
    Keep,
    NoSpace,
    OpKind,
    PlanError,
    Release,
    plan,
)
from keyslot.reconciler.state import CodeSpec, Phase, Shown, SlotRecord
from keyslot.reconciler.timing import CodeStatus, Timing, next_boundary, settled_status
from tests.reconciler_fakes import TableLock, execute, fp

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def spec(cid: str, code: str, name: str | None = None, **kw: object) -> CodeSpec:
    return CodeSpec(access_code_id=cid, code=code, name=name, **kw)  # type: ignore[arg-type]


def settled(lock: TableLock, specs: list[CodeSpec], now: datetime = NOW) -> list[CodeSpec]:
    """Run plans until nothing is left to do (at most a few rounds)."""
    for _ in range(4):
        p = plan(specs, lock.read(), lock.info(), now, fingerprint=fp)
        if not p.operations:
            return specs
        specs = execute(specs, p, lock)
    raise AssertionError("the plan did not settle")


def by_id(specs: list[CodeSpec]) -> dict[str, CodeSpec]:
    return {s.access_code_id: s for s in specs}


def test_new_codes_take_the_lowest_free_slots_one_write_each() -> None:
    lock = TableLock()
    specs = [spec("a", "1234", "Alice"), spec("b", "2345", "Bob"), spec("c", "3456")]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.access_code_id, op.change) for op in p.operations] == [
        (OpKind.WRITE, 1, "a", Change.CREATE),
        (OpKind.WRITE, 2, "b", Change.CREATE),
        (OpKind.WRITE, 3, "c", Change.CREATE),
    ]
    assert all(op.fresh for op in p.operations)
    assert p.findings == ()


def test_a_lock_in_sync_needs_nothing() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", "Alice"), spec("b", "2345")])
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.empty
    assert p.unmanaged == ()


def test_a_masked_read_is_never_a_reason_to_rewrite() -> None:
    lock = TableLock(masked=True, name_max=None)
    specs = settled(lock, [spec("a", "1234", "Alice"), spec("b", "2345")])
    assert all(s.code is None for s in lock.read())
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.empty


def test_a_changed_pin_is_rewritten_in_its_own_slot() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", "Alice"), spec("b", "2345", "Bob")])
    specs = [dataclasses.replace(s, code="9876") if s.access_code_id == "b" else s for s in specs]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change) for op in p.operations] == [
        (OpKind.WRITE, 2, Change.UPDATE)
    ]
    assert not p.operations[0].fresh


def test_a_new_name_alone_is_a_rename() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", "Alice")])
    specs = [dataclasses.replace(specs[0], name="Alicia")]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.RENAME, 1)]


def test_a_deleted_code_is_cleared_and_the_others_keep_their_slots() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234"), spec("b", "2345"), spec("c", "3456")])
    specs = [dataclasses.replace(s, removing=s.access_code_id == "a") for s in specs]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change) for op in p.operations] == [
        (OpKind.CLEAR, 1, Change.REMOVE)
    ]
    after = execute(specs, p, lock)
    slots = {s.access_code_id: s.record.index for s in after if s.record}
    assert slots == {"b": 2, "c": 3}


def test_unmanaged_codes_are_reported_and_never_touched() -> None:
    lock = TableLock()
    lock.held[1] = ("5555", "Manager", None)
    p = plan([spec("a", "1234")], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [s.index for s in p.unmanaged] == [1]
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.WRITE, 2)]


def test_a_full_lock_gives_no_space_and_sends_nothing() -> None:
    lock = TableLock(slot_count=2)
    lock.held[1] = ("5555", None, None)
    specs = settled(lock, [spec("a", "1234")])
    p = plan([*specs, spec("b", "2345")], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    assert p.findings == (NoSpace("b"),)


def test_a_slot_freed_in_the_same_plan_is_reused_after_its_clear() -> None:
    lock = TableLock(slot_count=2)
    specs = settled(lock, [spec("a", "1234"), spec("b", "2345")])
    specs = [dataclasses.replace(s, removing=s.access_code_id == "a") for s in specs]
    p = plan([*specs, spec("c", "3456")], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.access_code_id) for op in p.operations] == [
        (OpKind.CLEAR, 1, "a"),
        (OpKind.WRITE, 1, "c"),
    ]
    assert p.operations[1].fresh


def test_a_pin_held_by_an_unmanaged_code_is_a_duplicate_not_a_write() -> None:
    lock = TableLock()
    lock.held[4] = ("1234", None, None)
    p = plan([spec("a", "1234")], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    assert p.findings == (Duplicate("a", 4, None),)


def test_a_pin_leaving_another_slot_is_written_after_it_leaves() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234"), spec("b", "2345")])
    # a is deleted and c takes its PIN; b moves to a fresh PIN.
    specs = [dataclasses.replace(s, removing=s.access_code_id == "a") for s in specs]
    specs.append(spec("c", "1234"))
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.access_code_id) for op in p.operations] == [
        (OpKind.CLEAR, 1, "a"),
        (OpKind.WRITE, 3, "c"),
    ]
    execute(specs, p, lock)


def test_pins_swapped_between_two_codes_vacate_one_slot_first() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1111"), spec("b", "2222")])
    specs = [
        dataclasses.replace(s, code={"a": "2222", "b": "1111"}[s.access_code_id]) for s in specs
    ]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    kinds = [(op.kind, op.index) for op in p.operations]
    assert kinds == [(OpKind.CLEAR, 1), (OpKind.WRITE, 2), (OpKind.WRITE, 1)]
    assert p.operations[0].change is Change.VACATE
    after = execute(specs, p, lock)  # TableLock refuses a duplicate PIN, like a real lock
    assert lock.held[1][0] == "2222"
    assert lock.held[2][0] == "1111"
    assert plan(after, lock.read(), lock.info(), NOW, fingerprint=fp).empty


def test_a_pin_changed_at_the_keypad_is_set_again_by_default() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", "Alice")])
    lock.held[1] = ("7777", "Alice", None)
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change) for op in p.operations] == [
        (OpKind.WRITE, 1, Change.RESET)
    ]
    (finding,) = p.findings
    assert isinstance(finding, External)
    assert (finding.change_type, finding.fields, finding.accepted) == ("modified", ("code",), False)


def test_a_pin_changed_at_the_keypad_is_accepted_when_allowed() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", allow_external_modification=True)])
    lock.held[1] = ("7777", None, None)
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    (finding,) = p.findings
    assert isinstance(finding, External)
    assert finding.accepted
    after = execute(specs, p, lock)
    assert after[0].code == "7777"
    assert plan(after, lock.read(), lock.info(), NOW, fingerprint=fp).empty


def test_a_code_deleted_at_the_keypad_is_set_again_in_its_slot() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234"), spec("b", "2345")])
    del lock.held[2]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change, op.fresh) for op in p.operations] == [
        (OpKind.WRITE, 2, Change.RESET, True)
    ]
    assert [(f.change_type, f.accepted) for f in p.findings if isinstance(f, External)] == [
        ("removed", False)
    ]


def test_a_deletion_at_the_keypad_is_accepted_when_allowed() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", allow_external_modification=True)])
    lock.held.clear()
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    assert isinstance(p.findings[0], External)
    assert p.findings[1] == Release("a", 1)
    after = execute(specs, p, lock)
    assert plan(after, lock.read(), lock.info(), NOW, fingerprint=fp).empty


def test_a_change_reported_by_a_masked_lock_is_set_again() -> None:
    lock = TableLock(masked=True, name_max=None)
    specs = settled(lock, [spec("a", "1234")])
    rec = specs[0].record
    assert rec is not None
    specs = [dataclasses.replace(specs[0], record=dataclasses.replace(rec, tampered=True))]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.change) for op in p.operations] == [(OpKind.WRITE, Change.RESET)]


def test_a_pin_no_longer_held_after_an_accepted_masked_change_is_no_duplicate() -> None:
    """The owner moved a code to a new PIN and the keypad changed its masked slot: the
    change is accepted, so the slot holds the code's new PIN from now on, and the old PIN,
    wanted by another code, is written in the same plan (not reported as a duplicate)."""
    lock = TableLock(slot_count=2, masked=True, name_max=None)
    specs = settled(lock, [spec("b", "2345", allow_external_modification=True)])
    rec = specs[0].record
    assert rec is not None
    lock.held[1] = ("1234", None, None)  # set at the keypad: the read shows it masked
    moved = dataclasses.replace(rec, tampered=True)
    specs = [
        dataclasses.replace(specs[0], code="1234", record=moved),
        spec("c", "2345"),  # the PIN "b" held before
    ]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert not any(isinstance(f, Duplicate) for f in p.findings)
    assert [(op.kind, op.index, op.access_code_id) for op in p.operations] == [
        (OpKind.WRITE, 2, "c")
    ]
    after = execute(specs, p, lock)
    assert plan(after, lock.read(), lock.info(), NOW, fingerprint=fp).empty


def writing(index: int, code: str, *, fresh: bool, name: str | None = None) -> SlotRecord:
    return SlotRecord(index=index, phase=Phase.WRITING, code_fp=fp(code), name=name, fresh=fresh)


@pytest.mark.parametrize("masked", [False, True])
def test_a_started_write_found_on_the_lock_is_adopted_without_a_write(masked: bool) -> None:
    lock = TableLock(masked=masked)
    lock.held[3] = ("1234", "Alice", None)
    s = spec("a", "1234", "Alice", record=writing(3, "1234", fresh=True, name="Alice"))
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    assert p.findings == (Adopt("a", lock.slot(3)),)
    assert p.unmanaged == ()


def test_a_started_write_that_did_not_land_is_sent_again_to_the_same_slot() -> None:
    lock = TableLock()
    s = spec("a", "1234", record=writing(5, "1234", fresh=True))
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change, op.fresh) for op in p.operations] == [
        (OpKind.WRITE, 5, Change.RESUME, True)
    ]


def test_a_started_update_on_a_masked_lock_is_sent_again() -> None:
    lock = TableLock(masked=True, name_max=None)
    lock.held[2] = ("1111", None, None)  # old or new PIN: a masked lock cannot say
    s = spec("a", "2222", record=writing(2, "2222", fresh=False))
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change) for op in p.operations] == [
        (OpKind.WRITE, 2, Change.RESUME)
    ]


def test_someone_elses_code_in_a_slot_we_were_writing_is_not_ours() -> None:
    lock = TableLock()
    lock.held[1] = ("9999", None, None)
    s = spec("a", "1234", record=writing(1, "1234", fresh=True))
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert Release("a", 1) in p.findings
    assert [s.index for s in p.unmanaged] == [1]
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.WRITE, 2)]


def test_a_started_clear_is_finished_or_committed() -> None:
    lock = TableLock()
    lock.held[1] = ("1234", None, None)
    rec = SlotRecord(index=1, phase=Phase.CLEARING, code_fp=fp("1234"))
    gone = spec("a", "1234", removing=True, record=rec)
    p = plan([gone], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.CLEAR, 1)]
    lock.held.clear()
    p = plan([gone], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    assert p.findings == (Release("a", 1),)


def test_a_clear_after_an_unlanded_update_clears_our_older_pin() -> None:
    """The record names the PIN of an update that never landed; the slot holds the one
    before it. It is ours all the same: cleared, never left behind as someone else's."""
    lock = TableLock()
    lock.held[1] = ("1111", None, None)
    rec = SlotRecord(index=1, phase=Phase.CLEARING, code_fp=fp("2222"))
    gone = spec("a", "2222", removing=True, record=rec)
    p = plan([gone], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.CLEAR, 1)]
    assert p.unmanaged == ()


def test_a_started_clear_of_a_code_wanted_again_keeps_it() -> None:
    lock = TableLock(name_max=None)
    lock.held[1] = ("1234", None, None)
    rec = SlotRecord(index=1, phase=Phase.CLEARING, code_fp=fp("1234"))
    p = plan([spec("a", "1234", record=rec)], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.operations == ()
    assert p.findings == (Keep("a", lock.slot(1)),)


def test_two_records_for_one_slot_is_a_bug() -> None:
    lock = TableLock()
    rec = SlotRecord(index=1, phase=Phase.SET, code_fp=fp("1234"))
    with pytest.raises(PlanError):
        plan(
            [spec("a", "1234", record=rec), spec("b", "2345", record=rec)],
            lock.read(),
            lock.info(),
            NOW,
            fingerprint=fp,
        )


def test_a_refused_code_is_not_sent_again_and_its_old_pin_leaves() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234")])
    held = [dataclasses.replace(specs[0], code="0000", hold=True)]
    p = plan(held, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.CLEAR, 1)]
    after = execute(held, p, lock)
    assert plan(after, lock.read(), lock.info(), NOW, fingerprint=fp).empty
    assert settled_status(after[0], NOW, lock.info(), Timing(), fp) is CodeStatus.SETTING


def test_just_in_time_codes_are_written_at_the_lead_and_cleared_at_the_end() -> None:
    lock = TableLock()
    starts, ends = NOW + timedelta(hours=3), NOW + timedelta(hours=5)
    timing = Timing(jit_lead=timedelta(minutes=30))
    specs = [spec("a", "1234", starts_at=starts, ends_at=ends)]

    def run(at: datetime) -> list[tuple[OpKind, Change]]:
        nonlocal specs
        p = plan(specs, lock.read(), lock.info(), at, fingerprint=fp, timing=timing)
        specs = execute(specs, p, lock)
        return [(op.kind, op.change) for op in p.operations]

    assert run(NOW) == []
    assert settled_status(specs[0], NOW, lock.info(), timing, fp) is CodeStatus.UNSET
    assert next_boundary(specs, NOW, lock.info(), timing) == starts - timedelta(minutes=30)
    at = starts - timedelta(minutes=30)
    assert run(at) == [(OpKind.WRITE, Change.CREATE)]
    assert lock.held[1][2] is None  # no native schedule: keyslot enforces the window
    assert settled_status(specs[0], at, lock.info(), timing, fp) is CodeStatus.SET
    assert next_boundary(specs, at, lock.info(), timing) == ends
    assert run(ends) == [(OpKind.CLEAR, Change.EXPIRE)]
    assert settled_status(specs[0], ends, lock.info(), timing, fp) is CodeStatus.UNSET
    assert next_boundary(specs, ends, lock.info(), timing) is None


def test_native_schedules_are_preloaded_and_flip_to_set_at_the_start() -> None:
    lock = TableLock(native=True)
    starts, ends = NOW + timedelta(hours=100), NOW + timedelta(hours=110)
    timing = Timing()
    specs = [spec("a", "1234", starts_at=starts, ends_at=ends)]
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp, timing=timing)
    assert p.operations == ()  # beyond the 72 h horizon
    preload = starts - timedelta(hours=72)
    assert next_boundary(specs, NOW, lock.info(), timing) == preload
    p = plan(specs, lock.read(), lock.info(), preload, fingerprint=fp, timing=timing)
    (op,) = p.operations
    assert op.content is not None
    assert op.content.schedule == Schedule(starts, ends)
    specs = execute(specs, p, lock)
    assert settled_status(specs[0], preload, lock.info(), timing, fp) is CodeStatus.UNSET
    assert settled_status(specs[0], starts, lock.info(), timing, fp) is CodeStatus.SET
    assert plan(specs, lock.read(), lock.info(), starts, fingerprint=fp, timing=timing).empty
    p = plan(specs, lock.read(), lock.info(), ends, fingerprint=fp, timing=timing)
    assert [(o.kind, o.change) for o in p.operations] == [(OpKind.CLEAR, Change.EXPIRE)]


def test_a_code_that_prefers_no_native_schedule_goes_just_in_time() -> None:
    lock = TableLock(native=True)
    starts, ends = NOW + timedelta(hours=10), NOW + timedelta(hours=20)
    s = spec("a", "1234", starts_at=starts, ends_at=ends, prefer_native_scheduling=False)
    assert plan([s], lock.read(), lock.info(), NOW, fingerprint=fp).operations == ()


def test_a_schedule_changed_on_the_lock_is_an_external_modification() -> None:
    lock = TableLock(native=True)
    starts, ends = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    specs = settled(lock, [spec("a", "1234", starts_at=starts, ends_at=ends)])
    code, name, _ = lock.held[1]
    lock.held[1] = (code, name, Schedule(starts, ends + timedelta(days=1)))
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [f.fields for f in p.findings if isinstance(f, External)] == [("time_frame",)]
    assert [(op.kind, op.change) for op in p.operations] == [(OpKind.WRITE, Change.RESET)]


def test_a_record_outside_the_locks_numbering_is_released_and_resettled() -> None:
    lock = TableLock(slot_count=3)
    rec = SlotRecord(index=40, phase=Phase.SET, code_fp=fp("1234"))
    p = plan([spec("a", "1234", record=rec)], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.findings == (Release("a", 40),)
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.WRITE, 1)]


def test_a_name_changed_at_the_keypad_is_noticed() -> None:
    lock = TableLock()
    specs = settled(lock, [spec("a", "1234", "Alice")])
    rec = specs[0].record
    assert rec is not None
    assert rec.shown == Shown("Alice")
    lock.held[1] = ("1234", "Mallory", None)
    p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [f.fields for f in p.findings if isinstance(f, External)] == [("name",)]


def test_codes_waiting_for_assignment_are_left_alone() -> None:
    lock = TableLock()
    p = plan([CodeSpec("a", None)], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert p.empty


def test_slots_reported_outside_the_numbering_are_ignored() -> None:
    lock = TableLock(slot_count=2)
    extra = Slot(index=99, status=SlotStatus.ENABLED, code="1234")
    p = plan([spec("a", "1234")], [*lock.read(), extra], lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index) for op in p.operations] == [(OpKind.WRITE, 1)]

"""Slots a masked read cannot vouch for: `tampered` (a change was reported or is certain) is
set again or accepted with a report, `unverified` (a change may have happened unseen) is
written again without one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from keyslot.reconciler.planner import Change, External, OpKind, plan
from keyslot.reconciler.state import CodeSpec, Phase, SlotRecord, SlotState
from tests.reconciler_fakes import TableLock, execute, fp

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def set_on(lock: TableLock, *, allow: bool = False) -> CodeSpec:
    """One code set on `lock`, as the planner sees it afterwards."""
    specs = [CodeSpec("a", "1234", allow_external_modification=allow)]
    for _ in range(3):
        p = plan(specs, lock.read(), lock.info(), NOW, fingerprint=fp)
        if not p.operations:
            return specs[0]
        specs = execute(specs, p, lock)
    raise AssertionError("the plan did not settle")


def marked(s: CodeSpec, *, tampered: bool = False, unverified: bool = False) -> CodeSpec:
    assert s.record is not None
    flagged = dataclasses.replace(s.record, tampered=tampered, unverified=unverified)
    return dataclasses.replace(s, record=flagged)


def test_an_unverified_masked_code_is_written_again_with_nothing_to_report() -> None:
    lock = TableLock(masked=True, name_max=None)
    s = marked(set_on(lock), unverified=True)
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [(op.kind, op.index, op.change, op.fresh) for op in p.operations] == [
        (OpKind.WRITE, 1, Change.VERIFY, False)
    ]
    assert p.findings == ()
    (after,) = execute([s], p, lock)
    assert after.record is not None
    assert not after.record.unverified
    assert plan([after], lock.read(), lock.info(), NOW, fingerprint=fp).empty


def test_an_unverified_code_that_allows_changes_at_the_keypad_is_left_alone() -> None:
    lock = TableLock(masked=True, name_max=None)
    s = marked(set_on(lock, allow=True), unverified=True)
    assert plan([s], lock.read(), lock.info(), NOW, fingerprint=fp).empty


def test_a_readable_slot_settles_what_unverified_only_suspects() -> None:
    lock = TableLock()
    s = marked(set_on(lock), unverified=True)
    assert plan([s], lock.read(), lock.info(), NOW, fingerprint=fp).empty
    lock.held[1] = ("9999", None, None)
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    assert [type(f) for f in p.findings] == [External]
    assert [op.change for op in p.operations] == [Change.RESET]


def test_a_tampered_code_is_reported_even_if_also_unverified() -> None:
    lock = TableLock(masked=True, name_max=None)
    s = marked(set_on(lock), unverified=True, tampered=True)
    p = plan([s], lock.read(), lock.info(), NOW, fingerprint=fp)
    (finding,) = p.findings
    assert isinstance(finding, External)
    assert finding.fields == ("code",)
    assert [op.change for op in p.operations] == [Change.RESET]


def test_the_unverified_mark_is_stored_only_when_set() -> None:
    rec = SlotRecord(index=2, phase=Phase.SET, code_fp=fp("1234"))
    assert "unverified" not in rec.to_json()
    flagged = dataclasses.replace(rec, unverified=True)
    assert flagged.to_json()["unverified"] is True
    state = SlotState(flagged)
    assert SlotState.from_json(state.to_json()) == state
    assert SlotRecord.from_json(rec.to_json()) == rec

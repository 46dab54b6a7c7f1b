"""Fault plans: seeded, scripted, settable at run time, and mapped to keyslot's errors."""

from __future__ import annotations

import pytest

from keyslot.protocol.slots import (
    FinalError,
    LockTimeout,
    LockUnavailable,
    NoFreeSlot,
    RetryableError,
)
from keyslot.simulator.faults import Decision, FaultKind, FaultPlan, FaultSpecError

OPS = ["info", "read_slots", "write_slot", "clear_slot", "write_slot"] * 60


def run(plan: FaultPlan) -> list[FaultKind | None]:
    return [plan.decide(op, 0.0).kind for op in OPS]


def test_no_faults_by_default() -> None:
    plan = FaultPlan()
    assert not plan.active
    assert set(run(plan)) == {None}


def test_seeded_plans_repeat() -> None:
    spec = "lose:0.1,lose_reply:0.1,fail:0.1,full:0.1,delay:0.1@2"
    first = run(FaultPlan.parse(spec, seed=42))
    assert first == run(FaultPlan.parse(spec, seed=42))
    assert first != run(FaultPlan.parse(spec, seed=43))
    assert set(first) == {None, *FaultKind} - {FaultKind.OFFLINE}


def test_rates_are_roughly_honoured() -> None:
    plan = FaultPlan(seed=1, lose=0.25)
    kinds = [plan.decide("read_slots", 0.0).kind for _ in range(4000)]
    assert 800 < kinds.count(FaultKind.LOSE) < 1200


def test_full_only_hits_writes() -> None:
    plan = FaultPlan(seed=3, full=1.0)
    assert plan.decide("read_slots", 0.0).kind is None
    assert plan.decide("write_slot", 0.0).kind is FaultKind.FULL


def test_scripted_faults_come_first_and_run_out() -> None:
    plan = FaultPlan(seed=5)
    plan.inject(FaultKind.LOSE_REPLY, ops={"write_slot"}, count=2)
    plan.inject("delay", delay=3.0)
    assert plan.active
    assert plan.decide("read_slots", 0.0) == Decision(FaultKind.DELAY, 3.0)
    assert plan.decide("write_slot", 0.0).kind is FaultKind.LOSE_REPLY
    assert plan.decide("write_slot", 0.0).kind is FaultKind.LOSE_REPLY
    assert plan.decide("write_slot", 0.0).kind is None
    assert not plan.active


def test_offline_window() -> None:
    plan = FaultPlan()
    plan.go_offline(now=100.0, seconds=30.0)
    assert plan.decide("info", 110.0).kind is FaultKind.OFFLINE
    assert plan.decide("info", 130.0).kind is None
    assert plan.offline_until is None


def test_settable_at_run_time() -> None:
    plan = FaultPlan(seed=9)
    plan.set_rates(fail=1.0)
    assert plan.decide("info", 0.0).kind is FaultKind.FAIL
    plan.clear()
    assert plan.decide("info", 0.0).kind is None
    with pytest.raises(FaultSpecError):
        plan.set_rates(explode=0.5)
    with pytest.raises(FaultSpecError):
        plan.set_rates(lose=1.5)
    plan.reseed(9)
    assert plan.seed == 9


def test_decisions_map_to_errors() -> None:
    assert Decision().applies
    assert Decision().error_before() is None
    lose = Decision(FaultKind.LOSE)
    assert not lose.applies
    assert isinstance(lose.error_before(), LockTimeout)
    reply = Decision(FaultKind.LOSE_REPLY)
    assert reply.applies
    assert reply.error_before() is None
    assert isinstance(reply.error_after(), LockTimeout)
    assert isinstance(Decision(FaultKind.FAIL).error_before(), LockUnavailable)
    assert isinstance(Decision(FaultKind.OFFLINE).error_before(), LockUnavailable)
    full = Decision(FaultKind.FULL).error_before()
    assert isinstance(full, NoFreeSlot)
    assert isinstance(full, FinalError)
    assert Decision(FaultKind.DELAY, 2.0).applies
    for kind in (FaultKind.LOSE, FaultKind.LOSE_REPLY, FaultKind.FAIL, FaultKind.OFFLINE):
        error = Decision(kind).error_before() or Decision(kind).error_after()
        assert isinstance(error, RetryableError)


@pytest.mark.parametrize("spec", ["lose", "lose:x", "delay:0.1@y", "nothing:0.1", "fail:2"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        FaultPlan.parse(spec)


def test_parse_reads_delay_seconds() -> None:
    plan = FaultPlan.parse("delay:1@2.5")
    assert plan.decide("info", 0.0) == Decision(FaultKind.DELAY, 2.5)

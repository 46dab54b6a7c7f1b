"""The simulated keypad: entries, schedules, one-time codes, lockout, manager changes, events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import (
    CodeRejected,
    LockEvent,
    LockEventKind,
    Schedule,
    SlotEntry,
    SlotNotFound,
)
from keyslot.simulator.firmware import EntryResult, LockFirmware
from keyslot.simulator.profiles import get_profile


def make(profile: str, clock: ManualClock) -> tuple[LockFirmware, list[LockEvent]]:
    fw = LockFirmware(get_profile(profile), clock=clock)
    events: list[LockEvent] = []
    fw.subscribe(events.append)
    return fw, events


def kinds(events: list[LockEvent]) -> list[LockEventKind]:
    return [e.kind for e in events]


def test_entry_unlocks_with_slot(clock: ManualClock) -> None:
    fw, events = make("kwikset", clock)
    fw.write_slot(5, SlotEntry("4821", "Alice"))
    assert fw.enter("4821") == EntryResult(unlocked=True, slot=5)
    assert events == [LockEvent(LockEventKind.KEYPAD_UNLOCK, clock.now(), slot=5)]


def test_unknown_code_denied(clock: ManualClock) -> None:
    fw, events = make("kwikset", clock)
    assert fw.enter("9999") == EntryResult(unlocked=False, reason="unknown_code")
    assert events[0].kind is LockEventKind.ACCESS_DENIED
    assert events[0].reason == "unknown_code"


def test_schedule_enforced_by_the_lock_clock(clock: ManualClock) -> None:
    fw, events = make("split", clock)
    start = clock.now() + timedelta(hours=1)
    fw.write_slot(
        1, SlotEntry("4821", "Guest", schedule=Schedule(start, start + timedelta(hours=2)))
    )
    assert fw.enter("4821") == EntryResult(unlocked=False, slot=1, reason="expired_code")
    assert fw.enter("4821", at=start).unlocked
    assert fw.enter("4821", at=start + timedelta(hours=2)).reason == "expired_code"
    # the lock judges by its own clock, which keyslot can set
    fw.set_clock(start + timedelta(minutes=5))
    assert fw.enter("4821").unlocked
    assert kinds(events).count(LockEventKind.ACCESS_DENIED) == 2


def test_one_time_code_consumed(clock: ManualClock) -> None:
    fw, events = make("split", clock)
    fw.write_slot(2, SlotEntry("4821", "Courier", one_time=True))
    assert fw.enter("4821") == EntryResult(unlocked=True, slot=2)
    assert kinds(events) == [LockEventKind.KEYPAD_UNLOCK, LockEventKind.ONE_TIME_CODE_USED]
    assert events[1].slot == 2
    assert not fw.read_slot(2).occupied
    assert fw.enter("4821").reason == "unknown_code"


def test_lockout_after_wrong_codes(clock: ManualClock) -> None:
    fw, events = make("nuki", clock)
    fw.write_slot(1, SlotEntry("345678"))
    assert fw.profile.lockout_attempts == 3
    for _ in range(2):
        assert fw.enter("999999").reason == "unknown_code"
    assert fw.locked_out_until is None
    fw.enter("999999")
    assert LockEventKind.LOCKOUT in kinds(events)
    assert fw.locked_out_until == clock.now() + timedelta(seconds=60)
    assert fw.enter("345678") == EntryResult(unlocked=False, reason="too_many_attempts")
    clock.advance(59)
    assert fw.enter("345678").reason == "too_many_attempts"
    clock.advance(1)
    assert fw.locked_out_until is None
    assert fw.enter("345678").unlocked


def test_right_code_resets_the_count(clock: ManualClock) -> None:
    fw, events = make("nuki", clock)
    fw.write_slot(1, SlotEntry("345678"))
    for _ in range(5):
        fw.enter("999999")
        fw.enter("999998")
        assert fw.enter("345678").unlocked
    assert LockEventKind.LOCKOUT not in kinds(events)


def test_reboot_clears_lockout_keeps_codes(clock: ManualClock) -> None:
    fw, events = make("nuki", clock)
    fw.write_slot(1, SlotEntry("345678", "Kay"))
    fw.set_clock(clock.now() + timedelta(hours=1))
    for _ in range(3):
        fw.enter("999999")
    fw.reboot()
    assert events[-1].kind is LockEventKind.REBOOTED
    assert fw.boot_count == 1
    assert fw.read_slot(1).name == "Kay"
    assert fw.now() == clock.now() + timedelta(hours=1)
    assert fw.enter("345678").unlocked


def test_manager_set_and_delete(clock: ManualClock) -> None:
    fw, events = make("kwikset", clock)
    fw.manager_set(4, "4821", "Cleaner")
    assert events[-1] == LockEvent(LockEventKind.CODE_ADDED, clock.now(), slot=4)
    fw.manager_set(4, "4822")
    assert events[-1].kind is LockEventKind.CODE_CHANGED
    assert fw.read_slot(4).name == "Cleaner"  # the name stays when only the code changes
    assert fw.enter("4822").unlocked
    fw.manager_delete(4)
    assert events[-1] == LockEvent(LockEventKind.CODE_DELETED, clock.now(), slot=4)
    count = len(events)
    fw.manager_delete(4)  # nothing to delete: no event
    assert len(events) == count


def test_manager_obeys_the_rules(clock: ManualClock) -> None:
    fw, events = make("nuki", clock)
    with pytest.raises(CodeRejected):
        fw.manager_set(1, "012345")
    with pytest.raises(SlotNotFound):
        fw.manager_set(99, "345678")
    with pytest.raises(SlotNotFound):
        fw.manager_delete(99)
    assert events == []


def test_unsubscribe_and_failing_subscriber(clock: ManualClock) -> None:
    fw = LockFirmware(get_profile("kwikset"), clock=clock)
    seen: list[LockEvent] = []

    def broken(event: LockEvent) -> None:
        raise RuntimeError("subscriber bug")

    fw.subscribe(broken)
    unsubscribe = fw.subscribe(seen.append)
    fw.enter("1111")
    assert len(seen) == 1
    unsubscribe()
    unsubscribe()
    fw.enter("1111")
    assert len(seen) == 1


def test_controller_writes_raise_no_events(clock: ManualClock) -> None:
    fw, events = make("kwikset", clock)
    fw.write_slot(1, SlotEntry("4821"))
    fw.clear_slot(1)
    assert events == []

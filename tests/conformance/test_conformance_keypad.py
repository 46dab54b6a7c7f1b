"""What happens at the lock reaches the driver: keypad use, manager changes, faults, reboots.

These tests press keys on the simulated keypad and inject faults at the front-end, so they
need the firmware and skip on real hardware.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyslot.protocol.slots import (
    LockEventKind,
    LockInfo,
    LockTimeout,
    LockUnavailable,
    NoFreeSlot,
    RetryableError,
    Schedule,
    SlotEntry,
)
from keyslot.simulator.faults import FaultKind
from tests.conformance.helpers import (
    CodeFactory,
    expect_error,
    free_slots,
    needs_firmware,
    slot_at,
    wait_event,
    within,
)
from tests.conformance.targets import Harness


async def _info(h: Harness) -> LockInfo:
    return await within(h, h.lock.info())


async def test_keypad_unlock_and_denial_events(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    codes = CodeFactory(info)
    code, unknown = codes(), codes()
    index = (await free_slots(harness))[0]
    stream = harness.lock.events()
    await within(harness, harness.lock.write_slot(index, SlotEntry(code, "Lee")))

    result = firmware.enter(code)
    assert result.unlocked
    assert result.slot == index
    event = await wait_event(harness, stream, lambda e: e.kind is LockEventKind.KEYPAD_UNLOCK)
    assert event.slot == index

    denied = firmware.enter(unknown)
    assert not denied.unlocked
    assert denied.reason == "unknown_code"
    event = await wait_event(harness, stream, lambda e: e.kind is LockEventKind.ACCESS_DENIED)
    assert event.reason == "unknown_code"


async def test_manager_changes_at_the_keypad_are_reported(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    codes = CodeFactory(info)
    index = (await free_slots(harness))[0]
    stream = harness.lock.events()

    firmware.manager_set(index, codes(), "Manager")
    event = await wait_event(harness, stream, lambda e: e.kind is LockEventKind.CODE_ADDED)
    assert event.slot == index
    assert (await slot_at(harness, index)).occupied

    firmware.manager_set(index, codes())
    event = await wait_event(harness, stream, lambda e: e.kind is LockEventKind.CODE_CHANGED)
    assert event.slot == index

    firmware.manager_delete(index)
    event = await wait_event(harness, stream, lambda e: e.kind is LockEventKind.CODE_DELETED)
    assert event.slot == index
    assert not (await slot_at(harness, index)).occupied


async def test_keypad_lockout(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    codes = CodeFactory(info)
    code = codes()
    index = (await free_slots(harness))[0]
    await within(harness, harness.lock.write_slot(index, SlotEntry(code, "Lou")))
    stream = harness.lock.events()
    for _ in range(firmware.profile.lockout_attempts):
        assert not firmware.enter(codes()).unlocked
    await wait_event(harness, stream, lambda e: e.kind is LockEventKind.LOCKOUT)
    refused = firmware.enter(code)
    assert not refused.unlocked
    assert refused.reason == "too_many_attempts"
    later = firmware.now() + timedelta(seconds=firmware.profile.lockout_seconds)
    assert firmware.enter(code, at=later).unlocked


async def test_one_time_code_is_consumed(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    if not info.one_time_codes:
        pytest.skip("this lock has no one-time codes")
    code = CodeFactory(info)()
    index = (await free_slots(harness))[0]
    stream = harness.lock.events()
    await within(harness, harness.lock.write_slot(index, SlotEntry(code, "Once", one_time=True)))
    assert firmware.enter(code).unlocked
    event = await wait_event(harness, stream, lambda e: e.kind is LockEventKind.ONE_TIME_CODE_USED)
    assert event.slot == index
    assert not (await slot_at(harness, index)).occupied
    assert firmware.enter(code).reason == "unknown_code"


async def test_native_schedule_enforced_by_the_lock(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    if not info.native_schedules:
        pytest.skip("this lock has no native schedules")
    now = firmware.now().replace(microsecond=0)
    window = Schedule(now + timedelta(hours=1), now + timedelta(hours=3))
    code = CodeFactory(info)()
    index = (await free_slots(harness))[0]
    await within(harness, harness.lock.write_slot(index, SlotEntry(code, "Later", schedule=window)))
    assert firmware.enter(code).reason == "expired_code"
    assert firmware.enter(code, at=now + timedelta(hours=2)).unlocked
    assert firmware.enter(code, at=now + timedelta(hours=3)).reason == "expired_code"


async def test_failures_are_retryable(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    codes = CodeFactory(info)
    index = (await free_slots(harness))[0]

    firmware.faults.inject(FaultKind.FAIL)
    await expect_error(harness, harness.lock.write_slot(index, SlotEntry(codes())), RetryableError)
    firmware.faults.inject(FaultKind.LOSE)
    await expect_error(harness, harness.lock.read_slots(), RetryableError)
    firmware.faults.go_offline(harness.clock.monotonic(), 30.0)
    exc = await expect_error(harness, harness.lock.read_slots(), RetryableError)
    assert isinstance(exc, LockUnavailable | LockTimeout)
    await harness.advance(31.0)
    assert not (await slot_at(harness, index)).occupied


async def test_lost_reply_never_duplicates(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    code = CodeFactory(info)()
    index = (await free_slots(harness))[0]
    entry = SlotEntry(code, "Retry")
    firmware.faults.inject(FaultKind.LOSE_REPLY, ops={"write_slot"})
    await expect_error(harness, harness.lock.write_slot(index, entry), RetryableError)
    assert (await slot_at(harness, index)).occupied  # it was applied
    again = await within(harness, harness.lock.write_slot(index, entry))
    assert again.index == index
    occupied = [s for s in await within(harness, harness.lock.read_slots()) if s.occupied]
    assert len(occupied) == 1


async def test_full_table_reported(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    index = (await free_slots(harness))[0]
    firmware.faults.inject(FaultKind.FULL, ops={"write_slot"})
    exc = await expect_error(
        harness, harness.lock.write_slot(index, SlotEntry(CodeFactory(info)())), NoFreeSlot
    )
    assert not exc.retryable
    assert not (await slot_at(harness, index)).occupied


async def test_codes_survive_a_reboot(harness: Harness) -> None:
    firmware = needs_firmware(harness)
    info = await _info(harness)
    code = CodeFactory(info)()
    index = (await free_slots(harness))[0]
    written = await within(harness, harness.lock.write_slot(index, SlotEntry(code, "Stay")))
    firmware.reboot()
    read = await within(harness, harness.lock.read_slots())
    after = next(s for s in read if s.index == index)
    assert after.occupied
    assert after.name == written.name
    assert firmware.enter(code).unlocked


async def test_event_stream_ends_when_the_lock_closes(harness: Harness) -> None:
    stream = harness.lock.events()
    await within(harness, harness.lock.aclose())
    await within(harness, harness.lock.aclose())  # closing twice is harmless

    async def drain() -> list[object]:
        return [event async for event in stream]

    await within(harness, drain())  # fails unless the stream ends

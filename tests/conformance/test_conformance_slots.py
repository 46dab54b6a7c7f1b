"""Slot programming, as every driver must do it: capabilities, writes, reads, refusals.

On a real lock the tests write only to slots that were empty when they started (the
hardware harness refuses anything else), and no code reaches an assertion message.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyslot.protocol.slots import (
    CodeRejected,
    DuplicateCode,
    FinalError,
    LockInfo,
    NameRejected,
    NoFreeSlot,
    NotSupported,
    RetryableError,
    Schedule,
    SlotEntry,
    SlotNotFound,
    SlotStatus,
)
from tests.conformance.helpers import (
    CodeFactory,
    expect_error,
    free_slots,
    on_real_lock,
    same_code,
    slot_at,
    within,
)
from tests.conformance.targets import Harness


async def _info(h: Harness) -> LockInfo:
    return await within(h, h.lock.info())


def _measure(text: str, info: LockInfo) -> int:
    rules = info.name_rules
    assert rules is not None
    return len(text.encode(rules.encoding)) if rules.unit == "bytes" else len(text)


async def test_capabilities_are_sane(harness: Harness) -> None:
    info = await _info(harness)
    assert info.slot_count >= 1
    assert info.first_slot >= 0
    assert info.code_lengths
    assert list(info.code_lengths) == sorted(set(info.code_lengths))
    assert all(1 <= n <= 16 for n in info.code_lengths)
    assert info.alphabet
    assert info.vendor
    assert info.model
    rules = info.name_rules
    if rules is not None:
        assert 0 <= rules.min_length <= rules.max_length
        assert rules.unit in ("chars", "bytes")
        if rules.split:
            assert rules.first_max
            assert rules.last_max
    slots = await within(harness, harness.lock.read_slots())
    assert [s.index for s in slots] == list(info.slot_range)


async def test_write_then_read_back(harness: Harness) -> None:
    info = await _info(harness)
    code = CodeFactory(info)()
    index = (await free_slots(harness))[0]
    written = await within(harness, harness.lock.write_slot(index, SlotEntry(code, "Alex Morgan")))
    assert written.index == index
    assert written.status is SlotStatus.ENABLED
    read = await slot_at(harness, index)
    assert read.occupied
    if info.codes_readable:
        same_code(written.code, code, "the write's answer")
        same_code(read.code, code, "the slot read back")
    else:
        assert written.code is None
        assert written.code_masked
        assert read.code is None
        assert read.code_masked
    assert read.name == written.name
    assert read.first_name == written.first_name
    assert read.last_name == written.last_name
    if info.name_rules is None:
        assert written.name is None
    else:
        assert written.name


async def test_rewriting_the_same_entry_is_not_a_duplicate(harness: Harness) -> None:
    info = await _info(harness)
    code = CodeFactory(info)()
    index = (await free_slots(harness))[0]
    entry = SlotEntry(code, "Sam Lee")
    first = await within(harness, harness.lock.write_slot(index, entry))
    again = await within(harness, harness.lock.write_slot(index, entry))
    assert again.name == first.name
    assert (await slot_at(harness, index)).occupied


async def test_clear_slot(harness: Harness) -> None:
    info = await _info(harness)
    index = (await free_slots(harness))[0]
    await within(harness, harness.lock.write_slot(index, SlotEntry(CodeFactory(info)(), "Kim")))
    await within(harness, harness.lock.clear_slot(index))
    cleared = await slot_at(harness, index)
    assert not cleared.occupied
    assert cleared.status is SlotStatus.EMPTY
    assert cleared.code is None
    # clearing an empty slot is harmless
    await within(harness, harness.lock.clear_slot(index))
    assert not (await slot_at(harness, index)).occupied


async def test_duplicate_code_refused(harness: Harness) -> None:
    info = await _info(harness)
    code = CodeFactory(info)()
    first, second = (await free_slots(harness))[:2]
    await within(harness, harness.lock.write_slot(first, SlotEntry(code, "Ann")))
    exc = await expect_error(
        harness, harness.lock.write_slot(second, SlotEntry(code, "Ben")), DuplicateCode
    )
    assert isinstance(exc, FinalError)
    assert exc.existing_slot in (None, first)
    assert not (await slot_at(harness, second)).occupied


async def test_full_table_refused(harness: Harness) -> None:
    info = await _info(harness)
    codes = CodeFactory(info)
    # the simulator knows its cap; on hardware the suite learns it by filling the lock
    limit = harness.firmware.profile.active_limit if harness.firmware else None
    free = await free_slots(harness)
    occupied = info.slot_count - len(free)
    refused: NoFreeSlot | None = None
    for index in free:
        try:
            await within(harness, harness.lock.write_slot(index, SlotEntry(codes(), f"G {index}")))
        except NoFreeSlot as exc:
            refused = exc
            break
    if refused is None:
        assert limit in (None, info.slot_count)
        pytest.skip("every slot of this lock can hold a code at once: it never reports full")
    assert isinstance(refused, FinalError)
    filled = free[: free.index(index)]
    if limit is not None:
        assert occupied + len(filled) == limit
    assert refused.slot in (None, index)
    assert not (await slot_at(harness, index)).occupied
    # a full lock still lets an occupied slot be rewritten: one the test filled, never a
    # code that was on the lock before (on a real lock that is someone's code)
    if not filled:
        pytest.skip("the lock was full before the check: it has no slot of its own to rewrite")
    taken = filled[-1]
    await within(harness, harness.lock.write_slot(taken, SlotEntry(codes(), f"G {taken}")))
    assert (await slot_at(harness, taken)).occupied


async def test_invalid_codes_refused(harness: Harness) -> None:
    info = await _info(harness)
    index = (await free_slots(harness))[0]
    for reason, code in CodeFactory(info).breaking():
        exc = await expect_error(
            harness, harness.lock.write_slot(index, SlotEntry(code, "Dee")), CodeRejected
        )
        assert not isinstance(exc, RetryableError), reason
        if len(code) >= 4 and code in exc.message:
            raise AssertionError(f"{reason}: the error message contains the code")
    assert not (await slot_at(harness, index)).occupied


async def test_slot_outside_numbering_refused(harness: Harness) -> None:
    if on_real_lock(harness):
        pytest.skip(
            "a real lock may keep a slot outside its numbering (a master code): "
            "the suite writes only to slots it saw empty"
        )
    info = await _info(harness)
    code = CodeFactory(info)()
    for index in (info.first_slot - 1, info.first_slot + info.slot_count):
        await expect_error(harness, harness.lock.write_slot(index, SlotEntry(code)), SlotNotFound)


LONG_NAMES = (
    "Maximilian Alexander Featherstonehaugh-Worthington",
    "Zoë Ångström-Øvergaard Müller",
    "李小龍 王菲 周杰倫 鄧麗君 張學友",
    "Jo",
)


async def test_names_as_the_lock_shows_them(harness: Harness) -> None:
    info = await _info(harness)
    codes = CodeFactory(info)
    free = await free_slots(harness)
    rules = info.name_rules
    for index, name in zip(free, LONG_NAMES, strict=False):
        written = await within(harness, harness.lock.write_slot(index, SlotEntry(codes(), name)))
        read = await slot_at(harness, index)
        assert (read.name, read.first_name, read.last_name) == (
            written.name,
            written.first_name,
            written.last_name,
        )
        if rules is None:
            assert written.name is None
            continue
        assert written.name
        if rules.split:
            assert written.first_name
            assert _measure(written.first_name, info) <= (rules.first_max or rules.max_length)
            if written.last_name is not None:
                assert _measure(written.last_name, info) <= (rules.last_max or rules.max_length)
            assert written.first_name in name
        else:
            assert _measure(written.name, info) <= rules.max_length
            assert name.startswith(written.name)


async def test_name_too_short_refused(harness: Harness) -> None:
    info = await _info(harness)
    if info.name_rules is None or info.name_rules.min_length < 2:
        pytest.skip("this lock takes names of any length")
    index = (await free_slots(harness))[0]
    short = "A" * (info.name_rules.min_length - 1)
    await expect_error(
        harness, harness.lock.write_slot(index, SlotEntry(CodeFactory(info)(), short)), NameRejected
    )
    assert not (await slot_at(harness, index)).occupied


async def test_unique_names(harness: Harness) -> None:
    info = await _info(harness)
    if info.name_rules is None or not info.name_rules.unique:
        pytest.skip("this lock allows two slots with one name")
    codes = CodeFactory(info)
    first, second = (await free_slots(harness))[:2]
    await within(harness, harness.lock.write_slot(first, SlotEntry(codes(), "Pat Doe")))
    await expect_error(
        harness, harness.lock.write_slot(second, SlotEntry(codes(), "Pat Doe")), NameRejected
    )


async def test_schedules(harness: Harness) -> None:
    info = await _info(harness)
    now = harness.clock.now().replace(microsecond=0)
    schedule = Schedule(now + timedelta(hours=1), now + timedelta(days=2))
    index = (await free_slots(harness))[0]
    entry = SlotEntry(CodeFactory(info)(), "Renter", schedule=schedule)
    if not info.native_schedules:
        await expect_error(harness, harness.lock.write_slot(index, entry), NotSupported)
        assert not (await slot_at(harness, index)).occupied
        return
    written = await within(harness, harness.lock.write_slot(index, entry))
    assert written.schedule == schedule
    assert (await slot_at(harness, index)).schedule == schedule


async def test_one_time_codes_need_support(harness: Harness) -> None:
    info = await _info(harness)
    index = (await free_slots(harness))[0]
    entry = SlotEntry(CodeFactory(info)(), "Courier", one_time=True)
    if info.one_time_codes:
        written = await within(harness, harness.lock.write_slot(index, entry))
        assert written.one_time
    else:
        await expect_error(harness, harness.lock.write_slot(index, entry), NotSupported)


async def test_masked_locks_never_return_a_code(harness: Harness) -> None:
    info = await _info(harness)
    codes = CodeFactory(info)
    for index in (await free_slots(harness))[:3]:
        await within(harness, harness.lock.write_slot(index, SlotEntry(codes(), f"M{index}x")))
    for slot in await within(harness, harness.lock.read_slots()):
        if not slot.occupied:
            assert slot.code is None
        elif info.codes_readable:
            assert slot.code is not None
            assert not slot.code_masked
        else:
            assert slot.code is None
            assert slot.code_masked


async def test_checksum_follows_the_table(harness: Harness) -> None:
    info = await _info(harness)
    before = await within(harness, harness.lock.slots_checksum())
    if before is None:
        pytest.skip("this lock has no slot table checksum")
    index = (await free_slots(harness))[0]
    await within(harness, harness.lock.write_slot(index, SlotEntry(CodeFactory(info)(), "C")))
    changed = await within(harness, harness.lock.slots_checksum())
    assert changed != before
    await within(harness, harness.lock.clear_slot(index))
    assert await within(harness, harness.lock.slots_checksum()) == before


async def test_set_clock_is_supported_or_refused_cleanly(harness: Harness) -> None:
    try:
        await within(harness, harness.lock.set_clock(harness.clock.now()))
    except NotSupported:
        info = await _info(harness)
        assert not info.native_schedules, "a lock with native schedules needs its clock set"

"""LockFirmware's slot table: numbering, code rules, duplicates, a full table, names, masking."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import (
    CodeRejected,
    DuplicateCode,
    FinalError,
    NameRejected,
    NoFreeSlot,
    NotSupported,
    Schedule,
    SlotEntry,
    SlotNotFound,
    SlotRejected,
    SlotStatus,
    WriteConfirmation,
)
from keyslot.simulator.firmware import LockFirmware, crc16_aug_ccitt
from keyslot.simulator.profiles import get_profile


def make(profile: str, clock: ManualClock) -> LockFirmware:
    return LockFirmware(get_profile(profile), clock=clock, lock_id=f"t-{profile}")


@pytest.mark.parametrize("name", ["kwikset", "nuki", "schlage", "split"])
def test_slot_table_follows_the_profile_numbering(name: str, clock: ManualClock) -> None:
    fw = make(name, clock)
    profile = fw.profile
    slots = fw.read_slots()
    assert [s.index for s in slots] == list(range(1, profile.slot_count + 1))
    assert all(s.status is SlotStatus.EMPTY and s.code is None for s in slots)
    for bad in (profile.first_slot - 1, profile.first_slot + profile.slot_count):
        with pytest.raises(SlotNotFound) as err:
            fw.read_slot(bad)
        assert err.value.slot == bad
        with pytest.raises(SlotNotFound):
            fw.write_slot(bad, SlotEntry("4567"))
        with pytest.raises(SlotNotFound):
            fw.clear_slot(bad)
    assert fw.info() == profile.info(fw.lock_id)


def test_write_returns_what_the_lock_holds(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    slot = fw.write_slot(3, SlotEntry("4821", "Alice"))
    assert slot.index == 3
    assert slot.status is SlotStatus.ENABLED
    assert slot.code == "4821"
    assert slot.name == "Alice"
    assert slot.confirmation is WriteConfirmation.CONFIRMED
    assert fw.read_slot(3) == slot
    assert fw.occupied == 1


def test_identical_rewrite_is_no_change(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    fw.write_slot(3, SlotEntry("4821", "Alice"))
    same = fw.write_slot(3, SlotEntry("4821", "Alice"))
    assert same.confirmation is WriteConfirmation.NO_CHANGE
    renamed = fw.write_slot(3, SlotEntry("4821", "Alicia"))
    assert renamed.confirmation is WriteConfirmation.CONFIRMED
    assert renamed.name == "Alicia"


def test_disabled_entry(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    slot = fw.write_slot(1, SlotEntry("4821", "Off", enabled=False))
    assert slot.status is SlotStatus.DISABLED
    assert slot.occupied
    assert not fw.enter("4821").unlocked


@pytest.mark.parametrize(
    ("profile", "code", "constraint"),
    [
        ("kwikset", "482", "code_length"),
        ("kwikset", "482193756", "code_length"),
        ("kwikset", "48a1", "alphabet"),
        ("nuki", "48219", "code_length"),
        ("nuki", "482093", "no_zeros"),
        ("nuki", "124567", "cannot_start_with_12"),
        ("schlage", "48219375612", "code_length"),
        ("split", "7777", "no_all_same_digits"),
    ],
)
def test_code_rules(profile: str, code: str, constraint: str, clock: ManualClock) -> None:
    fw = make(profile, clock)
    with pytest.raises(CodeRejected) as err:
        fw.write_slot(2, SlotEntry(code, "Someone"))
    assert err.value.constraint == constraint
    assert err.value.slot == 2
    assert isinstance(err.value, FinalError)
    assert not err.value.retryable
    assert code not in str(err.value)
    assert fw.occupied == 0


def test_accepted_codes(clock: ManualClock) -> None:
    assert make("nuki", clock).write_slot(1, SlotEntry("345678")).occupied
    assert make("schlage", clock).write_slot(1, SlotEntry("4821937561")).occupied
    assert make("kwikset", clock).write_slot(1, SlotEntry("0000")).occupied


def test_schlage_first_four_digits_unique(clock: ManualClock) -> None:
    fw = make("schlage", clock)
    fw.write_slot(1, SlotEntry("48211"))
    with pytest.raises(CodeRejected) as err:
        fw.write_slot(2, SlotEntry("482199"))
    assert err.value.constraint == "unique_first_four_digits"
    fw.write_slot(1, SlotEntry("482199"))  # the same slot may keep its prefix


def test_duplicate_code_refused(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    fw.write_slot(4, SlotEntry("4821", "Alice"))
    with pytest.raises(DuplicateCode) as err:
        fw.write_slot(7, SlotEntry("4821", "Bob"))
    assert err.value.existing_slot == 4
    assert err.value.slot == 7
    assert "4821" not in str(err.value)
    assert not fw.read_slot(7).occupied


def test_full_table_refused(clock: ManualClock) -> None:
    fw = make("nuki", clock)
    assert fw.profile.max_active_codes == 10
    for index in range(1, 11):
        fw.write_slot(index, SlotEntry(f"3456{index // 9 + 7}{index % 9 + 1}"))
    with pytest.raises(NoFreeSlot) as err:
        fw.write_slot(11, SlotEntry("987654"))
    assert err.value.slot == 11
    assert not fw.read_slot(11).occupied
    fw.write_slot(5, SlotEntry("987654"))  # rewriting an occupied slot is fine when full
    fw.clear_slot(1)
    assert fw.write_slot(11, SlotEntry("876543")).occupied


def test_every_slot_fillable_without_cap(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    for index in range(1, 31):
        fw.write_slot(index, SlotEntry(f"{index + 1000}"))
    assert fw.occupied == 30


def test_clear_and_clear_all(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    fw.write_slot(1, SlotEntry("4821"))
    fw.write_slot(2, SlotEntry("4822"))
    fw.clear_slot(1)
    fw.clear_slot(1)
    assert [s.index for s in fw.read_slots() if s.occupied] == [2]
    fw.clear_all()
    assert fw.occupied == 0


def test_masked_read_back(clock: ManualClock) -> None:
    fw = make("schlage", clock)
    slot = fw.write_slot(1, SlotEntry("48213", "Named"))
    assert slot.code is None
    assert slot.code_masked
    assert slot.name is None  # this lock keeps no names
    assert all(s.code is None for s in fw.read_slots())
    assert fw.stored(1) is not None
    assert fw.profile.code_mask == "**********"
    assert not fw.read_slot(2).code_masked


def test_kwikset_names(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    assert fw.write_slot(1, SlotEntry("4821", "Maximilian Featherstone")).name == "Maximilian Fea"
    with pytest.raises(NameRejected):
        fw.write_slot(2, SlotEntry("4822", "A"))
    assert fw.write_slot(2, SlotEntry("4822", None)).name is None
    assert fw.write_slot(3, SlotEntry("4823", "   ")).name is None
    assert fw.write_slot(4, SlotEntry("4824", "Al")).name == "Al"


def test_nuki_names_cut_in_bytes(clock: ManualClock) -> None:
    fw = make("nuki", clock)
    slot = fw.write_slot(1, SlotEntry("345678", "Zoë Ångström-Øvergaard"))
    assert slot.name == "Zoë Ångström-Øve"
    assert len(slot.name.encode()) == 20
    emoji = fw.write_slot(2, SlotEntry("345679", "🔑" * 6))
    assert emoji.name == "🔑" * 5


def test_split_names(clock: ManualClock) -> None:
    fw = make("split", clock)
    slot = fw.write_slot(1, SlotEntry("4821", "Mary Ann Smithsonian-Jones"))
    assert (slot.first_name, slot.last_name) == ("Mary Ann", "Smithsonia")
    assert slot.name == "Mary Ann Smithsonia"
    single = fw.write_slot(2, SlotEntry("4822", "Cher"))
    assert (single.first_name, single.last_name, single.name) == ("Cher", None, "Cher")
    trimmed = fw.write_slot(3, SlotEntry("4823", "Anna Mariaxx Berg"))
    assert trimmed.first_name == "Anna Maria"
    cut_at_space = fw.write_slot(4, SlotEntry("4824", "Annabelle Rose Lind"))
    assert cut_at_space.first_name == "Annabelle"


def test_unique_names(clock: ManualClock) -> None:
    fw = make("split", clock)
    fw.write_slot(1, SlotEntry("4821", "Pat Doe"))
    with pytest.raises(NameRejected) as err:
        fw.write_slot(2, SlotEntry("4822", "pat doe"))
    assert err.value.slot == 2
    fw.write_slot(1, SlotEntry("4829", "Pat Doe"))  # a slot does not clash with itself
    # names equal only after the lock cuts them clash too
    fw.write_slot(3, SlotEntry("4823", "Alexandria Smithsonian"))
    with pytest.raises(NameRejected):
        fw.write_slot(4, SlotEntry("4824", "Alexandrias Smithsonians"))


def test_schedules_need_native_support(clock: ManualClock) -> None:
    window = Schedule(clock.now(), clock.now() + timedelta(hours=1))
    with pytest.raises(NotSupported):
        make("kwikset", clock).write_slot(1, SlotEntry("4821", schedule=window))
    fw = make("split", clock)
    assert fw.write_slot(1, SlotEntry("4821", schedule=window)).schedule == window
    backwards = Schedule(window.ends_at, window.starts_at)
    with pytest.raises(SlotRejected) as err:
        fw.write_slot(2, SlotEntry("4822", schedule=backwards))
    assert err.value.code == "invalid_schedule"


def test_one_time_needs_support(clock: ManualClock) -> None:
    with pytest.raises(NotSupported):
        make("nuki", clock).write_slot(1, SlotEntry("345678", one_time=True))
    assert make("split", clock).write_slot(1, SlotEntry("4821", one_time=True)).one_time


def test_checksum(clock: ManualClock) -> None:
    fw = make("schlage", clock)
    assert fw.checksum() == 0
    fw.write_slot(3, SlotEntry("4821"))
    fw.write_slot(1, SlotEntry("93570"))
    expected = crc16_aug_ccitt(b"\x00\x01\x0193570" + b"\x00\x03\x014821")
    assert fw.checksum() == expected
    fw.write_slot(1, SlotEntry("93570", enabled=False))
    assert fw.checksum() == crc16_aug_ccitt(b"\x00\x01\x0293570" + b"\x00\x03\x014821")
    fw.clear_all()
    assert fw.checksum() == 0


def test_crc_check_value() -> None:
    # CRC-16/AUG-CCITT's published check value
    assert crc16_aug_ccitt(b"123456789") == 0xE5CC


def test_lock_clock(clock: ManualClock) -> None:
    fw = make("split", clock)
    assert fw.now() == clock.now()
    target = clock.now() + timedelta(hours=5)
    fw.set_clock(target)
    assert fw.now() == target
    clock.advance(60)
    assert fw.now() == target + timedelta(seconds=60)
    with pytest.raises(ValueError, match="timezone"):
        fw.set_clock(target.replace(tzinfo=None))


def test_repr_hides_codes(clock: ManualClock) -> None:
    fw = make("kwikset", clock)
    fw.write_slot(1, SlotEntry("4821", "Alice"))
    stored = fw.stored(1)
    assert "4821" not in repr(stored)
    assert "4821" not in repr(fw.read_slot(1))

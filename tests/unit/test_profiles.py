"""Vendor profiles are data: complete, consistent, and looked up by name."""

from __future__ import annotations

import dataclasses

import pytest

from keyslot.protocol.slots import FinalError, KeyslotError, LockInfo
from keyslot.simulator.profiles import (
    KNOWN_CONSTRAINTS,
    PROFILES,
    Profile,
    UnknownProfile,
    get_profile,
    profile_names,
)


def test_the_four_profiles() -> None:
    assert set(profile_names()) >= {"kwikset", "nuki", "schlage", "split"}
    for name in profile_names():
        assert get_profile(name).name == name


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(UnknownProfile) as err:
        get_profile("yale-9000")
    assert isinstance(err.value, KeyslotError)
    assert isinstance(err.value, FinalError)
    for name in profile_names():
        assert name in str(err.value)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_info_reflects_the_profile(name: str) -> None:
    profile = get_profile(name)
    info = profile.info("front-door")
    assert isinstance(info, LockInfo)
    assert (info.vendor, info.model) == (profile.vendor, profile.model)
    assert info.slot_range == profile.slot_range
    assert info.code_lengths == profile.code_lengths
    assert info.constraints == profile.constraints
    assert info.name_rules == profile.name_rules
    assert info.offline_pins == profile.offline_pins
    assert info.serial_number == profile.info("front-door").serial_number
    assert info.serial_number != profile.info("back-door").serial_number
    assert set(profile.constraints) <= KNOWN_CONSTRAINTS
    assert profile.lockout_attempts >= 1
    assert profile.lockout_seconds > 0


def test_brief_facts() -> None:
    kwikset, nuki, schlage, split = (
        get_profile(n) for n in ("kwikset", "nuki", "schlage", "split")
    )
    assert kwikset.slot_count == 30
    assert kwikset.code_lengths == (4, 5, 6, 7, 8)
    assert kwikset.name_rules is not None
    assert (kwikset.name_rules.min_length, kwikset.name_rules.max_length) == (2, 14)
    assert nuki.code_lengths == (6,)
    assert set(nuki.constraints) == {"no_zeros", "cannot_start_with_12"}
    assert nuki.name_rules is not None
    assert (nuki.name_rules.unit, nuki.name_rules.max_length) == ("bytes", 20)
    assert schlage.slot_count == 30
    assert schlage.code_lengths == tuple(range(4, 11))
    assert schlage.name_rules is None
    assert not schlage.codes_readable
    assert schlage.checksum
    assert split.name_rules is not None
    assert split.name_rules.split
    assert split.native_schedules


def test_capacity_and_one_time_variety() -> None:
    assert any(p.active_limit < p.slot_count for p in PROFILES.values())
    assert any(p.one_time_codes for p in PROFILES.values())
    assert get_profile("kwikset").active_limit == 30


def test_profiles_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_profile("nuki").slot_count = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [
        {"constraints": ("no_vowels",)},
        {"slot_count": 0},
        {"code_lengths": ()},
        {"max_active_codes": 31},
        {"lockout_attempts": 0},
    ],
)
def test_invalid_profiles_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="profile"):
        dataclasses.replace(get_profile("kwikset"), **changes)  # type: ignore[arg-type]


def test_a_new_profile_is_just_data() -> None:
    custom = Profile(name="tiny", vendor="Acme", model="K1", slot_count=3, first_slot=0)
    assert list(custom.info().slot_range) == [0, 1, 2]

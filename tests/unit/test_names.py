"""Fitting names to a lock's name rules: truncation, charset, first/last split, limits."""

from __future__ import annotations

import pytest

from keyslot.model import Appearance
from keyslot.names import fit_name, measure, name_constraints
from keyslot.protocol.slots import NameRejected, NameRules

KWIKSET = NameRules(max_length=14, min_length=2, unit="chars")
NUKI = NameRules(max_length=20, min_length=1, unit="bytes", encoding="utf-8")
SPLIT = NameRules(max_length=21, min_length=1, split=True, first_max=10, last_max=10, unique=True)


def test_a_short_name_is_shown_as_given() -> None:
    assert fit_name("Cleaner", KWIKSET) == Appearance("Cleaner")


def test_truncation_in_characters() -> None:
    assert fit_name("Guest Room Number Four", KWIKSET) == Appearance("Guest Room Num")
    assert fit_name("Zoë Ångström-Ünt", KWIKSET) == Appearance("Zoë Ångström-Ü")


def test_truncation_ends_without_a_trailing_space() -> None:
    # "Guest Room Nu|..." cut at 11 would end in a space before "N"
    rules = NameRules(max_length=11)
    assert fit_name("Guest Room Number", rules) == Appearance("Guest Room")


def test_truncation_in_bytes_never_splits_a_character() -> None:
    # "Zoë Ångström" is 15 bytes; each accented letter is two bytes
    fitted = fit_name("Zoë Ångström-Ünterwäldner", NUKI)
    assert fitted == Appearance("Zoë Ångström-Ünt")
    assert measure(fitted.name, NUKI) <= 20
    emoji = fit_name("🔑🔑🔑🔑🔑🔑", NUKI)  # four bytes each: five fit in 20
    assert emoji == Appearance("🔑🔑🔑🔑🔑")
    one_short = fit_name("abcdefghijklmnopqrsé", NUKI)  # é would need bytes 20 and 21
    assert one_short == Appearance("abcdefghijklmnopqrs")


def test_whitespace_and_control_characters() -> None:
    assert fit_name("  Anna\t\tMaria \n Berg  ", KWIKSET) == Appearance("Anna Maria Ber")
    assert fit_name("An\x00na\u200b B\x7ferg", KWIKSET) == Appearance("Anna Berg")
    assert fit_name("Anna\u00a0Berg", KWIKSET) == Appearance("Anna Berg")


def test_nothing_left_means_no_name() -> None:
    assert fit_name(None, KWIKSET) is None
    assert fit_name("", KWIKSET) is None
    assert fit_name("  \t ", KWIKSET) is None
    assert fit_name("🔑", NameRules(max_length=10, encoding="ascii")) is None


def test_characters_outside_the_charset_are_folded_or_dropped() -> None:
    upper_only = NameRules(max_length=20, charset="ABCDEFGHIJKLMNOPQRSTUVWXYZ ")
    assert fit_name("Zoë Berg", upper_only) == Appearance("ZOE BERG")
    assert fit_name("Anna #4 (guest)", upper_only) == Appearance("ANNA GUEST")
    ascii_lock = NameRules(max_length=20, encoding="ascii")
    assert fit_name("Zoë Ångström ☃", ascii_lock) == Appearance("Zoe Angstrom")
    assert fit_name("ﬁeld Straße", ascii_lock) == Appearance("field Strasse")
    no_space = NameRules(max_length=20, charset="abcdefghijklmnopqrstuvwxyz")
    assert fit_name("anna berg", no_space) == Appearance("annaberg")


def test_split_rule_last_word_is_the_last_name() -> None:
    assert fit_name("Anna Maria Berg", SPLIT) == Appearance(
        "Anna Maria Berg", first_name="Anna Maria", last_name="Berg"
    )
    assert fit_name("Cleaner", SPLIT) == Appearance("Cleaner", first_name="Cleaner")
    assert fit_name("Maximiliane Oberhauser-Schmidt", SPLIT) == Appearance(
        "Maximilian Oberhauser", first_name="Maximilian", last_name="Oberhauser"
    )


def test_split_parts_drop_trailing_spaces_after_a_cut() -> None:
    fitted = fit_name("Anna Mariabella Berg", SPLIT)
    assert fitted == Appearance("Anna Maria Berg", first_name="Anna Maria", last_name="Berg")
    fitted = fit_name("Anna Maria Berg", NameRules(max_length=30, split=True, first_max=5))
    assert fitted == Appearance("Anna Berg", first_name="Anna", last_name="Berg")


def test_split_with_byte_limits_drops_a_last_word_that_cannot_fit() -> None:
    rules = NameRules(max_length=8, unit="bytes", split=True, last_max=3)
    # "🔑" needs 4 bytes, so not one character of it fits in 3: the split moves left
    assert fit_name("Ann Berg 🔑", rules) == Appearance(
        "Ann Ber", first_name="Ann", last_name="Ber"
    )


def test_min_length_is_refused() -> None:
    with pytest.raises(NameRejected, match="minimum of 2"):
        fit_name("A", KWIKSET)
    with pytest.raises(NameRejected):
        fit_name("A\x00", KWIKSET)  # what is left after cleaning counts


def test_a_lock_that_does_not_cut_refuses_long_names() -> None:
    strict = NameRules(max_length=5, truncate=False)
    assert fit_name("Anna", strict) == Appearance("Anna")
    with pytest.raises(NameRejected, match="limit of 5"):
        fit_name("Annabel", strict)


def test_a_limit_too_small_for_any_character_is_refused() -> None:
    with pytest.raises(NameRejected):
        fit_name("é", NameRules(max_length=1, unit="bytes"))


def test_other_encodings_count_their_own_bytes() -> None:
    latin = NameRules(max_length=4, unit="bytes", encoding="latin-1")
    assert fit_name("Zoëy!", latin) == Appearance("Zoëy")


def test_name_constraints() -> None:
    assert name_constraints(KWIKSET) == [
        {"constraint_type": "name_length", "min_length": 2, "max_length": 14}
    ]
    assert name_constraints(NameRules(max_length=12)) == [
        {"constraint_type": "name_length", "max_length": 12}
    ]
    assert name_constraints(SPLIT) == [
        {"constraint_type": "name_length", "min_length": 1, "max_length": 21},
        {"constraint_type": "name_must_be_unique"},
    ]


def test_measure() -> None:
    assert measure("Zoë", NUKI) == 4
    assert measure("Zoë", KWIKSET) == 3


def test_a_lone_surrogate_from_json_is_dropped() -> None:
    assert fit_name("Ann\ud800a", NUKI) == Appearance("Anna")


def test_a_very_long_name_is_cut_quickly() -> None:
    fitted = fit_name("é" * 100_000, NUKI)
    assert fitted == Appearance("é" * 10)

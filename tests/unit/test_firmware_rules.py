"""The simulator's own code and name checks, one rule at a time."""

from __future__ import annotations

import pytest

from keyslot.protocol.slots import CodeRejected, NameRejected, NameRules
from keyslot.simulator.rules import FittedName, check_code, fit_name, measure

DIGITS = "0123456789"


def rejects(code: str, constraint: str, others: tuple[str, ...] = ()) -> bool:
    """Whether `constraint` alone refuses `code` (and says that it was this constraint)."""
    refused: str | None = None
    try:
        check_code(
            code, lengths=(4, 5, 6), alphabet=DIGITS, constraints=(constraint,), others=others
        )
    except CodeRejected as exc:
        refused = exc.constraint or "unnamed"
    assert refused in (None, constraint)
    return refused is not None


@pytest.mark.parametrize(
    ("constraint", "bad", "good"),
    [
        ("no_zeros", "4802", "4812"),
        ("cannot_start_with_12", "1234", "2134"),
        ("no_triple_consecutive_ints", "91114", "91214"),
        ("no_triple_consecutive_ints", "94567", "94587"),
        ("no_triple_consecutive_ints", "97654", "97694"),
        ("no_ascending_or_descending_sequence", "3456", "3457"),
        ("no_ascending_or_descending_sequence", "6543", "6542"),
        ("at_least_three_unique_digits", "4545", "4546"),
        ("cannot_contain_089", "4518", "4517"),
        ("cannot_contain_0789", "4517", "4516"),
        ("no_all_same_digits", "7777", "7776"),
    ],
)
def test_constraints(constraint: str, bad: str, good: str) -> None:
    assert rejects(bad, constraint)
    assert not rejects(good, constraint)


def test_unique_first_four_digits_looks_at_other_slots() -> None:
    assert rejects("482199", "unique_first_four_digits", others=("48211",))
    assert not rejects("482199", "unique_first_four_digits", others=("48311",))


def test_length_and_alphabet_first() -> None:
    with pytest.raises(CodeRejected) as err:
        check_code("12", lengths=(4,), alphabet=DIGITS, constraints=(), slot=3)
    assert err.value.constraint == "code_length"
    assert err.value.slot == 3
    with pytest.raises(CodeRejected) as err:
        check_code("12*4", lengths=(4,), alphabet=DIGITS, constraints=())
    assert err.value.constraint == "alphabet"


CHARS = NameRules(max_length=8, min_length=2)
BYTES = NameRules(max_length=6, unit="bytes")
STRICT = NameRules(max_length=5, truncate=False)
SPLIT = NameRules(max_length=9, split=True, first_max=4, last_max=4)


def test_measure() -> None:
    assert measure("Zoë", CHARS) == 3
    assert measure("Zoë", BYTES) == 4


@pytest.mark.parametrize(
    ("name", "rules", "fitted"),
    [
        (None, CHARS, None),
        ("   ", CHARS, None),
        ("  Bob  ", CHARS, FittedName("Bob")),
        ("Christopher", CHARS, FittedName("Christop")),
        ("Ana Mariaaa", CHARS, FittedName("Ana Mari")),
        ("Jo  Smith", CHARS, FittedName("Jo  Smit")),
        ("Joe Bloggs", NameRules(max_length=4), FittedName("Joe")),
        ("ÅÅÅÅ", BYTES, FittedName("ÅÅÅ")),
        ("aÅÅÅ", BYTES, FittedName("aÅÅ")),
        ("Anna", STRICT, FittedName("Anna")),
        ("Mary Ann Lee", SPLIT, FittedName("Mary Lee", "Mary", "Lee")),
        ("Bartholomew", SPLIT, FittedName("Bart", "Bart")),
        ("Al Bundy-Smith", SPLIT, FittedName("Al Bund", "Al", "Bund")),
    ],
)
def test_fit_name(name: str | None, rules: NameRules, fitted: FittedName | None) -> None:
    assert fit_name(name, rules) == fitted


@pytest.mark.parametrize(
    ("name", "rules"),
    [
        ("A", CHARS),
        (" A ", CHARS),
        ("Annabel", STRICT),
        ("Bartholomew", NameRules(max_length=9, split=True, first_max=4, truncate=False)),
        ("🔑🔑", NameRules(max_length=3, unit="bytes")),
        ("Zoë", NameRules(max_length=9, encoding="ascii")),
        (
            "Bob!",
            NameRules(
                max_length=9, charset="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz "
            ),
        ),
    ],
)
def test_names_refused(name: str, rules: NameRules) -> None:
    with pytest.raises(NameRejected) as err:
        fit_name(name, rules, slot=4)
    assert err.value.slot == 4

"""Code constraints and code generation, rule by rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from keyslot.codes import (
    ALPHABET,
    CODE_LENGTH,
    DIGITS,
    DUPLICATE_CODE,
    CodeSpaceExhausted,
    Violation,
    allowed_characters,
    check_code,
    check_request,
    generate_code,
    is_sequence,
    violates,
)
from keyslot.model import CodeConstraintType as C
from keyslot.protocol.slots import FinalError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# (constraint, codes it refuses, codes it accepts)
CASES: list[tuple[C, list[str], list[str]]] = [
    (C.NO_ZEROS, ["1230", "0456", "1011"], ["123456", "987654"]),
    (C.CANNOT_START_WITH_12, ["1234", "123456", "1299"], ["2134", "3121", "1123"]),
    (
        C.NO_TRIPLE_CONSECUTIVE_INTS,
        ["1234", "5111", "9876", "40123", "777", "1210987"],
        ["1357", "1122", "9091", "8909", "2468", "1212"],
    ),
    (
        C.NO_ASCENDING_OR_DESCENDING_SEQUENCE,
        ["1234", "4321", "0123456789", "98765", "56"],
        ["1235", "9012", "1243", "12340", "1111", "7"],
    ),
    (C.AT_LEAST_THREE_UNIQUE_DIGITS, ["1111", "1212", "998899"], ["1213", "123", "987987"]),
    (C.CANNOT_CONTAIN_089, ["1238", "9111", "1012"], ["1234567", "7777"]),
    (C.CANNOT_CONTAIN_0789, ["1237", "8111", "0123", "1119"], ["123456", "6543"]),
    (C.NO_ALL_SAME_DIGITS, ["1111", "000000", "9"], ["1112", "2111"]),
]


@pytest.mark.parametrize(("constraint", "refused", "accepted"), CASES)
def test_each_constraint(constraint: C, refused: list[str], accepted: list[str]) -> None:
    for code in refused:
        assert violates(constraint, code), (constraint, code)
    for code in accepted:
        assert not violates(constraint, code), (constraint, code)


def test_plain_strings_work_like_the_enum() -> None:
    assert violates("no_zeros", "1230")
    assert not violates("no_zeros", "1234")


def test_unique_first_four_digits_is_relative_to_other_codes() -> None:
    others = ["12345", "9876"]
    assert violates(C.UNIQUE_FIRST_FOUR_DIGITS, "123499", others)
    assert violates(C.UNIQUE_FIRST_FOUR_DIGITS, "9876", ["98765"])
    assert not violates(C.UNIQUE_FIRST_FOUR_DIGITS, "1244", others)
    assert not violates(C.UNIQUE_FIRST_FOUR_DIGITS, "123499", [])
    # a shorter code compares whole: "123" does not share four digits with "1234"
    assert not violates(C.UNIQUE_FIRST_FOUR_DIGITS, "123", ["1234"])


def test_unknown_and_request_level_constraints_never_fail_a_code() -> None:
    for constraint in ("vendor_magic", C.CANNOT_SPECIFY_PIN_CODE, C.START_DATE_IN_FUTURE):
        assert not violates(constraint, "0000")


def test_is_sequence() -> None:
    assert is_sequence("6789")
    assert is_sequence("3210")
    assert not is_sequence("8")
    assert not is_sequence("12a4")
    assert not is_sequence("٠١٢٣")  # Arabic-Indic digits are not keypad digits


def test_check_code_lists_every_violation() -> None:
    found = check_code(
        "1230",
        lengths=(6,),
        constraints=[C.NO_ZEROS, C.CANNOT_START_WITH_12, C.NO_TRIPLE_CONSECUTIVE_INTS],
    )
    assert [v.constraint for v in found] == [
        CODE_LENGTH,
        "no_zeros",
        "cannot_start_with_12",
        "no_triple_consecutive_ints",
    ]
    assert all(isinstance(v, Violation) and v.message for v in found)


def test_check_code_accepts_a_good_code() -> None:
    assert check_code("462513", lengths=(4, 6), constraints=list(C)) == []


def test_check_code_length_alphabet_and_duplicates() -> None:
    [length] = check_code("12345", lengths=(4, 6), constraints=())
    assert length.constraint == CODE_LENGTH
    assert "5 digits" in length.message
    assert "4, 6" in length.message
    [alphabet] = check_code("12#4", lengths=(4,), constraints=())
    assert alphabet.constraint == ALPHABET
    [duplicate] = check_code("4821", lengths=(4,), constraints=(), existing_codes={"4821"})
    assert duplicate.constraint == DUPLICATE_CODE
    assert check_code("12#4", lengths=(4,), constraints=(), alphabet=DIGITS + "#") == []


def test_messages_never_contain_the_code() -> None:
    code = "120000"
    found = check_code(code, lengths=(4,), constraints=list(C), existing_codes={code, "1200"})
    assert found
    for violation in found:
        assert code not in violation.message


def test_constraints_are_reported_once() -> None:
    found = check_code("0123", lengths=(4,), constraints=["no_zeros", "no_zeros"])
    assert [v.constraint for v in found].count("no_zeros") == 1


def test_check_request_cannot_specify_pin_code() -> None:
    rules = [C.CANNOT_SPECIFY_PIN_CODE]
    [found] = check_request(rules, code="4821", starts_at=None, now=NOW)
    assert found.constraint == "cannot_specify_pin_code"
    assert check_request(rules, code=None, starts_at=None, now=NOW) == []


def test_check_request_pin_code_matches_existing_set() -> None:
    rules = [C.PIN_CODE_MATCHES_EXISTING_SET]
    known = {"4821", "9753"}
    assert check_request(rules, code="4821", starts_at=None, now=NOW, existing_set=known) == []
    [found] = check_request(rules, code="1111", starts_at=None, now=NOW, existing_set=known)
    assert found.constraint == "pin_code_matches_existing_set"
    assert check_request(rules, code=None, starts_at=None, now=NOW, existing_set=known) == []


def test_check_request_start_date_in_future() -> None:
    rules = [C.START_DATE_IN_FUTURE]
    later = NOW + timedelta(minutes=1)
    assert check_request(rules, code=None, starts_at=later, now=NOW) == []
    assert check_request(rules, code=None, starts_at=None, now=NOW) == []
    for start in (NOW, NOW - timedelta(hours=1)):
        [found] = check_request(rules, code=None, starts_at=start, now=NOW)
        assert found.constraint == "start_date_in_future"


def test_check_request_ignores_code_level_rules() -> None:
    assert check_request([C.NO_ZEROS], code="0000", starts_at=None, now=NOW) == []


def test_allowed_characters() -> None:
    assert allowed_characters([]) == DIGITS
    assert allowed_characters([C.NO_ZEROS]) == "123456789"
    assert allowed_characters([C.CANNOT_CONTAIN_089]) == "1234567"
    assert allowed_characters([C.CANNOT_CONTAIN_0789, C.NO_ZEROS]) == "123456"
    assert allowed_characters([], alphabet="1122") == "12"


def test_generate_code_honours_nuki_rules() -> None:
    rng = random.Random(7)
    rules = [C.NO_ZEROS, C.CANNOT_START_WITH_12]
    for _ in range(200):
        code = generate_code((6,), rules, rng=rng)
        assert len(code) == 6
        assert check_code(code, (6,), rules) == []


def test_generate_code_lengths() -> None:
    rng = random.Random(1)
    assert len(generate_code((4, 5, 6, 7, 8), rng=rng)) == 6  # aims at 6 digits
    assert len(generate_code((4, 5), rng=rng)) == 5
    assert len(generate_code((8, 10), rng=rng)) == 8
    assert len(generate_code((4, 5, 6, 7, 8), preferred_length=8, rng=rng)) == 8
    # a preferred length the lock lacks falls back to the shortest supported one
    assert len(generate_code((5, 7), preferred_length=6, rng=rng)) == 5


def test_generate_code_uses_secrets_by_default() -> None:
    codes = {generate_code((8,)) for _ in range(20)}
    assert len(codes) > 1
    assert all(len(c) == 8 and c.isdigit() for c in codes)


def test_generate_code_finds_the_last_free_code() -> None:
    every = {f"{n:02d}" for n in range(100)}
    last = "57"
    code = generate_code((2,), existing_codes=every - {last}, rng=random.Random(3))
    assert code == last


def test_generate_code_moves_to_another_length_when_one_is_full() -> None:
    full = {f"{n}" for n in range(10)}
    code = generate_code((1, 2), existing_codes=full, preferred_length=1, rng=random.Random(0))
    assert len(code) == 2


def test_generate_code_exhaustion_is_a_final_error() -> None:
    full = {str(n) for n in range(10)}
    with pytest.raises(CodeSpaceExhausted) as caught:
        generate_code((1,), existing_codes=full, rng=random.Random(0))
    assert isinstance(caught.value, FinalError)
    with pytest.raises(CodeSpaceExhausted):
        generate_code((4,), [C.CANNOT_CONTAIN_0789], alphabet="0789")
    with pytest.raises(CodeSpaceExhausted):
        generate_code((), [])
    with pytest.raises(CodeSpaceExhausted):
        generate_code((8,), [C.AT_LEAST_THREE_UNIQUE_DIGITS], alphabet="12")
    with pytest.raises(CodeSpaceExhausted):
        # four-digit codes with all 10,000 prefixes taken
        generate_code(
            (4,),
            [C.UNIQUE_FIRST_FOUR_DIGITS],
            existing_codes={f"{n:04d}9" for n in range(10_000)},
            rng=random.Random(0),
        )


def test_generate_code_unique_first_four_digits_fills_the_space() -> None:
    rng = random.Random(11)
    existing: set[str] = set()
    for _ in range(300):
        code = generate_code((4, 5, 6), [C.UNIQUE_FIRST_FOUR_DIGITS], existing, rng=rng)
        assert check_code(code, (4, 5, 6), [C.UNIQUE_FIRST_FOUR_DIGITS], existing) == []
        existing.add(code)
    assert len({c[:4] for c in existing}) == 300


def test_request_level_constraints_do_not_block_generation() -> None:
    code = generate_code((4,), [C.CANNOT_SPECIFY_PIN_CODE, C.START_DATE_IN_FUTURE])
    assert len(code) == 4

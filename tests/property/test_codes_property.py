"""Generated codes satisfy every rule; the checks agree with the simulated lock firmware."""

from __future__ import annotations

import itertools
import random

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keyslot.codes import (
    DIGITS,
    DUPLICATE_CODE,
    REQUEST_CONSTRAINTS,
    CodeSpaceExhausted,
    check_code,
    generate_code,
)
from keyslot.model import CodeConstraintType
from keyslot.protocol.slots import CodeRejected
from keyslot.simulator import rules as firmware_rules

CODE_RULES = sorted(set(CodeConstraintType) - REQUEST_CONSTRAINTS)

constraints = st.sets(st.sampled_from(CODE_RULES))
real_lengths = st.sets(st.integers(4, 10), min_size=1, max_size=4)


def codes(min_len: int = 1, max_len: int = 10) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=min_len, max_size=max_len)


@settings(max_examples=300, deadline=None)
@given(
    lengths=real_lengths,
    rules=constraints,
    existing=st.sets(codes(4, 10), max_size=40),
    preferred=st.none() | st.integers(1, 12),
    rng=st.randoms(use_true_random=False),
)
def test_generated_codes_satisfy_everything(
    lengths: set[int],
    rules: set[CodeConstraintType],
    existing: set[str],
    preferred: int | None,
    rng: random.Random,
) -> None:
    code = generate_code(lengths, rules, existing, preferred, rng)
    assert len(code) in lengths
    assert code.isdigit()
    assert code not in existing
    assert check_code(code, lengths, rules, existing) == []
    if preferred in lengths:
        assert len(code) == preferred


def _valid_codes(lengths: set[int], rules: set[CodeConstraintType], existing: set[str]) -> set[str]:
    return {
        "".join(digits)
        for n in lengths
        for digits in itertools.product(DIGITS, repeat=n)
        if not check_code("".join(digits), lengths, rules, existing)
    }


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.sets(st.integers(1, 3), min_size=1, max_size=2),
    rules=constraints,
    existing=st.sets(codes(1, 3), max_size=400),
    rng=st.randoms(use_true_random=False),
)
def test_generation_fails_only_when_no_code_is_left(
    lengths: set[int], rules: set[CodeConstraintType], existing: set[str], rng: random.Random
) -> None:
    valid = _valid_codes(lengths, rules, existing)
    try:
        code = generate_code(lengths, rules, existing, rng=rng)
    except CodeSpaceExhausted:
        assert valid == set()
    else:
        assert code in valid


@settings(max_examples=500, deadline=None)
@given(
    code=codes(1, 11),
    lengths=st.sets(st.integers(1, 10), min_size=1).map(lambda s: tuple(sorted(s))),
    rules=constraints.map(lambda s: tuple(sorted(s))),
    others=st.lists(codes(1, 10), max_size=6),
)
def test_checks_agree_with_the_simulated_firmware(
    code: str, lengths: tuple[int, ...], rules: tuple[str, ...], others: list[str]
) -> None:
    assume(code not in others)  # duplicates are the firmware's slot-table check, not a rule
    ours = [v for v in check_code(code, lengths, rules, others) if v.constraint != DUPLICATE_CODE]
    refused: str | None = None
    try:
        firmware_rules.check_code(
            code, lengths=lengths, alphabet=DIGITS, constraints=rules, others=others
        )
    except CodeRejected as rejected:
        refused = rejected.constraint or "unnamed"
    if refused is None:
        assert not ours, f"keyslot refuses ({ours}) a code the lock accepts"
    else:
        assert refused in {v.constraint for v in ours}, f"the lock refuses ({refused}), keyslot not"


@settings(max_examples=200, deadline=None)
@given(code=codes(1, 10), lengths=real_lengths, rules=constraints, others=st.sets(codes(4, 10)))
def test_violation_messages_never_contain_the_code(
    code: str, lengths: set[int], rules: set[CodeConstraintType], others: set[str]
) -> None:
    assume(len(code) >= 4)  # shorter strings occur in ordinary words like "4, 5"
    for violation in check_code(code, lengths, rules, others | {code}):
        assert code not in violation.message

"""Properties of how the simulated firmware stores names: never over its limit, never broken
text, and storing what it shows again changes nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keyslot.protocol.slots import NameRejected, NameRules
from keyslot.simulator.profiles import PROFILES
from keyslot.simulator.rules import FittedName, fit_name, measure

PROFILE_RULES = [p.name_rules for p in PROFILES.values() if p.name_rules is not None]


@st.composite
def name_rules(draw: st.DrawFn) -> NameRules:
    """Valid rules: every limit leaves room for the minimum, even after a cut in bytes
    drops a partial character (up to 3 bytes of UTF-8)."""
    unit = draw(st.sampled_from(["chars", "bytes"]))
    min_length = draw(st.integers(0, 3))
    low = max(1, min_length) + (3 if unit == "bytes" else 0)
    split = draw(st.booleans())
    first_max = draw(st.integers(low, 24))
    last_max = draw(st.integers(low, 24))
    max_length = first_max + last_max + 1 if split else draw(st.integers(low, 40))
    return NameRules(
        max_length=max_length,
        min_length=min_length,
        unit=unit,
        split=split,
        first_max=first_max if split else None,
        last_max=last_max if split else None,
        truncate=True,
    )


rules_strategy = st.one_of(st.sampled_from(PROFILE_RULES), name_rules())
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)  # no lone surrogates


def fit(name: str, rules: NameRules) -> FittedName | None:
    try:
        return fit_name(name, rules)
    except NameRejected:
        return None


@given(texts, rules_strategy)
def test_never_over_the_limit(name: str, rules: NameRules) -> None:
    fitted = fit(name, rules)
    if fitted is None:
        return
    if rules.split:
        assert fitted.first_name is not None
        assert measure(fitted.first_name, rules) <= (rules.first_max or rules.max_length)
        if fitted.last_name is not None:
            assert measure(fitted.last_name, rules) <= (rules.last_max or rules.max_length)
    assert measure(fitted.name, rules) <= rules.max_length


@given(texts, rules_strategy)
def test_never_broken_text(name: str, rules: NameRules) -> None:
    fitted = fit(name, rules)
    if fitted is None:
        return
    encoded = fitted.name.encode(rules.encoding)
    assert encoded.decode(rules.encoding) == fitted.name
    if not rules.split:
        assert name.strip().startswith(fitted.name)


@given(texts, rules_strategy)
def test_idempotent(name: str, rules: NameRules) -> None:
    fitted = fit(name, rules)
    if fitted is None:
        return
    assert fit_name(fitted.name, rules) == fitted


@given(texts, rules_strategy)
def test_refusals_are_only_for_short_names(name: str, rules: NameRules) -> None:
    # a single word as long as the minimum always fits: every limit is at least the minimum
    word = "".join(name.split())
    if measure(word, rules) >= rules.min_length and word:
        assert fit_name(word, rules) is not None
    if rules.min_length == 0 and name.strip():
        assert fit_name(name, rules) is not None

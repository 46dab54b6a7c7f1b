"""fit_name invariants: within every limit, valid text, idempotent, stored unchanged by a lock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from keyslot.model import Appearance
from keyslot.names import fit_name, measure
from keyslot.protocol.slots import NameRejected, NameRules
from keyslot.simulator import rules as firmware_rules

CHARSETS = [
    None,
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ ",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.'",
    "abcdefghijklmnopqrstuvwxyz",
]


@st.composite
def name_rules(draw: st.DrawFn) -> NameRules:
    unit = draw(st.sampled_from(["chars", "bytes"]))
    # Byte limits of at least 4 always hold one character of any encoding used here.
    small = 4 if unit == "bytes" else 1
    split = draw(st.booleans())
    return NameRules(
        max_length=draw(st.integers(small, 30)),
        min_length=draw(st.integers(0, 3)),
        unit=unit,
        encoding=draw(st.sampled_from(["utf-8", "latin-1", "ascii"])),
        charset=draw(st.sampled_from(CHARSETS)),
        split=split,
        first_max=draw(st.none() | st.integers(small, 12)) if split else None,
        last_max=draw(st.none() | st.integers(small, 12)) if split else None,
        truncate=draw(st.booleans() | st.just(True)),
    )


names = st.text(max_size=60) | st.from_regex(r"[A-Za-zÀ-ÿ]{1,12}( +[A-Za-zÀ-ÿ\-]{1,12}){0,4}")


def fit(name: str, rules: NameRules) -> Appearance | None:
    try:
        return fit_name(name, rules)
    except NameRejected:
        return None


@settings(max_examples=400, deadline=None)
@given(name=names, rules=name_rules())
def test_never_over_a_limit_and_always_storable(name: str, rules: NameRules) -> None:
    fitted = fit(name, rules)
    if fitted is None:
        return
    assert fitted.name
    assert fitted.name == fitted.name.strip()
    assert "  " not in fitted.name
    fitted.name.encode(rules.encoding)  # never a broken or unencodable character
    if rules.charset is not None:
        assert set(fitted.name) <= set(rules.charset)
    assert measure(fitted.name, rules) >= rules.min_length
    if not rules.split:
        assert measure(fitted.name, rules) <= rules.max_length
        assert fitted.first_name is None
        assert fitted.last_name is None
        return
    assert fitted.first_name
    assert measure(fitted.first_name, rules) <= (rules.first_max or rules.max_length)
    if fitted.last_name is None:
        assert fitted.name == fitted.first_name
    else:
        assert " " not in fitted.last_name
        assert measure(fitted.last_name, rules) <= (rules.last_max or rules.max_length)
        assert fitted.name == f"{fitted.first_name} {fitted.last_name}"


@settings(max_examples=400, deadline=None)
@given(name=names, rules=name_rules())
def test_fitting_is_idempotent(name: str, rules: NameRules) -> None:
    fitted = fit(name, rules)
    if fitted is not None:
        assert fit_name(fitted.name, rules) == fitted


@settings(max_examples=400, deadline=None)
@given(name=names, rules=name_rules())
def test_a_lock_stores_a_fitted_name_unchanged(name: str, rules: NameRules) -> None:
    fitted = fit(name, rules)
    if fitted is None:
        return
    stored = firmware_rules.fit_name(fitted.name, rules)
    assert stored is not None
    assert (stored.name, stored.first_name, stored.last_name) == (
        fitted.name,
        fitted.first_name,
        fitted.last_name,
    )


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=40), rules=name_rules())
def test_only_name_rejected_escapes(name: str, rules: NameRules) -> None:
    message = ""
    try:
        fitted = fit_name(name, rules)
    except NameRejected as rejected:
        message = rejected.message
    else:
        assert fitted is None or isinstance(fitted, Appearance)
    if len(name.strip()) >= 3:
        assert name.strip() not in message

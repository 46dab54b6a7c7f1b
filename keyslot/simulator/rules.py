"""The checks a lock's firmware applies to codes and names, written as the lock would.

The simulator keeps its own copy of these rules (it imports only `keyslot.protocol`), so a
mistake in keyslot's host-side code checks shows up as a disagreement with the "lock"
instead of being hidden by shared code.

Name rules, as the simulated firmware stores a name:
- a name that is None or only whitespace is stored as no name; surrounding spaces are
  dropped, before and after cutting;
- shorter than `min_length` once stored (in the rules' unit, leading and trailing spaces
  not counted) → NameRejected;
- longer than the limit → cut (`truncate`) or NameRejected; a cut in bytes ends on a
  character boundary, so the stored name is always valid text;
- split (first/last) locks: the last whitespace-separated word is the last name and every
  word before it the first name (a single word is a first name only); each part is cut to
  its own limit; the lock shows "first last".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from keyslot.protocol.slots import CodeRejected, NameRejected, NameRules

__all__ = ["FittedName", "check_code", "fit_name", "measure"]


@dataclass(frozen=True, slots=True)
class FittedName:
    """A name as the lock stores it; `name` is what its display or app shows."""

    name: str
    first_name: str | None = None
    last_name: str | None = None


def _has_run_of_three(code: str) -> bool:
    digits = [int(c) for c in code if c.isdigit()]
    for a, b, c in zip(digits, digits[1:], digits[2:], strict=False):
        if a == b == c or (b - a == c - b and abs(b - a) == 1):
            return True
    return False


def _is_sequence(code: str) -> bool:
    digits = [int(c) for c in code]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    return steps in ({1}, {-1})


def _violated(constraint: str, code: str, others: Iterable[str]) -> bool:
    if constraint == "no_zeros":
        return "0" in code
    if constraint == "cannot_start_with_12":
        return code.startswith("12")
    if constraint == "no_triple_consecutive_ints":
        return _has_run_of_three(code)
    if constraint == "no_ascending_or_descending_sequence":
        return code.isdigit() and _is_sequence(code)
    if constraint == "at_least_three_unique_digits":
        return len(set(code)) < 3
    if constraint == "cannot_contain_089":
        return any(d in code for d in "089")
    if constraint == "cannot_contain_0789":
        return any(d in code for d in "0789")
    if constraint == "unique_first_four_digits":
        return any(other[:4] == code[:4] for other in others)
    if constraint == "no_all_same_digits":
        return len(set(code)) == 1
    return False


def check_code(
    code: str,
    *,
    lengths: tuple[int, ...],
    alphabet: str,
    constraints: tuple[str, ...],
    others: Iterable[str] = (),
    slot: int | None = None,
) -> None:
    """Raise CodeRejected (with the broken constraint's name) unless the lock accepts `code`.

    `others` are the codes of the other occupied slots (for constraints across slots).
    Messages never contain the code itself.
    """
    if len(code) not in lengths:
        allowed = ", ".join(str(n) for n in lengths)
        raise CodeRejected(
            f"a code of {len(code)} characters; this lock takes {allowed}",
            slot=slot,
            constraint="code_length",
        )
    if any(ch not in alphabet for ch in code):
        raise CodeRejected(
            "the code has characters this keypad does not have", slot=slot, constraint="alphabet"
        )
    others = list(others)
    for constraint in constraints:
        if _violated(constraint, code, others):
            raise CodeRejected(
                f"the code breaks the lock's rule {constraint}", slot=slot, constraint=constraint
            )


def measure(text: str, rules: NameRules) -> int:
    """Length of `text` in the unit the lock counts (characters or encoded bytes)."""
    if rules.unit == "bytes":
        return len(text.encode(rules.encoding))
    return len(text)


def _cut(text: str, limit: int, rules: NameRules, slot: int | None) -> str:
    if measure(text, rules) <= limit:
        return text
    if not rules.truncate:
        raise NameRejected(f"the name is longer than this lock's limit of {limit}", slot=slot)
    if rules.unit != "bytes":
        return text[:limit]
    used = 0
    for i, ch in enumerate(text):
        used += len(ch.encode(rules.encoding))
        if used > limit:
            return text[:i]
    return text


def fit_name(name: str | None, rules: NameRules, *, slot: int | None = None) -> FittedName | None:
    """The name as the lock will store it, or None for no name; NameRejected if refused."""
    if name is None or not name.strip():
        return None
    try:
        name.encode(rules.encoding)
    except UnicodeEncodeError:
        raise NameRejected(
            f"the name has characters this lock cannot store in {rules.encoding}", slot=slot
        ) from None
    if rules.charset is not None and any(ch not in rules.charset for ch in name):
        raise NameRejected("the name has characters this lock does not allow", slot=slot)
    if not rules.split:
        cut = _cut(name.strip(), rules.max_length, rules, slot).rstrip()
        return _long_enough(FittedName(cut), rules, slot)
    words = name.split()
    first = " ".join(words[:-1]) if len(words) > 1 else words[0]
    last = words[-1] if len(words) > 1 else None
    first = _cut(first, rules.first_max or rules.max_length, rules, slot).rstrip()
    if last is not None:
        last = _cut(last, rules.last_max or rules.max_length, rules, slot).rstrip()
    shown = " ".join(part for part in (first, last) if part)
    fitted = FittedName(shown, first_name=first or None, last_name=last or None)
    return _long_enough(fitted, rules, slot)


def _long_enough(fitted: FittedName, rules: NameRules, slot: int | None) -> FittedName:
    # judged on what the lock would store, so storing a shown name again is always accepted
    if not fitted.name.strip() or measure(fitted.name.strip(), rules) < rules.min_length:
        raise NameRejected(
            f"the name is shorter than this lock's minimum of {max(rules.min_length, 1)}",
            slot=slot,
        )
    return fitted

"""What a lock will show for a name: fitting an owner's name to a lock's `NameRules`.

The rules, in order (the result is what keyslot writes, so a lock stores it unchanged):

1. Whitespace of any kind becomes a space; control (Cc), format (Cf) and surrogate (Cs)
   characters are dropped.
2. A character the lock cannot store (outside `rules.charset`, or not encodable in
   `rules.encoding`) is replaced by the first of these that the lock can store: its
   compatibility decomposition without accents (NFKD minus combining marks: "é" -> "e",
   "ﬁ" -> "fi"), its case folding ("ß" -> "ss"), its upper case, its lower case, the upper
   case of the decomposition. If none fits, the character is dropped.
3. Runs of spaces become one space; leading and trailing spaces are removed. If nothing is
   left, the lock stores no name (`None`).
4. One-part locks: the name is cut to `max_length`.
   Split locks (`rules.split`): the LAST whitespace-separated word is the last name and
   every word before it the first name; a single word is a first name only. The first name
   is cut to `first_max`, the last name to `last_max` (each defaults to `max_length`), and
   the lock shows "first last". A last word of which not even one character fits is
   dropped and the split is made again on the words before it.
5. A cut counts characters, or encoded bytes when `rules.unit == "bytes"`, and always ends
   on a character boundary (never half a UTF-8 sequence); trailing spaces are then removed.
   A lock that refuses long names (`truncate=False`) makes a long name an error instead.
6. A result shorter than `min_length` (same unit) is refused: `NameRejected`.

Fitting is idempotent: fitting a fitted name again gives the same appearance.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from keyslot.model import Appearance, NameConstraintType
from keyslot.protocol.slots import NameRejected, NameRules

__all__ = ["fit_name", "measure", "name_constraints"]

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def measure(text: str, rules: NameRules) -> int:
    """Length of `text` in the unit the lock counts (characters or encoded bytes)."""
    if rules.unit == "bytes":
        return len(text.encode(rules.encoding, errors="surrogatepass"))
    return len(text)


def _storable(text: str, rules: NameRules) -> bool:
    if rules.charset is not None and any(ch not in rules.charset for ch in text):
        return False
    try:
        text.encode(rules.encoding)
    except UnicodeError:
        return False
    return True


def _without_accents(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _clean_char(ch: str, rules: NameRules) -> str:
    if ch.isspace():
        ch = " "
    elif unicodedata.category(ch) in _DROPPED_CATEGORIES:
        return ""
    if _storable(ch, rules):
        return ch
    plain = _without_accents(ch)
    for candidate in (plain, ch.casefold(), ch.upper(), ch.lower(), plain.upper()):
        if candidate and _storable(candidate, rules):
            # A decomposition may hold spaces or controls of its own: clean those too.
            if candidate != ch and any(
                c.isspace() or unicodedata.category(c) in _DROPPED_CATEGORIES for c in candidate
            ):
                continue
            return candidate
    return ""


def _clean(name: str, rules: NameRules) -> str:
    return " ".join("".join(_clean_char(ch, rules) for ch in name).split())


def _cut(text: str, limit: int, rules: NameRules) -> str:
    """The longest prefix of `text` within `limit`, without trailing spaces."""
    if measure(text, rules) <= limit:
        return text
    if not rules.truncate:
        raise NameRejected(f"the name is longer than this lock's limit of {limit}")
    if rules.unit != "bytes":
        return text[: max(limit, 0)].rstrip()
    lo, hi = 0, len(text)  # measure(text[:lo]) <= limit < measure(text[:hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if measure(text[:mid], rules) <= limit:
            lo = mid
        else:
            hi = mid
    return text[:lo].rstrip()


def _fit_split(words: list[str], rules: NameRules) -> Appearance | None:
    first_max = rules.first_max or rules.max_length
    last_max = rules.last_max or rules.max_length
    while len(words) > 1:
        last = _cut(words[-1], last_max, rules)
        if last:
            first = _cut(" ".join(words[:-1]), first_max, rules)
            if not first:
                raise NameRejected("nothing of the first name fits this lock's limit")
            return Appearance(f"{first} {last}", first_name=first, last_name=last)
        words = words[:-1]
    if not words:
        return None
    first = _cut(words[0], first_max, rules)
    if not first:
        raise NameRejected("nothing of the name fits this lock's limit")
    return Appearance(first, first_name=first)


def fit_name(name: str | None, rules: NameRules) -> Appearance | None:
    """The name exactly as a lock with `rules` will show it; None when it shows no name.

    Raises `NameRejected` when the lock would refuse it (too short, or too long for a lock
    that does not cut names). Messages never repeat the name.
    """
    if name is None:
        return None
    cleaned = _clean(name, rules)
    if not cleaned:
        return None
    if rules.split:
        appearance = _fit_split(cleaned.split(" "), rules)
    else:
        shown = _cut(cleaned, rules.max_length, rules)
        if not shown:
            raise NameRejected("nothing of the name fits this lock's limit")
        appearance = Appearance(shown)
    if appearance is not None and measure(appearance.name, rules) < rules.min_length:
        raise NameRejected(f"the name is shorter than this lock's minimum of {rules.min_length}")
    return appearance


def name_constraints(rules: NameRules) -> list[dict[str, Any]]:
    """Seam's `name_length` / `name_must_be_unique` entries of `code_constraints`.

    `max_length` is the longest name the lock can show, in the lock's unit (for a split
    lock: first + space + last); for a byte limit that is also the most characters a name
    can have (all one-byte characters).
    """
    length: dict[str, Any] = {"constraint_type": NameConstraintType.NAME_LENGTH.value}
    if rules.min_length > 0:
        length["min_length"] = rules.min_length
    length["max_length"] = _shown_max(rules)
    out = [length]
    if rules.unique:
        out.append({"constraint_type": NameConstraintType.NAME_MUST_BE_UNIQUE.value})
    return out


def _shown_max(rules: NameRules) -> int:
    if not rules.split:
        return rules.max_length
    return (rules.first_max or rules.max_length) + 1 + (rules.last_max or rules.max_length)

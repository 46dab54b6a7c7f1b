"""PIN rules and PIN generation (pure): Seam's code constraints, checked and honoured.

What each `constraint_type` means here (Seam's wording is short; this is the exact rule):

- `no_zeros`: the digit 0 does not occur (Nuki).
- `cannot_start_with_12`: the code does not begin with "12" (Nuki).
- `no_triple_consecutive_ints`: no three adjacent digits are the same ("111") or form a
  run going up or down by one ("123", "321"); "9-0" does not wrap around (Brivo).
- `no_ascending_or_descending_sequence`: the whole code is not one run of digits going
  up or down by one ("1234", "87654"); a run inside a longer code is allowed (Tedee).
- `at_least_three_unique_digits`: at least three different digits occur (Tedee).
- `cannot_contain_089`: none of the digits 0, 8, 9 occurs (TTLock cylinders with keys 1-7).
- `cannot_contain_0789`: none of 0, 7, 8, 9 occurs (TTLock cylinders with keys 1-6).
- `unique_first_four_digits`: no other code on the device begins with the same four
  characters (Schlage); compared with `code[:4]`, so a shorter code compares whole.
- `no_all_same_digits`: the code is not one digit repeated ("1111") (Korelock).

Request-level rules, checked by `check_request` (they are about the request, not the PIN):

- `cannot_specify_pin_code`: the request must not give a code; one is generated.
- `pin_code_matches_existing_set`: a given code must be one of a known set of PINs
  (e.g. the PIN an account's user already has).
- `start_date_in_future`: a time-bound code must start after now.

A code is also checked against the device's lengths and keypad alphabet, and must differ
from every other code on the device (one PIN per device). Constraint names this module
does not know are ignored: the lock still refuses such a code, and the reconciler records
that. Messages never contain a PIN.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from keyslot.model import CodeConstraintType
from keyslot.protocol.slots import FinalError

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "DIGITS",
    "DUPLICATE_CODE",
    "REQUEST_CONSTRAINTS",
    "CodeSpaceExhausted",
    "Rng",
    "SecureChoices",
    "Violation",
    "allowed_characters",
    "check_code",
    "check_request",
    "generate_code",
    "is_sequence",
    "violates",
]

DIGITS = "0123456789"

# Violation names beyond Seam's constraint types (same names as the simulated firmware).
CODE_LENGTH = "code_length"
ALPHABET = "alphabet"
DUPLICATE_CODE = "duplicate_code"

C = CodeConstraintType
REQUEST_CONSTRAINTS = frozenset(
    {C.CANNOT_SPECIFY_PIN_CODE, C.PIN_CODE_MATCHES_EXISTING_SET, C.START_DATE_IN_FUTURE}
)
_FORBIDDEN_DIGITS: dict[CodeConstraintType, str] = {
    C.NO_ZEROS: "0",
    C.CANNOT_CONTAIN_089: "089",
    C.CANNOT_CONTAIN_0789: "0789",
}
_MESSAGES: dict[str, str] = {
    C.NO_ZEROS: "the code must not contain the digit 0",
    C.CANNOT_START_WITH_12: "the code must not start with 12",
    C.NO_TRIPLE_CONSECUTIVE_INTS: (
        "the code must not have three adjacent digits that are equal or consecutive"
    ),
    C.NO_ASCENDING_OR_DESCENDING_SEQUENCE: (
        "the code must not be an ascending or descending sequence of digits"
    ),
    C.AT_LEAST_THREE_UNIQUE_DIGITS: "the code must contain at least three different digits",
    C.CANNOT_CONTAIN_089: "the code must not contain the digits 0, 8 or 9",
    C.CANNOT_CONTAIN_0789: "the code must not contain the digits 0, 7, 8 or 9",
    C.UNIQUE_FIRST_FOUR_DIGITS: ("another code on this device starts with the same four digits"),
    C.NO_ALL_SAME_DIGITS: "the code must not be a single repeated digit",
    C.CANNOT_SPECIFY_PIN_CODE: "this device does not accept a chosen code; omit `code`",
    C.PIN_CODE_MATCHES_EXISTING_SET: "the code must be one of the PINs already in use",
    C.START_DATE_IN_FUTURE: "starts_at must be in the future on this device",
    DUPLICATE_CODE: "another access code on this device already uses this code",
    ALPHABET: "the code has characters this keypad does not have",
}

T = TypeVar("T")


class Rng(Protocol):
    """A source of random choices: `SecureChoices`, or a seeded `random.Random` (tests)."""

    def choice(self, seq: Sequence[T], /) -> T: ...


class SecureChoices:
    """Uniform choices from the OS's random source (what `secrets` uses), read 64 bytes at
    a time instead of once per digit. A byte at or above the largest multiple of the
    sequence's length is skipped, so every element is equally likely."""

    __slots__ = ("_next", "_pool")

    def __init__(self) -> None:
        self._pool = b""
        self._next = 0

    def choice(self, seq: Sequence[T], /) -> T:
        size = len(seq)
        if not 0 < size <= 256:
            return secrets.choice(seq)
        limit = 256 - 256 % size
        while True:
            if self._next >= len(self._pool):
                self._pool = os.urandom(64)
                self._next = 0
            byte = self._pool[self._next]
            self._next += 1
            if byte < limit:
                return seq[byte % size]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: `constraint` is Seam's constraint type or CODE_LENGTH / ALPHABET /
    DUPLICATE_CODE; `message` says what is wrong without repeating the code."""

    constraint: str
    message: str


class CodeSpaceExhausted(FinalError):
    """No code of any supported length satisfies the constraints and is free on the device."""

    code = "code_space_exhausted"


# --------------------------------------------------------------------------- single rules


def _digits(code: str) -> list[int] | None:
    return [int(c) for c in code] if code.isdecimal() and code.isascii() else None


def is_sequence(code: str) -> bool:
    """True for a code of two or more digits that goes up or down by one throughout."""
    digits = _digits(code)
    if digits is None or len(digits) < 2:
        return False
    steps = {b - a for a, b in itertools.pairwise(digits)}
    return steps in ({1}, {-1})


def _has_triple(code: str) -> bool:
    for window in zip(code, code[1:], code[2:], strict=False):
        digits = _digits("".join(window))
        if digits is None:
            continue
        a, b, c = digits
        if (a == b == c) or (b - a == c - b and abs(b - a) == 1):
            return True
    return False


def violates(
    constraint: CodeConstraintType | str, code: str, existing_codes: Iterable[str] = ()
) -> bool:
    """Whether `code` breaks one code-level constraint (unknown and request-level: False)."""
    if constraint in _FORBIDDEN_DIGITS:
        return any(d in code for d in _FORBIDDEN_DIGITS[CodeConstraintType(constraint)])
    if constraint == C.CANNOT_START_WITH_12:
        return code.startswith("12")
    if constraint == C.NO_TRIPLE_CONSECUTIVE_INTS:
        return _has_triple(code)
    if constraint == C.NO_ASCENDING_OR_DESCENDING_SEQUENCE:
        return is_sequence(code)
    if constraint == C.AT_LEAST_THREE_UNIQUE_DIGITS:
        return len(set(code)) < 3
    if constraint == C.NO_ALL_SAME_DIGITS:
        return len(set(code)) <= 1
    if constraint == C.UNIQUE_FIRST_FOUR_DIGITS:
        return any(other != code and other[:4] == code[:4] for other in existing_codes)
    return False


def check_code(
    code: str,
    lengths: Collection[int],
    constraints: Iterable[str],
    existing_codes: Collection[str] = (),
    *,
    alphabet: str = DIGITS,
) -> list[Violation]:
    """Every rule `code` breaks on a device (empty when the device will take it).

    `existing_codes` are the other codes on the device: when changing a code, leave the
    code's own current value out.
    """
    found: list[Violation] = []
    if len(code) not in lengths:
        allowed = ", ".join(str(n) for n in sorted(lengths))
        found.append(
            Violation(CODE_LENGTH, f"the code has {len(code)} digits; this device takes {allowed}")
        )
    if any(ch not in alphabet for ch in code):
        found.append(Violation(ALPHABET, _MESSAGES[ALPHABET]))
    for constraint in dict.fromkeys(constraints):
        if violates(constraint, code, existing_codes):
            found.append(Violation(str(constraint), _MESSAGES[constraint]))
    if code in existing_codes:
        found.append(Violation(DUPLICATE_CODE, _MESSAGES[DUPLICATE_CODE]))
    return found


def check_request(
    constraints: Iterable[str],
    *,
    code: str | None,
    starts_at: datetime | None,
    now: datetime,
    existing_set: Collection[str] = (),
) -> list[Violation]:
    """The request-level rules of a create/update: whether a code may be given at all,
    whether it is one of `existing_set`, and whether a start time is in the future."""
    found: list[Violation] = []
    kinds = set(constraints)
    if C.CANNOT_SPECIFY_PIN_CODE in kinds and code is not None:
        found.append(Violation(C.CANNOT_SPECIFY_PIN_CODE, _MESSAGES[C.CANNOT_SPECIFY_PIN_CODE]))
    if C.PIN_CODE_MATCHES_EXISTING_SET in kinds and code is not None and code not in existing_set:
        found.append(
            Violation(C.PIN_CODE_MATCHES_EXISTING_SET, _MESSAGES[C.PIN_CODE_MATCHES_EXISTING_SET])
        )
    if C.START_DATE_IN_FUTURE in kinds and starts_at is not None and starts_at <= now:
        found.append(Violation(C.START_DATE_IN_FUTURE, _MESSAGES[C.START_DATE_IN_FUTURE]))
    return found


# --------------------------------------------------------------------------- generation


def allowed_characters(constraints: Iterable[str], alphabet: str = DIGITS) -> str:
    """The keypad characters a code may use at all under `constraints`."""
    banned = "".join(
        _FORBIDDEN_DIGITS[CodeConstraintType(c)] for c in constraints if c in _FORBIDDEN_DIGITS
    )
    return "".join(ch for ch in dict.fromkeys(alphabet) if ch not in banned)


def _length_order(lengths: Collection[int], preferred: int | None) -> list[int]:
    """Lengths to try, best first. A preferred length the device lacks falls back to the
    shortest supported one (as Seam does); without a preference the aim is 6 digits."""
    supported = sorted({n for n in lengths if n > 0})
    if not supported:
        return []
    if preferred is not None:
        first = preferred if preferred in supported else supported[0]
    else:
        first = min(supported, key=lambda n: (abs(n - 6), -n))
    return [first, *sorted((n for n in supported if n != first), key=lambda n: abs(n - first))]


class _Search:
    """Finds codes of one length, random first, then exhaustively in random order."""

    def __init__(
        self,
        length: int,
        chars: str,
        constraints: frozenset[str],
        existing: frozenset[str],
        rng: Rng,
    ) -> None:
        self.length = length
        self.chars = chars
        self.constraints = constraints
        self.existing = existing
        self.rng = rng
        self.prefixes = frozenset(c[:4] for c in existing)

    def ok(self, code: str) -> bool:
        if code in self.existing:
            return False
        return not any(violates(c, code, self.existing) for c in self.constraints)

    def random_code(self) -> str:
        return "".join(self.rng.choice(self.chars) for _ in range(self.length))

    def _prefix_ok(self, prefix: str) -> bool:
        n = len(prefix)
        if C.CANNOT_START_WITH_12 in self.constraints and prefix[:2] == "12":
            return False
        if C.NO_TRIPLE_CONSECUTIVE_INTS in self.constraints and n >= 3 and _has_triple(prefix[-3:]):
            return False
        if (
            C.UNIQUE_FIRST_FOUR_DIGITS in self.constraints
            and n == min(4, self.length)
            and prefix in self.prefixes
        ):
            return False
        # Enough positions must remain to reach three different characters.
        return not (
            C.AT_LEAST_THREE_UNIQUE_DIGITS in self.constraints
            and len(set(prefix)) + (self.length - n) < 3
        )

    def _shuffled(self) -> list[str]:
        pool = list(self.chars)
        out = []
        while pool:
            pick = self.rng.choice(pool)
            pool.remove(pick)
            out.append(pick)
        return out

    def exhaustive(self) -> str | None:
        """Depth-first over every code of this length, children in random order."""
        stack: list[tuple[str, list[str]]] = [("", self._shuffled())]
        while stack:
            prefix, children = stack[-1]
            if not children:
                stack.pop()
                continue
            candidate = prefix + children.pop()
            if not self._prefix_ok(candidate):
                continue
            if len(candidate) == self.length:
                if self.ok(candidate):
                    return candidate
                continue
            stack.append((candidate, self._shuffled()))
        return None


_RANDOM_TRIES = 200


def generate_code(
    lengths: Collection[int],
    constraints: Iterable[str] = (),
    existing_codes: Collection[str] = (),
    preferred_length: int | None = None,
    rng: Rng | None = None,
    *,
    alphabet: str = DIGITS,
) -> str:
    """A random code the device takes: a supported length, every code-level constraint
    honoured, and unlike every code in `existing_codes`.

    Uniformly random among the valid codes of the chosen length while they are plentiful;
    when they are scarce, an exhaustive search (in random order) still finds one if any is
    left. Other supported lengths are tried before giving up with `CodeSpaceExhausted`.
    Codes come from the OS's random source unless a seeded `rng` is passed (tests only).
    """
    source: Rng = rng if rng is not None else SecureChoices()
    rules = frozenset(c for c in constraints if c not in REQUEST_CONSTRAINTS)
    chars = allowed_characters(rules, alphabet)
    existing = frozenset(existing_codes)
    order = _length_order(lengths, preferred_length)
    if not chars or not order or (C.AT_LEAST_THREE_UNIQUE_DIGITS in rules and len(chars) < 3):
        raise CodeSpaceExhausted("no code can satisfy this device's length and digit rules")
    for length in order:
        search = _Search(length, chars, rules, existing, source)
        for _ in range(_RANDOM_TRIES):
            candidate = search.random_code()
            if search.ok(candidate):
                return candidate
        found = search.exhaustive()
        if found is not None:
            return found
    raise CodeSpaceExhausted(
        "every code this device accepts is already in use or breaks its constraints"
    )

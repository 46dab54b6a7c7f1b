"""Seam's request rules for access codes, checked against one device (pure functions).

Each failure is a `SeamApiError` with Seam's type: `invalid_input` naming the field, or
`duplicate_access_code` (409) for a PIN already on the device. Messages never hold a PIN.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime

from keyslot.codes import DUPLICATE_CODE, CodeSpaceExhausted, check_code, check_request
from keyslot.codes import generate_code as pick_code
from keyslot.model import (
    AccessCodeStatus,
    Appearance,
    CodeConstraintType,
    Conflict,
    CreatingMutation,
    DeferringCreationMutation,
    DuplicateAccessCode,
    InvalidInput,
    PendingMutation,
)
from keyslot.names import fit_name
from keyslot.protocol.slots import NameRejected
from keyslot.service_base import DeviceRules, Scheduling, as_bool, as_str, as_time

__all__ = [
    "ROUNDINGS",
    "Scheduling",
    "check_name",
    "check_new_code",
    "code_param",
    "external_flag",
    "generate_for",
    "initial_state",
    "rounding",
    "time_frame",
]

C = CodeConstraintType

# `max_time_rounding` spellings -> the canonical one.
ROUNDINGS = {"1hour": "1hour", "1h": "1hour", "1day": "1day", "1d": "1day"}


def time_frame(
    starts_at: object, ends_at: object, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """A valid (starts_at, ends_at): both or neither; ends after it starts, and in the future."""
    start = as_time(starts_at, "starts_at")
    end = as_time(ends_at, "ends_at")
    if start is None and end is None:
        return None, None
    if start is None or end is None:
        missing = "starts_at" if start is None else "ends_at"
        raise InvalidInput.for_field(missing, "a time-bound code needs both starts_at and ends_at")
    if end <= start:
        raise InvalidInput.for_field("ends_at", "must be after starts_at")
    if end <= now:
        raise InvalidInput.for_field("ends_at", "must be in the future")
    return start, end


def check_name(
    rules: DeviceRules, name: str | None, others: Callable[[], Iterable[str | None]]
) -> Appearance | None:
    """How the lock will show `name`; refuses a name the lock would refuse or duplicate.

    `others` gives the names of the device's other codes; it is called only for locks with
    unique names.
    """
    if rules.name_rules is None or name is None:
        return None
    try:
        shown = fit_name(name, rules.name_rules)
    except NameRejected as exc:
        raise InvalidInput.for_field("name", exc.message) from None
    if shown is not None and rules.name_rules.unique:
        for other in others():
            try:
                theirs = fit_name(other, rules.name_rules)
            except NameRejected:
                continue
            if theirs is not None and theirs.name == shown.name:
                raise InvalidInput.for_field(
                    "name", "another access code on this device shows the same name on the lock"
                )
    return shown


def check_new_code(
    rules: DeviceRules,
    code: str,
    in_use: Collection[str],
    *,
    starts_at: datetime | None,
    now: datetime,
    field: str = "code",
) -> None:
    """Refuse a chosen PIN the device would not take, or one already on the device."""
    if not code:
        raise InvalidInput.for_field(field, "must not be empty")
    problems = check_request(
        rules.constraints, code=code, starts_at=starts_at, now=now, existing_set=in_use
    )
    for problem in problems:
        target = "starts_at" if problem.constraint == "start_date_in_future" else field
        raise InvalidInput.for_field(target, problem.message)
    violations = check_code(code, rules.lengths, rules.constraints, in_use, alphabet=rules.alphabet)
    if any(v.constraint == DUPLICATE_CODE for v in violations):
        raise DuplicateAccessCode("another access code on this device already uses this code")
    if violations:
        messages = [v.message for v in violations]
        raise InvalidInput(f"{field}: {'; '.join(messages)}", validation_errors={field: messages})


# Candidates checked one by one (each an index look-up) before reading every code in use.
_QUICK_TRIES = 8


def generate_for(rules: DeviceRules, in_use: Collection[str], preferred: int | None) -> str:
    """A fresh PIN the device takes and does not hold yet.

    Candidates are drawn as if no code were in use and each is looked up in `in_use` (for
    the service, an index look-up), so a device with many codes is not read in full; a
    taken candidate is excluded from the next draw, which keeps the pick uniform among the
    free codes. A rule about the other codes themselves (a shared first four digits), or a
    device where the draws keep hitting taken codes, uses the whole set instead.
    """
    try:
        if C.UNIQUE_FIRST_FOUR_DIGITS not in rules.constraints:
            taken: set[str] = set()
            for _ in range(_QUICK_TRIES):
                candidate = _pick(rules, taken, preferred)
                if candidate not in in_use:
                    return candidate
                taken.add(candidate)
        return _pick(rules, frozenset(in_use), preferred)
    except CodeSpaceExhausted as exc:
        raise Conflict(exc.message, type="no_space_for_access_code_on_device") from None


def _pick(rules: DeviceRules, in_use: Collection[str], preferred: int | None) -> str:
    return pick_code(
        rules.generation_lengths,
        rules.constraints,
        in_use,
        preferred_length=preferred,
        alphabet=rules.alphabet,
    )


def initial_state(
    now: datetime,
    starts_at: datetime | None,
    native: bool,
    scheduling: Scheduling,
) -> tuple[AccessCodeStatus, tuple[PendingMutation, ...]]:
    """Status and pending mutation of a code that has not reached its lock yet."""
    if starts_at is None:
        return AccessCodeStatus.SETTING, (CreatingMutation(now),)
    begin = scheduling.sent_from(starts_at, native)
    if now < begin:
        return AccessCodeStatus.UNSET, (DeferringCreationMutation(now, scheduled_at=begin),)
    # A natively scheduled code waits on the lock as `unset` until it starts.
    return (AccessCodeStatus.UNSET if native else AccessCodeStatus.SETTING), (
        CreatingMutation(now),
    )


def external_flag(
    is_external_modification_allowed: object, allow_external_modification: object
) -> bool | None:
    a = as_bool(is_external_modification_allowed, "is_external_modification_allowed", False)
    b = as_bool(allow_external_modification, "allow_external_modification", False)
    if is_external_modification_allowed is None and allow_external_modification is None:
        return None
    if (
        is_external_modification_allowed is not None
        and allow_external_modification is not None
        and a != b
    ):
        raise InvalidInput.for_field(
            "allow_external_modification", "contradicts is_external_modification_allowed"
        )
    return a if is_external_modification_allowed is not None else b


def rounding(value: object) -> str | None:
    text = as_str(value, "max_time_rounding")
    if text is None:
        return None
    if text not in ROUNDINGS:
        raise InvalidInput.for_field("max_time_rounding", "must be one of 1hour, 1day, 1h, 1d")
    return ROUNDINGS[text]


def code_param(value: object) -> str | None:
    code = as_str(value, "code")
    if code is not None and not code.isdigit():
        raise InvalidInput.for_field("code", "must be digits only")
    return code

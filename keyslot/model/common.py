"""Ids, Seam's timestamp format, and hiding PINs from logs: shared by every model value."""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from keyslot.model.api_errors import InvalidInput
from keyslot.protocol.slots import KeyslotError

__all__ = [
    "ModelDecodeError",
    "decode_enum",
    "decode_time",
    "decode_time_or_none",
    "format_time",
    "format_time_or_none",
    "mask_code",
    "masked_repr",
    "new_id",
    "parse_time",
    "parse_time_or_none",
    "redact_codes",
]

# Keys whose string values are PINs wherever they appear in a JSON body.
_CODE_KEYS = frozenset({"code", "original_code", "new_code", "pin", "pin_code"})


class ModelDecodeError(KeyslotError, ValueError):
    """Stored or received JSON that does not describe a valid model object."""

    code = "invalid_model_data"


E = TypeVar("E", bound=enum.StrEnum)


def decode_enum(enum_cls: type[E], value: object, what: str) -> E:
    """`enum_cls(value)` for stored JSON, raising `ModelDecodeError` naming `what`."""
    if isinstance(value, str):
        try:
            return enum_cls(value)
        except ValueError:
            pass
    raise ModelDecodeError(f"unknown {what} {value!r}")


_RAND_BITS = (1 << 80) - 1  # what follows the 48-bit millisecond time
_V7_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits
_V7_SET = (0x7000 << 64) | (0x8000 << 48)  # version 7, RFC 9562 variant


def new_id() -> str:
    """A fresh id: a UUID (the form Seam uses for every object) of version 7, the Unix time in
    milliseconds followed by 74 random bits.

    Time-ordered ids put each new row at the end of the store's id indexes (codes, events,
    action attempts) instead of on a random page, so a commit writes a few pages rather
    than one per row and index. The random bits keep an id as unguessable as ever; the time
    it shows is the object's `created_at`, which the API returns anyway.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis << 80 | int.from_bytes(os.urandom(10)) & _RAND_BITS) & _V7_CLEAR | _V7_SET
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The same few instants (a code's creation, the moment of a pass) are written and read
# over and over: both directions are remembered, up to a bound (then forgotten at once).
_MEMO_LIMIT = 8192
_formatted: dict[datetime, str] = {}
_parsed: dict[str, datetime] = {}


def format_time(at: datetime) -> str:
    """`2026-01-01T10:00:00.000Z`: UTC with milliseconds, exactly as Seam writes times."""
    text = _formatted.get(at)  # a naive datetime never equals an aware key: no hit
    if text is not None:
        return text
    if at.tzinfo is UTC:  # the usual case: "...T10:00:00.000+00:00", written in C
        text = at.isoformat(timespec="milliseconds")[:-6] + "Z"
    else:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("format_time needs a timezone-aware datetime")
        u = at.astimezone(UTC)
        text = (
            f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
            f".{u.microsecond // 1000:03d}Z"
        )
    if len(_formatted) >= _MEMO_LIMIT:
        _formatted.clear()
    _formatted[at] = text
    return text


def format_time_or_none(at: datetime | None) -> str | None:
    return None if at is None else format_time(at)


def parse_time(value: object, field: str = "timestamp") -> datetime:
    """An ISO 8601 timestamp with a zone (`Z` or `±hh:mm`) as an aware UTC datetime.

    Raises `InvalidInput` naming `field`: a time without a zone is ambiguous and refused.
    """
    if isinstance(value, str):
        known = _parsed.get(value)
        if known is not None:
            return known
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if "T" not in text and " " not in text:
            raise InvalidInput.for_field(field, "must be an ISO 8601 date and time")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput.for_field(field, "must be an ISO 8601 date and time") from None
    else:
        raise InvalidInput.for_field(field, "must be an ISO 8601 date and time string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput.for_field(field, "must include a time zone, e.g. Z or +02:00")
    parsed = parsed.astimezone(UTC)
    if isinstance(value, str):
        if len(_parsed) >= _MEMO_LIMIT:
            _parsed.clear()
        _parsed[value] = parsed
    return parsed


def parse_time_or_none(value: object, field: str = "timestamp") -> datetime | None:
    return None if value is None else parse_time(value, field)


def decode_time(value: object, field: str) -> datetime:
    """`parse_time` for stored JSON: a bad value is corrupt data, not bad user input."""
    try:
        return parse_time(value, field)
    except InvalidInput as exc:
        raise ModelDecodeError(exc.message) from None


def decode_time_or_none(value: object, field: str) -> datetime | None:
    return None if value is None else decode_time(value, field)


def mask_code(code: str | None) -> str:
    """How a PIN shows in a repr: its length only."""
    return "None" if code is None else f"<{len(code)} chars>"


def redact_codes(value: Any) -> Any:
    """A copy of a JSON-like value with every PIN replaced, safe to log.

    Hides the values of `code`-like keys at any depth, and `from`/`to` of a
    `modified_fields` entry whose `field` is `code`.
    """
    if isinstance(value, Mapping):
        hide_from_to = value.get("field") == "code"
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and (
                key in _CODE_KEYS or (hide_from_to and key in ("from", "to"))
            ):
                out[key] = mask_code(item)
            else:
                out[key] = redact_codes(item)
        return out
    if isinstance(value, list | tuple):
        return [redact_codes(item) for item in value]
    return value


def masked_repr(obj: Any, masked: Iterable[str] = (), redacted: Iterable[str] = ()) -> str:
    """A dataclass repr where `masked` fields (PINs) show only their length and `redacted`
    fields (JSON-like mappings) have their PINs replaced."""
    hidden = frozenset(masked)
    cleaned = frozenset(redacted)
    parts = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in hidden:
            text = mask_code(value)
        elif f.name in cleaned:
            text = repr(redact_codes(value))
        else:
            text = repr(value)
        parts.append(f"{f.name}={text}")
    return f"{type(obj).__name__}({', '.join(parts)})"

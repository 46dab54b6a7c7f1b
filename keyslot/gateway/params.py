"""Request parameters: Seam's query encoding and JSON bodies, merged and checked against a spec.

Seam's SDKs send GET and DELETE parameters in the query (keys sorted, `_strict=true`
appended, arrays as repeated keys, booleans as `true`/`false`, nested objects as dotted
keys, null as an empty value) and everything else as JSON; Seam's own examples send GET
with a JSON body. Both are accepted and merged, the body winning, and every value is
checked here, at the edge, so the service receives typed values only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from keyslot.model.api_errors import InvalidInput

__all__ = [
    "Field",
    "decode_query",
    "parse_datetime",
    "validate_params",
]

# Keys the SDKs add that carry no parameter.
_IGNORED_QUERY_KEYS = frozenset({"_strict"})
_MAX_QUERY_PAIRS = 1000

_HEX = "[0-9a-fA-F]"
_UUID_RE = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


@dataclass(frozen=True, slots=True)
class Field:
    """One request parameter of a route: its JSON type and the rules it must follow.

    `kind` is one of string, uuid, boolean, number, integer, datetime, enum, array,
    object. `items` is the element kind of an array. Datetime values stay ISO strings
    after validation (parsed with `parse_datetime` by whoever needs the instant).
    """

    name: str
    kind: str = "string"
    required: bool = False
    enum: tuple[str, ...] = ()
    items: str = "string"
    nullable: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    description: str = ""


class _QueryList(list[str]):
    """A query key that appeared more than once (an array in Seam's encoding)."""


def decode_query(raw: bytes | str) -> dict[str, Any]:
    """Turn a query string into a nested dict of strings, keeping repeated keys as lists.

    Values stay strings here (or lists of strings for repeated keys); `validate_params`
    coerces them with the route's field types, which alone know whether `x=` is null or
    an empty array.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_QUERY_PAIRS)
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in _IGNORED_QUERY_KEYS or not key:
            continue
        path = key.split(".")
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        leaf = path[-1]
        existing = node.get(leaf)
        if isinstance(existing, _QueryList):
            existing.append(value)
        elif isinstance(existing, str):
            node[leaf] = _QueryList([existing, value])
        else:
            node[leaf] = value
    return out


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 instant; a value without an offset is UTC. Raises ValueError otherwise."""
    match = _ISO_RE.match(value.strip())
    if match is None:
        raise ValueError("not an ISO 8601 date-time")
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    frac = match.group(7)
    if frac is not None and len(frac) > 6:  # fromisoformat takes at most microseconds
        text = text.replace("." + frac, "." + frac[:6], 1)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def validate_params(
    fields: Iterable[Field],
    query: Mapping[str, Any],
    body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Merge query and body for `fields`, coerce, check, and return only the values given.

    Unknown keys are dropped (as Seam's own API does); a problem with any field raises
    `InvalidInput` whose `validation_errors` name every bad field.
    """
    problems: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for field in fields:
        if body is not None and field.name in body:
            raw, from_query = body[field.name], False
        elif field.name in query:
            raw, from_query = query[field.name], True
        else:
            if field.required:
                problems[field.name] = ["Required"]
            continue
        try:
            value = _coerce(field, raw, from_query=from_query)
        except _Invalid as exc:
            problems[field.name] = [str(exc)]
            continue
        if value is None and not field.nullable:
            if field.required:
                problems[field.name] = ["Expected a value, received null"]
            continue
        out[field.name] = value
    if problems:
        summary = "; ".join(f"{name}: {msgs[0]}" for name, msgs in problems.items())
        raise InvalidInput(f"invalid parameters: {summary}", validation_errors=problems)
    return out


class _Invalid(ValueError):
    pass


def _coerce(field: Field, raw: Any, *, from_query: bool) -> Any:
    if raw is None:
        return None
    if field.kind == "array":
        return _coerce_array(field, raw, from_query=from_query)
    if field.kind == "object":
        if not isinstance(raw, dict):
            raise _Invalid("Expected object")
        return raw
    if isinstance(raw, list):
        raise _Invalid(f"Expected {_expected(field.kind)}, received array")
    if from_query and raw == "":
        return None  # the SDKs encode an explicit null as an empty value
    return _coerce_scalar(field, field.kind, raw, from_query=from_query)


def _coerce_array(field: Field, raw: Any, *, from_query: bool) -> list[Any]:
    if from_query:
        values = list(raw) if isinstance(raw, list) else [raw]
        if values == [""]:
            return []
    elif isinstance(raw, list):
        values = raw
    else:
        raise _Invalid("Expected array")
    element = Field(name=field.name, kind=field.items, enum=field.enum)
    return [_coerce_scalar(element, field.items, v, from_query=from_query) for v in values]


def _coerce_scalar(field: Field, kind: str, raw: Any, *, from_query: bool) -> Any:
    if kind == "boolean":
        return _coerce_bool(raw, from_query=from_query)
    if kind in ("number", "integer"):
        return _coerce_number(field, kind, raw, from_query=from_query)
    if not isinstance(raw, str):
        raise _Invalid(f"Expected {_expected(kind)}, received {_json_type(raw)}")
    if kind == "uuid":
        return _coerce_uuid(raw)
    if kind == "datetime":
        try:
            parse_datetime(raw)
        except ValueError as exc:
            raise _Invalid("Invalid datetime") from exc
        return raw
    if kind == "enum" and raw not in field.enum:
        raise _Invalid("Invalid enum value. Expected " + " | ".join(repr(e) for e in field.enum))
    _check_string(field, raw)
    return raw


def _coerce_bool(raw: Any, *, from_query: bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if from_query and raw in ("true", "false"):
        return bool(raw == "true")
    raise _Invalid(f"Expected boolean, received {_json_type(raw)}")


def _coerce_number(field: Field, kind: str, raw: Any, *, from_query: bool) -> float | int:
    value: float | int
    if isinstance(raw, bool):
        raise _Invalid(f"Expected number, received {_json_type(raw)}")
    if isinstance(raw, int | float):
        value = raw
    elif from_query and isinstance(raw, str):
        try:
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError as exc:
            raise _Invalid("Expected number, received string") from exc
    else:
        raise _Invalid(f"Expected number, received {_json_type(raw)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("Expected a finite number")
    if kind == "integer" and isinstance(value, float):
        if not value.is_integer():
            raise _Invalid("Expected integer, received float")
        value = int(value)
    if field.minimum is not None and value < field.minimum:
        raise _Invalid(f"Number must be greater than or equal to {field.minimum:g}")
    if field.maximum is not None and value > field.maximum:
        raise _Invalid(f"Number must be less than or equal to {field.maximum:g}")
    return value


def _coerce_uuid(raw: str) -> str:
    """The canonical hyphenated form only (either case), answered in lower case."""
    if _UUID_RE.fullmatch(raw) is None:
        raise _Invalid("Invalid uuid")
    return raw.lower()


def _check_string(field: Field, raw: str) -> None:
    if field.min_length is not None and len(raw) < field.min_length:
        raise _Invalid(f"String must contain at least {field.min_length} character(s)")
    if field.max_length is not None and len(raw) > field.max_length:
        raise _Invalid(f"String must contain at most {field.max_length} character(s)")
    if field.pattern is not None and re.search(field.pattern, raw) is None:
        raise _Invalid("Invalid")
    if "\x00" in raw:
        raise _Invalid("String must not contain NUL characters")


def _expected(kind: str) -> str:
    return {"uuid": "string", "datetime": "string", "enum": "string"}.get(kind, kind)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__

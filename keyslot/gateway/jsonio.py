"""JSON bodies in and out, and Seam's answer envelope (`ok`, `error.type`, `error.message`)."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from keyslot.model.api_errors import SeamApiError

__all__ = [
    "BodyError",
    "RawJson",
    "dumps",
    "error_body",
    "error_for",
    "loads_object",
    "raw_json",
]


class BodyError(ValueError):
    """A request body that is not a JSON object."""


class RawJson:
    """A value already encoded as JSON, written into an answer as it is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _default(value: Any) -> Any:
    if isinstance(value, RawJson):  # the standard library cannot splice bytes in
        return json.loads(value.data)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def _stdlib_dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


def _stdlib_loads(raw: bytes) -> Any:
    return json.loads(raw)


# orjson reads an integer beyond 64 bits as a float; the standard library keeps it exact.
_LONG_NUMBER = re.compile(rb"\d{19}")


def _make() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any], Callable[[bytes], Any]]:
    """orjson when installed (several times faster on long lists), else the standard library."""
    try:  # imported by name: an optional dependency, typed or not
        orjson: Any = importlib.import_module("orjson")
    except ImportError:
        return _stdlib_dumps, RawJson, _stdlib_loads
    options = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME

    def fast(value: Any) -> bytes:
        try:
            encoded: bytes = orjson.dumps(value, default=_default, option=options)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: let json say why
            return _stdlib_dumps(value)
        return encoded

    def fast_loads(raw: bytes) -> Any:
        """What `json.loads` answers: orjson's value where it reads the body the same way,
        else the standard library (NaN, a BOM, UTF-16, lone surrogates, huge integers and
        invalid JSON, which orjson refuses or reads otherwise)."""
        if _LONG_NUMBER.search(raw) is None:
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
        return json.loads(raw)

    return fast, orjson.Fragment, fast_loads


dumps, _raw, _loads = _make()
"""`dumps`: compact UTF-8 JSON; model objects are written through their `to_dict()`."""


def raw_json(data: bytes) -> Any:
    """`data` (valid JSON) to be spliced into an answer as it is, without parsing it."""
    return _raw(data)


def loads_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object in a request body, None for an empty body, `BodyError` otherwise."""
    if not raw.strip():
        return None
    try:
        value = _loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BodyError("the request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise BodyError("the request body must be a JSON object")
    return value


def error_body(error_type: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"type": error_type, "message": message, **extra}}


def error_for(exc: SeamApiError) -> tuple[int, Mapping[str, Any]]:
    """HTTP status and body for an API error raised by the service or the gateway."""
    return exc.http_status, {"ok": False, "error": exc.to_dict()}

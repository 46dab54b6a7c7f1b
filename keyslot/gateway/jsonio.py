"""JSON bodies in and out, and Seam's answer envelope (`ok`, `error.type`, `error.message`)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from keyslot.model.api_errors import SeamApiError

__all__ = [
    "BodyError",
    "dumps",
    "error_body",
    "error_for",
    "loads_object",
]


class BodyError(ValueError):
    """A request body that is not a JSON object."""


def _default(value: Any) -> Any:
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


def _make_dumps() -> Callable[[Any], bytes]:
    """orjson when installed (several times faster on long lists), else the standard library."""
    try:  # imported by name: an optional dependency, typed or not
        orjson: Any = importlib.import_module("orjson")
    except ImportError:
        return _stdlib_dumps
    options = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME

    def fast(value: Any) -> bytes:
        try:
            encoded: bytes = orjson.dumps(value, default=_default, option=options)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: let json say why
            return _stdlib_dumps(value)
        return encoded

    return fast


dumps: Callable[[Any], bytes] = _make_dumps()
"""Compact UTF-8 JSON; model objects are written through their `to_dict()`."""


def loads_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object in a request body, None for an empty body, `BodyError` otherwise."""
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
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

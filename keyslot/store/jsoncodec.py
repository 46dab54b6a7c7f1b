"""JSON to and from bytes: orjson when installed (several times faster on the store's sealed
bodies and on long lists), else the standard library with the same compact output."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads"]


def _stdlib_dumps(value: Any, sort_keys: bool = False) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    return text.encode("utf-8")


def _stdlib_loads(data: bytes | str) -> Any:
    return json.loads(data)


def _make() -> tuple[Callable[[Any, bool], bytes], Callable[[bytes | str], Any]]:
    try:  # imported by name: an optional dependency, typed or not
        orjson: Any = importlib.import_module("orjson")
    except ImportError:
        return _stdlib_dumps, _stdlib_loads
    sort_option = orjson.OPT_SORT_KEYS

    def fast_dumps(value: Any, sort_keys: bool = False) -> bytes:
        try:
            encoded: bytes = orjson.dumps(value, option=sort_option if sort_keys else None)
        except TypeError:  # e.g. an integer beyond 64 bits: the standard library takes it
            return _stdlib_dumps(value, sort_keys)
        return encoded

    def fast_loads(data: bytes | str) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:  # let the standard library decide (and say why)
            return json.loads(data)

    return fast_dumps, fast_loads


_dumps, _loads = _make()


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON of plain values (dicts, lists, strings, numbers, bools, None)."""
    return _dumps(value, sort_keys)


def loads(data: bytes | str) -> Any:
    """The value of a JSON document; `json.JSONDecodeError` (a ValueError) if it is not one."""
    return _loads(data)

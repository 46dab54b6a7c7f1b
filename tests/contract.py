"""Validate JSON that keyslot returns against Seam's OpenAPI schemas (the shared subset).

The OpenAPI file lives in `shared/reference/` beside the repository (CI checks it out as
`../shared/`); `KEYSLOT_SEAM_OPENAPI` may point at it instead. OpenAPI 3.0 dialect is
translated to JSON Schema 2020-12 (`nullable`, boolean `exclusiveMinimum`), `$ref`s
resolve inside the document, and `uuid` / `date-time` formats are checked.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

__all__ = [
    "component_names",
    "openapi_document",
    "openapi_path",
    "response_validator",
    "schema_errors",
    "validate",
    "validate_response",
]

_RELATIVE = Path("shared") / "reference" / "seam-openapi-subset.json"
_ENV = "KEYSLOT_SEAM_OPENAPI"


VENDORED = Path(__file__).resolve().parent / "data" / "seam-openapi-subset.json"


def shared_openapi_path() -> Path | None:
    """The design's reference copy (`shared/reference/` beside the repository), if present."""
    here = Path(__file__).resolve().parent
    for base in (here, *here.parents):
        candidate = base / _RELATIVE
        if candidate.is_file():
            return candidate
    return None


def openapi_path() -> Path:
    """Where the OpenAPI subset is: $KEYSLOT_SEAM_OPENAPI, else the copy kept in
    tests/data (checked against the shared reference where that is present)."""
    override = os.environ.get(_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"{_ENV} points at {path}, which is not a file")
        return path
    return VENDORED


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable` and draft-4 `exclusiveMinimum`."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        for combinator in ("oneOf", "anyOf"):
            if combinator in out:
                out[combinator] = [*out[combinator], {"type": "null"}]
    for bound in ("Minimum", "Maximum"):
        flag = out.get(f"exclusive{bound}")
        if isinstance(flag, bool):
            limit = out.pop(bound.lower(), None)
            del out[f"exclusive{bound}"]
            if limit is not None:
                out[f"exclusive{bound}" if flag else bound.lower()] = limit
    return out


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document, translated to JSON Schema, loaded once."""
    raw = json.loads(openapi_path().read_text(encoding="utf-8"))
    doc: dict[str, Any] = _to_json_schema(raw)
    return doc


def component_names() -> list[str]:
    return sorted(openapi_document()["components"]["schemas"])


_formats = FormatChecker()


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(uuid.UUID(value))


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value)
    return "T" in value and parsed.tzinfo is not None


_formats.checks("uuid", raises=ValueError)(_is_uuid)
_formats.checks("date-time", raises=ValueError)(_is_date_time)


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    rooted = {**schema, "components": openapi_document()["components"]}
    return Draft202012Validator(rooted, format_checker=_formats)


@functools.cache
def _component_validator(name: str) -> Draft202012Validator:
    if name not in openapi_document()["components"]["schemas"]:
        raise KeyError(f"no schema {name!r} in the OpenAPI subset; known: {component_names()}")
    return _validator({"$ref": f"#/components/schemas/{name}"})


def _describe(error: jsonschema.ValidationError) -> list[str]:
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    lines = [f"{where}: {error.message[:300]}"]
    if error.validator == "oneOf" and error.context:
        # Report the branch that got furthest: the one whose errors are deepest.
        best = max(error.context, key=lambda e: len(e.absolute_path))
        lines.extend(f"  (closest variant) {line}" for line in _describe(best))
    return lines


def _errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    found: list[str] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        found.extend(_describe(error))
    return found


def schema_errors(instance: Any, schema_name: str) -> list[str]:
    """Readable problems of `instance` against components/schemas/`schema_name`."""
    return _errors(_component_validator(schema_name), instance)


def validate(instance: Any, schema_name: str) -> None:
    """Fail (AssertionError) listing every problem unless `instance` fits the schema."""
    problems = schema_errors(instance, schema_name)
    if problems:
        raise AssertionError(
            f"not a valid Seam {schema_name}:\n" + "\n".join(f"  {p}" for p in problems)
        )


@functools.cache
def response_validator(path: str, method: str, status: str = "200") -> Draft202012Validator:
    """The validator of one documented response body, e.g. ("/access_codes/get", "get")."""
    operations = openapi_document()["paths"].get(path)
    if operations is None:
        raise KeyError(f"no path {path!r} in the OpenAPI subset")
    operation = operations.get(method.lower())
    if operation is None:
        raise KeyError(f"{path} has no {method.upper()} in the OpenAPI subset")
    response = operation["responses"].get(status, {})
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        raise KeyError(f"{method.upper()} {path} documents no JSON body for {status}")
    return _validator(copy.deepcopy(schema))


def validate_response(body: Any, path: str, method: str, status: str = "200") -> None:
    """Fail unless `body` is what Seam documents for `method path` answering `status`."""
    problems = _errors(response_validator(path, method, status), body)
    if problems:
        raise AssertionError(
            f"not a valid answer to {method.upper()} {path}:\n"
            + "\n".join(f"  {p}" for p in problems)
        )

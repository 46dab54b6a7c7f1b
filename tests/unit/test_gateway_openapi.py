"""The generated OpenAPI document: complete, consistent with the routes and with Seam's."""

from __future__ import annotations

from typing import Any

import pytest

from keyslot.gateway.openapi import SCHEMAS, openapi_document
from keyslot.gateway.routes_access_codes import ACCESS_CODE_ROUTES
from keyslot.gateway.routes_devices import DEVICE_ROUTES
from tests.contract import openapi_document as seam_document

ROUTES = (*ACCESS_CODE_ROUTES, *DEVICE_ROUTES)
DOC = openapi_document(ROUTES, version="test")

# Seam's endpoints that keyslot serves (the reference table); every one must be there.
SEAM_ENDPOINTS = [
    "/access_codes/create",
    "/access_codes/create_multiple",
    "/access_codes/update",
    "/access_codes/update_multiple",
    "/access_codes/delete",
    "/access_codes/get",
    "/access_codes/list",
    "/access_codes/generate_code",
    "/access_codes/pull_backup_access_code",
    "/access_codes/report_device_constraints",
    "/access_codes/unmanaged/list",
    "/access_codes/unmanaged/get",
    "/access_codes/unmanaged/delete",
    "/access_codes/unmanaged/update",
    "/access_codes/unmanaged/convert_to_managed",
    "/access_codes/simulate/create_unmanaged_access_code",
    "/devices/list",
    "/devices/get",
    "/locks/list",
    "/locks/get",
    "/action_attempts/get",
    "/events/list",
    "/locks/simulate/keypad_code_entry",
]


@pytest.mark.parametrize("path", SEAM_ENDPOINTS)
def test_every_seam_endpoint_accepts_every_method_seam_documents(path: str) -> None:
    ours = set(DOC["paths"][path])
    seams = set(seam_document()["paths"][path])
    assert seams <= ours, f"{path}: Seam documents {sorted(seams)}, keyslot serves {sorted(ours)}"


@pytest.mark.parametrize("path", SEAM_ENDPOINTS)
def test_required_parameters_match_seams(path: str) -> None:
    """A parameter keyslot requires must be required by Seam too (SDK calls must pass)."""
    for method, op in DOC["paths"][path].items():
        seam_op = seam_document()["paths"][path].get(method)
        if seam_op is None:
            continue
        ours = _required(op)
        theirs = _required(seam_op)
        assert ours <= theirs, f"{method.upper()} {path}: keyslot requires {sorted(ours - theirs)}"


def _required(op: dict[str, Any]) -> set[str]:
    if "parameters" in op:
        return {p["name"] for p in op["parameters"] if p.get("required")}
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return set(schema.get("schema", {}).get("required", []))


def test_document_shape() -> None:
    assert DOC["openapi"].startswith("3.0")
    assert DOC["components"]["securitySchemes"]["api_key"]["scheme"] == "bearer"
    assert DOC["paths"]["/health"]["get"]["security"] == []
    op_ids = [op["operationId"] for ops in DOC["paths"].values() for op in ops.values()]
    assert len(op_ids) == len(set(op_ids))


def test_every_reference_resolves() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOC)
    assert refs
    for ref in refs:
        name = ref.removeprefix("#/components/schemas/")
        assert name in SCHEMAS, ref


def test_get_and_delete_use_the_query_and_others_a_body() -> None:
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            if method in ("get", "delete"):
                assert "requestBody" not in op, (method, path)
            else:
                assert "parameters" not in op, (method, path)
                assert "requestBody" in op, (method, path)


def test_schemathesis_loads_every_operation() -> None:
    """The document is what the schemathesis CI run reads; every operation must load."""
    import schemathesis
    from schemathesis.core.result import Ok

    operations = list(schemathesis.openapi.from_dict(DOC).get_all_operations())
    assert operations
    assert all(isinstance(op, Ok) for op in operations)
    count = sum(len(ops) for ops in DOC["paths"].values())
    assert len(operations) == count

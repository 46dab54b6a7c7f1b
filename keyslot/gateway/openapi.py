"""The OpenAPI 3.0 document of the gateway, generated from the route table.

Operations follow Seam's layout: GET and DELETE take query parameters, the other methods
a JSON body; every answer is `{..., "ok": true}` or Seam's error envelope. The object
schemas describe exactly what keyslot returns, which is a subset of Seam's schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from keyslot.gateway.params import Field
from keyslot.gateway.routing import Route

__all__ = ["openapi_document"]

_STR: dict[str, Any] = {"type": "string"}
_NSTR: dict[str, Any] = {"type": "string", "nullable": True}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_NTIME: dict[str, Any] = {"type": "string", "format": "date-time", "nullable": True}
_UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
_BOOL: dict[str, Any] = {"type": "boolean"}

_ISSUE = {
    "type": "object",
    "properties": {
        "message": _STR,
        "created_at": _TIME,
        "change_type": {"type": "string", "enum": ["modified", "removed"]},
        "modified_fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": _STR, "from": _NSTR, "to": _NSTR},
                "required": ["field", "from", "to"],
            },
        },
    },
}
_ERROR_ITEM = {
    **_ISSUE,
    "properties": {
        **_ISSUE["properties"],  # type: ignore[dict-item]
        "error_code": _STR,
        "is_access_code_error": _BOOL,
        "is_device_error": _BOOL,
    },
    "required": ["error_code", "message"],
}
_WARNING_ITEM = {
    **_ISSUE,
    "properties": {**_ISSUE["properties"], "warning_code": _STR},  # type: ignore[dict-item]
    "required": ["warning_code", "message"],
}
_APPEARANCE = {
    "type": "object",
    "nullable": True,
    "properties": {"name": _STR, "first_name": _STR, "last_name": _STR},
    "required": ["name"],
}
_MUTATION = {
    "type": "object",
    "properties": {
        "mutation_code": {
            "type": "string",
            "enum": [
                "creating",
                "deferring_creation",
                "deleting",
                "updating_code",
                "updating_name",
                "updating_time_frame",
            ],
        },
        "created_at": _TIME,
        "message": _STR,
        "scheduled_at": _TIME,
        "from": {"type": "object"},
        "to": {"type": "object"},
    },
    "required": ["mutation_code", "created_at", "message"],
}
_STATUS = {"type": "string", "enum": ["setting", "set", "unset", "removing", "unknown"]}
_CODE_COMMON: dict[str, Any] = {
    "access_code_id": _UUID,
    "device_id": _UUID,
    "workspace_id": _UUID,
    "name": _NSTR,
    "appearance": _APPEARANCE,
    "code": _NSTR,
    "type": {"type": "string", "enum": ["ongoing", "time_bound"]},
    "starts_at": _NTIME,
    "ends_at": _NTIME,
    "created_at": _TIME,
    "errors": {"type": "array", "items": _ERROR_ITEM},
    "warnings": {"type": "array", "items": _WARNING_ITEM},
    "dormakaba_oracode_metadata": {"type": "object", "nullable": True},
}

SCHEMAS: dict[str, Any] = {
    "access_code": {
        "type": "object",
        "properties": {
            **_CODE_COMMON,
            "status": _STATUS,
            "common_code_key": _NSTR,
            "pending_mutations": {"type": "array", "items": _MUTATION},
            "is_managed": {"type": "boolean", "enum": [True]},
            "is_backup": _BOOL,
            "is_backup_access_code_available": _BOOL,
            "pulled_backup_access_code_id": {"type": "string", "nullable": True},
            "is_external_modification_allowed": _BOOL,
            "is_offline_access_code": _BOOL,
            "is_one_time_use": _BOOL,
            "is_scheduled_on_device": _BOOL,
            "is_waiting_for_code_assignment": _BOOL,
        },
        "required": [
            "access_code_id",
            "device_id",
            "workspace_id",
            "name",
            "code",
            "common_code_key",
            "type",
            "status",
            "created_at",
            "errors",
            "warnings",
            "pending_mutations",
            "is_managed",
            "is_backup_access_code_available",
            "is_external_modification_allowed",
            "is_offline_access_code",
            "is_one_time_use",
            "is_scheduled_on_device",
            "is_waiting_for_code_assignment",
        ],
    },
    "unmanaged_access_code": {
        "type": "object",
        "properties": {
            **_CODE_COMMON,
            "status": {"type": "string", "enum": ["set", "unset"]},
            "is_managed": {"type": "boolean", "enum": [False]},
        },
        "required": [
            "access_code_id",
            "device_id",
            "workspace_id",
            "name",
            "code",
            "type",
            "status",
            "created_at",
            "errors",
            "warnings",
            "is_managed",
        ],
    },
    "action_attempt": {
        "type": "object",
        "properties": {
            "action_attempt_id": _UUID,
            "action_type": _STR,
            "status": {"type": "string", "enum": ["pending", "success", "error"]},
            "result": {"type": "object", "nullable": True},
            "error": {
                "type": "object",
                "nullable": True,
                "properties": {"type": _STR, "message": _STR},
                "required": ["type", "message"],
            },
        },
        "required": ["action_attempt_id", "action_type", "status", "result", "error"],
    },
    "device": {
        "type": "object",
        "properties": {
            "device_id": _UUID,
            "device_type": _STR,
            "display_name": _STR,
            "nickname": _STR,
            "workspace_id": _UUID,
            "connected_account_id": _UUID,
            "created_at": _TIME,
            "is_managed": _BOOL,
            "properties": {"type": "object"},
            "capabilities_supported": {"type": "array", "items": _STR},
            "errors": {"type": "array", "items": {"type": "object"}},
            "warnings": {"type": "array", "items": {"type": "object"}},
            "custom_metadata": {"type": "object"},
            "space_ids": {"type": "array", "items": _UUID},
        },
        "required": [
            "device_id",
            "device_type",
            "display_name",
            "workspace_id",
            "connected_account_id",
            "created_at",
            "is_managed",
            "properties",
            "capabilities_supported",
            "errors",
            "warnings",
            "custom_metadata",
            "space_ids",
        ],
    },
    "event": {
        "type": "object",
        "properties": {
            "event_id": _UUID,
            "event_type": _STR,
            "workspace_id": _UUID,
            "device_id": _UUID,
            "access_code_id": _UUID,
            "created_at": _TIME,
            "occurred_at": _TIME,
        },
        "required": ["event_id", "event_type", "workspace_id", "created_at", "occurred_at"],
    },
    "offline_clear_all_code": {
        "type": "object",
        "description": "keyslot's own: typed at the lock, it revokes every offline code issued "
        "before it; a lock takes clear-all codes in the order of their generation.",
        "properties": {
            "device_id": _UUID,
            "code": {"type": "string", "pattern": r"^\d{12}$"},
            "generation": {"type": "integer", "minimum": 1},
        },
        "required": ["device_id", "code", "generation"],
    },
    "pagination": {
        "type": "object",
        "properties": {
            "has_next_page": _BOOL,
            "next_page_cursor": {"type": "string", "nullable": True},
            "next_page_url": {"type": "string", "format": "uri", "nullable": True},
        },
        "required": ["has_next_page", "next_page_cursor", "next_page_url"],
    },
    "error": {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean", "enum": [False]},
            "error": {
                "type": "object",
                "properties": {
                    "type": _STR,
                    "message": _STR,
                    "validation_errors": {"type": "object"},
                },
                "required": ["type", "message"],
            },
        },
        "required": ["ok", "error"],
    },
}

_ERROR_TEXT = {
    400: "Invalid input (`invalid_input`).",
    401: "A missing or wrong API key.",
    404: "An unknown id.",
    409: "A conflict, such as a code already used on the device.",
}


def field_schema(f: Field) -> dict[str, Any]:
    schema: dict[str, Any]
    if f.kind == "array":
        item = Field(name=f.name, kind=f.items, enum=f.enum)
        schema = {"type": "array", "items": field_schema(item)}
    elif f.kind == "uuid":
        schema = dict(_UUID)
    elif f.kind == "datetime":
        schema = dict(_TIME)
    elif f.kind == "enum":
        schema = {"type": "string", "enum": list(f.enum)}
    elif f.kind == "object":
        schema = {"type": "object"}
    else:
        schema = {"type": f.kind}
    for key, value in (
        ("minLength", f.min_length),
        ("maxLength", f.max_length),
        ("pattern", f.pattern),
        ("minimum", f.minimum),
        ("maximum", f.maximum),
        ("default", f.default),
    ):
        if value is not None:
            schema[key] = value
    if f.nullable:
        schema["nullable"] = True
    if f.description:
        schema["description"] = f.description
    return schema


def _answer_schema(answer: Mapping[str, str]) -> dict[str, Any]:
    properties: dict[str, Any] = {"ok": {"type": "boolean", "enum": [True]}}
    for key, ref in answer.items():
        if ref.startswith("["):
            properties[key] = {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{ref.strip('[]')}"},
            }
        else:
            properties[key] = {"$ref": f"#/components/schemas/{ref}"}
    return {"type": "object", "properties": properties, "required": sorted(properties)}


def _operation(route: Route, method: str) -> dict[str, Any]:
    op_id = route.path.strip("/").replace("/", "_") + "_" + method.lower()
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": route.summary or route.path,
        "tags": ["/" + route.path.strip("/").split("/")[0]],
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": _answer_schema(route.answer)}},
            },
        },
    }
    for status in route.errors:
        op["responses"][str(status)] = {
            "description": _ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}},
        }
    if method in ("GET", "DELETE"):
        op["parameters"] = [
            {
                "name": f.name,
                "in": "query",
                "required": f.required,
                "schema": field_schema(f),
                **({"style": "form", "explode": True} if f.kind == "array" else {}),
            }
            for f in route.fields
            if f.kind != "object"
        ]
    else:
        required = [f.name for f in route.fields if f.required]
        body: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: field_schema(f) for f in route.fields},
        }
        if required:
            body["required"] = required
        op["requestBody"] = {
            "required": bool(required),
            "content": {"application/json": {"schema": body}},
        }
    return op


def openapi_document(
    routes: Iterable[Route], *, version: str, server_url: str | None = None
) -> dict[str, Any]:
    """The whole document for `routes`, plus the health check and the event stream."""
    paths: dict[str, Any] = {}
    for route in routes:
        paths[route.path] = {m.lower(): _operation(route, m) for m in route.methods}
    paths["/health"] = {
        "get": {
            "operationId": "health_get",
            "summary": "Liveness: answers without an API key.",
            "security": [],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"ok": _BOOL, "version": _STR},
                                "required": ["ok"],
                            }
                        }
                    },
                }
            },
        }
    }
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "keyslot gateway",
            "version": version,
            "description": "A local API compatible with Seam's access_codes endpoints.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "api_key": {"type": "http", "scheme": "bearer", "bearerFormat": "seam_…"}
            },
        },
        "security": [{"api_key": []}],
    }
    if server_url is not None:
        doc["servers"] = [{"url": server_url}]
    return doc

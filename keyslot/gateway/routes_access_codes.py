"""`/access_codes/*`: Seam's access-code endpoints, each a thin call into the service.

The fields below are what each endpoint accepts (checked at the edge, see `params`); the
service applies the rules that depend on the device and on the other codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyslot.gateway.jsonio import raw_json
from keyslot.gateway.params import Field
from keyslot.gateway.routing import Route
from keyslot.gateway.service_calls import call, page_answer
from keyslot.model import AccessCode, AccessCodeStatus, InvalidInput, new_id

__all__ = ["ACCESS_CODE_ROUTES"]

CODE = Field("code", "string", min_length=4, max_length=12, pattern=r"^\d+$")
NAME = Field("name", "string", max_length=200)
TIMES = (Field("starts_at", "datetime"), Field("ends_at", "datetime"))
FLAGS = (
    Field("allow_external_modification", "boolean"),
    Field("is_external_modification_allowed", "boolean"),
    Field("attempt_for_offline_device", "boolean"),
)
SCHEDULING = (
    Field("prefer_native_scheduling", "boolean"),
    Field("preferred_code_length", "integer", minimum=4, maximum=12),
    Field("use_backup_access_code_pool", "boolean"),
)
SYNC = Field("sync", "boolean")
LIMIT = Field("limit", "integer", minimum=1, maximum=100000)
CURSOR = Field("page_cursor", "string", nullable=True, max_length=500)
SEARCH = Field("search", "string", max_length=200)
ACCESS_CODE_ID = Field("access_code_id", "uuid", required=True)


async def create(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    access_code, attempt = await call(ctx, "create_access_code", p)
    return {"access_code": access_code, "action_attempt": attempt}


async def create_multiple(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"access_codes": await call(ctx, "create_multiple_access_codes", p)}


async def get(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"access_code": await call(ctx, "get_access_code", p)}


async def list_(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    if hasattr(ctx.service, "list_access_codes_json"):  # each code already encoded
        encoded, pagination = await call(ctx, "list_access_codes_json", p)
        codes = [raw_json(item) for item in encoded]
    else:
        codes, pagination = await call(ctx, "list_access_codes", p)
    return page_answer(
        ctx, "/access_codes/list", p, key="access_codes", items=codes, pagination=pagination
    )


async def generate_code(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    """Seam answers with an access-code-shaped object; it is not stored."""
    pin = await call(ctx, "generate_code", p)
    code = AccessCode(
        access_code_id=new_id(),
        device_id=p["device_id"],
        workspace_id=ctx.store.workspace_id,
        created_at=ctx.clock.now(),
        code=pin,
        status=AccessCodeStatus.UNSET,
    )
    return {"generated_code": code}


async def update(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    result = await call(ctx, "update_access_code", p)
    attempt = result[-1] if isinstance(result, tuple) else result
    return {"action_attempt": attempt}


async def update_multiple(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    await call(ctx, "update_multiple_access_codes", p)
    return {}


async def delete(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"action_attempt": await call(ctx, "delete_access_code", p)}


async def pull_backup(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    """The code and the backup standing in for it (the same backup on every call)."""
    access_code = await call(ctx, "get_access_code", p)
    if not hasattr(ctx.service, "pull_backup_access_code"):
        raise InvalidInput(
            "the device of this access code has no backup access code pool",
            validation_errors={"access_code_id": ["its device has no backup access code pool"]},
        )
    access_code, backup = await call(ctx, "pull_backup_access_code", p)
    return {"access_code": access_code, "backup_access_code": backup}


async def offline_clear_all(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    """keyslot's own call: a clear-all code for a lock paired for offline codes."""
    return {"clear_all_code": await call(ctx, "create_offline_clear_all_code", p)}


async def report_constraints(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    await call(ctx, "report_device_constraints", p)
    return {}


async def unmanaged_list(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    codes, pagination = await call(ctx, "list_unmanaged_access_codes", p)
    path = "/access_codes/unmanaged/list"
    return page_answer(ctx, path, p, key="access_codes", items=codes, pagination=pagination)


async def unmanaged_get(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"access_code": await call(ctx, "get_unmanaged_access_code", p)}


async def unmanaged_delete(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"action_attempt": await call(ctx, "delete_unmanaged_access_code", p)}


async def unmanaged_update(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    await call(ctx, "update_unmanaged_access_code", p)
    return {}


async def convert_to_managed(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    await call(ctx, "convert_to_managed", p)
    return {}


async def simulate_unmanaged(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"access_code": await call(ctx, "simulate_create_unmanaged_access_code", p)}


_BY_ID_OR_CODE = (
    Field("access_code_id", "uuid"),
    Field("device_id", "uuid"),
    Field("code", "string", max_length=20),
)
_ERRORS = (400, 401, 404)

ACCESS_CODE_ROUTES: tuple[Route, ...] = (
    Route(
        "/access_codes/create",
        ("POST",),
        (
            Field("device_id", "uuid", required=True),
            NAME,
            CODE,
            Field("common_code_key", "string", min_length=1, max_length=200),
            *TIMES,
            *FLAGS,
            *SCHEDULING,
            Field("is_offline_access_code", "boolean"),
            Field("use_offline_access_code", "boolean"),
            Field("is_one_time_use", "boolean"),
            Field("max_time_rounding", "enum", enum=("1hour", "1day", "1h", "1d")),
            SYNC,
        ),
        create,
        {"access_code": "access_code", "action_attempt": "action_attempt"},
        "Create an access code on a lock.",
        (400, 401, 404, 409),
    ),
    Route(
        "/access_codes/create_multiple",
        ("POST", "PUT"),
        (
            Field("device_ids", "array", items="uuid", required=True),
            NAME,
            CODE,
            *TIMES,
            *FLAGS,
            *SCHEDULING,
            Field(
                "behavior_when_code_cannot_be_shared",
                "enum",
                enum=("throw", "create_random_code"),
            ),
        ),
        create_multiple,
        {"access_codes": "[access_code]"},
        "Create codes sharing one PIN on several locks (linked by a common_code_key).",
        (400, 401, 404, 409),
    ),
    Route(
        "/access_codes/get",
        ("GET", "POST"),
        _BY_ID_OR_CODE,
        get,
        {"access_code": "access_code"},
        "One access code, by id or by device and code.",
        _ERRORS,
    ),
    Route(
        "/access_codes/list",
        ("GET", "POST"),
        (
            Field("device_id", "uuid"),
            Field("access_code_ids", "array", items="uuid"),
            Field("user_identifier_key", "string", max_length=200),
            LIMIT,
            CURSOR,
            SEARCH,
        ),
        list_,
        {"access_codes": "[access_code]", "pagination": "pagination"},
        "Access codes in creation order, a page at a time.",
        _ERRORS,
    ),
    Route(
        "/access_codes/generate_code",
        ("GET", "POST"),
        (Field("device_id", "uuid", required=True),),
        generate_code,
        {"generated_code": "access_code"},
        "A PIN the lock would accept now (not stored).",
        _ERRORS,
    ),
    Route(
        "/access_codes/update",
        ("POST", "PUT", "PATCH"),
        (
            ACCESS_CODE_ID,
            Field("device_id", "uuid"),
            NAME,
            CODE,
            *TIMES,
            Field("type", "enum", enum=("ongoing", "time_bound")),
            Field("is_managed", "boolean"),
            *FLAGS,
            SYNC,
        ),
        update,
        {"action_attempt": "action_attempt"},
        "Change the name, code or time frame of an access code.",
        (400, 401, 404, 409),
    ),
    Route(
        "/access_codes/update_multiple",
        ("POST", "PATCH"),
        (
            Field("common_code_key", "string", required=True, min_length=1, max_length=200),
            NAME,
            *TIMES,
        ),
        update_multiple,
        {},
        "Change every code sharing a common_code_key.",
        (400, 401, 404),
    ),
    Route(
        "/access_codes/delete",
        ("POST", "DELETE"),
        (ACCESS_CODE_ID, Field("device_id", "uuid"), SYNC),
        delete,
        {"action_attempt": "action_attempt"},
        "Remove an access code from its lock.",
        _ERRORS,
    ),
    Route(
        "/access_codes/pull_backup_access_code",
        ("POST",),
        (ACCESS_CODE_ID,),
        pull_backup,
        {"access_code": "access_code", "backup_access_code": "access_code"},
        "Take a code from the lock's backup pool.",
        _ERRORS,
    ),
    Route(
        "/access_codes/offline/create_clear_all_code",
        ("POST",),
        (Field("device_id", "uuid", required=True),),
        offline_clear_all,
        {"clear_all_code": "offline_clear_all_code"},
        "Not a Seam call: a code that, typed at the lock, revokes every earlier offline code.",
        _ERRORS,
    ),
    Route(
        "/access_codes/report_device_constraints",
        ("POST",),
        (
            Field("device_id", "uuid", required=True),
            Field("supported_code_lengths", "array", items="integer"),
            Field("min_code_length", "integer", minimum=4, maximum=20),
            Field("max_code_length", "integer", minimum=4, maximum=20),
        ),
        report_constraints,
        {},
        "Tell the gateway which code lengths a lock takes.",
        _ERRORS,
    ),
    Route(
        "/access_codes/unmanaged/list",
        ("GET", "POST"),
        (
            Field("device_id", "uuid", required=True),
            Field("user_identifier_key", "string", max_length=200),
            LIMIT,
            CURSOR,
            SEARCH,
        ),
        unmanaged_list,
        {"access_codes": "[unmanaged_access_code]", "pagination": "pagination"},
        "Codes found on a lock that keyslot did not put there.",
        _ERRORS,
    ),
    Route(
        "/access_codes/unmanaged/get",
        ("GET", "POST"),
        _BY_ID_OR_CODE,
        unmanaged_get,
        {"access_code": "unmanaged_access_code"},
        "One unmanaged code.",
        _ERRORS,
    ),
    Route(
        "/access_codes/unmanaged/delete",
        ("POST", "DELETE"),
        (ACCESS_CODE_ID, SYNC),
        unmanaged_delete,
        {"action_attempt": "action_attempt"},
        "Clear an unmanaged code from its lock.",
        _ERRORS,
    ),
    Route(
        "/access_codes/unmanaged/update",
        ("POST", "PATCH"),
        (
            ACCESS_CODE_ID,
            Field("is_managed", "boolean", required=True),
            Field("force", "boolean"),
            *FLAGS[:2],
        ),
        unmanaged_update,
        {},
        "Take over an unmanaged code (is_managed: true).",
        (400, 401, 404, 409),
    ),
    Route(
        "/access_codes/unmanaged/convert_to_managed",
        ("POST", "PATCH"),
        (ACCESS_CODE_ID, Field("force", "boolean"), *FLAGS[:2], SYNC),
        convert_to_managed,
        {},
        "Make an unmanaged code a managed one.",
        (400, 401, 404, 409),
    ),
    Route(
        "/access_codes/simulate/create_unmanaged_access_code",
        ("POST",),
        (
            Field("device_id", "uuid", required=True),
            Field("name", "string", required=True, max_length=200),
            Field("code", "string", required=True, min_length=4, max_length=12, pattern=r"^\d+$"),
        ),
        simulate_unmanaged,
        {"access_code": "unmanaged_access_code"},
        "Put a code on a simulated lock as if set at its keypad.",
        (400, 401, 404, 409),
    ),
)

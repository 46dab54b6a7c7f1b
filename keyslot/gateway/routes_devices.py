"""`/devices/*`, `/locks/*`, `/action_attempts/get`, `/events/*`, and the dashboard's data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyslot.gateway.dashboard import dashboard_state
from keyslot.gateway.params import Field
from keyslot.gateway.routing import Route
from keyslot.gateway.service_calls import call
from keyslot.model import ActionAttempt, ActionType, InvalidInput

__all__ = ["DEVICE_ROUTES"]

_NO_MORE_PAGES = {"has_next_page": False, "next_page_cursor": None, "next_page_url": None}

_LIST_FIELDS = (
    Field("device_ids", "array", items="uuid"),
    Field("device_type", "string", max_length=100),
    Field("device_types", "array", items="string"),
    Field("manufacturer", "string", max_length=100),
    Field("limit", "integer", minimum=1, maximum=100000),
    Field("created_before", "datetime"),
)
_GET_FIELDS = (Field("device_id", "uuid"), Field("name", "string", max_length=200))
_ERRORS = (400, 401, 404)


async def devices_list(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    devices = await call(ctx, "list_devices", p)
    return {"devices": devices, "pagination": _NO_MORE_PAGES}


async def devices_get(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"device": await call(ctx, "get_device", p)}


async def locks_list(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    devices = await call(ctx, "list_devices", p)
    return {"devices": devices, "locks": devices}


async def locks_get(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    device = await call(ctx, "get_device", p)
    return {"device": device, "lock": device}


async def action_attempt_get(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"action_attempt": await call(ctx, "get_action_attempt", p)}


async def events_list(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"events": await call(ctx, "list_events", p)}


async def events_get(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return {"event": await call(ctx, "get_event", p)}


async def keypad_code_entry(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    """Type a code on a simulated lock's keypad; what the lock does shows up as events."""
    await call(ctx, "get_device", {"device_id": p["device_id"]})  # 404 for an unknown id
    keypad = ctx.keypads(p["device_id"]) if ctx.keypads is not None else None
    if keypad is None:
        raise InvalidInput(
            "this device is not a simulated lock with a keypad this gateway can reach",
            type="device_not_simulated",
        )
    outcome = keypad.enter(p["code"])
    attempt = ActionAttempt.pending(ActionType.SIMULATE_KEYPAD_CODE_ENTRY).succeeded(
        {"unlocked": bool(outcome.unlocked)}
    )
    ctx.store.action_attempts.put(attempt)
    return {"action_attempt": attempt}


async def dashboard(ctx: Any, p: dict[str, Any]) -> Mapping[str, Any]:
    return dashboard_state(ctx.store, ctx.clock)


DEVICE_ROUTES: tuple[Route, ...] = (
    Route(
        "/devices/list",
        ("GET", "POST"),
        _LIST_FIELDS,
        devices_list,
        {"devices": "[device]", "pagination": "pagination"},
        "Every lock of this gateway.",
        _ERRORS,
    ),
    Route(
        "/devices/get",
        ("GET", "POST"),
        _GET_FIELDS,
        devices_get,
        {"device": "device"},
        "One lock, by id or name.",
        _ERRORS,
    ),
    Route(
        "/locks/list",
        ("GET", "POST"),
        _LIST_FIELDS,
        locks_list,
        {"devices": "[device]", "locks": "[device]"},
        "Every lock of this gateway (as both `locks` and `devices`).",
        _ERRORS,
    ),
    Route(
        "/locks/get",
        ("GET", "POST"),
        _GET_FIELDS,
        locks_get,
        {"device": "device", "lock": "device"},
        "One lock (as both `lock` and `device`).",
        _ERRORS,
    ),
    Route(
        "/action_attempts/get",
        ("GET", "POST"),
        (Field("action_attempt_id", "uuid", required=True),),
        action_attempt_get,
        {"action_attempt": "action_attempt"},
        "The state of an action (create, update, delete, keypad entry).",
        _ERRORS,
    ),
    Route(
        "/events/list",
        ("GET", "POST"),
        (
            Field("since", "datetime"),
            Field("between", "array", items="datetime"),
            Field("device_id", "uuid"),
            Field("device_ids", "array", items="uuid"),
            Field("access_code_id", "uuid"),
            Field("access_code_ids", "array", items="uuid"),
            Field("event_type", "string", max_length=100),
            Field("event_types", "array", items="string"),
            Field("event_ids", "array", items="uuid"),
            Field("limit", "integer", minimum=1, maximum=10000),
            Field("unstable_offset", "integer", minimum=0, maximum=1000000),
        ),
        events_list,
        {"events": "[event]"},
        "Events, newest first.",
        _ERRORS,
    ),
    Route(
        "/events/get",
        ("GET", "POST"),
        (Field("event_id", "uuid", required=True),),
        events_get,
        {"event": "event"},
        "One event.",
        _ERRORS,
    ),
    Route(
        "/locks/simulate/keypad_code_entry",
        ("POST",),
        (
            Field("device_id", "uuid", required=True),
            Field("code", "string", required=True, min_length=1, max_length=20, pattern=r"^\d+$"),
        ),
        keypad_code_entry,
        {"action_attempt": "action_attempt"},
        "Type a code on a simulated lock's keypad.",
        _ERRORS,
    ),
    Route(
        "/keyslot/dashboard",
        ("GET",),
        (),
        dashboard,
        {},
        "Everything the dashboard draws: locks, slot grids, codes.",
        (401,),
    ),
)

"""Contract: every answer of every endpoint fits Seam's OpenAPI schema for that operation.

The gateway runs in-process over the real service and store; each call is made with each
HTTP method Seam documents, and each success body is validated against
shared/reference/seam-openapi-subset.json. Error answers are checked for Seam's envelope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from keyslot.gateway.app import Gateway
from keyslot.protocol.clock import ManualClock
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import Store
from tests.contract import validate_response


@dataclass
class Env:
    client: httpx.AsyncClient
    store: Store
    service: Service
    clock: ManualClock
    kwikset: str
    nuki: str
    firmware: dict[str, LockFirmware]

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Make a call that must succeed and fit Seam's schema; returns the body."""
        res = await self.client.request(method, path, **kwargs)
        assert res.status_code == 200, f"{method} {path}: {res.status_code} {res.text}"
        body: dict[str, Any] = res.json()
        assert body["ok"] is True
        assert res.headers["seam-request-id"]
        validate_response(body, path, method)
        return body

    async def fails(self, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        res = await self.client.request(method, path, **kwargs)
        assert res.status_code == status, f"{method} {path}: {res.status_code} {res.text}"
        body: dict[str, Any] = res.json()
        assert body["ok"] is False
        assert isinstance(body["error"]["type"], str)
        assert isinstance(body["error"]["message"], str)
        assert res.headers["content-type"].startswith("application/json")
        return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
def store(clock: ManualClock) -> Iterator[Store]:
    s = Store.memory(clock=clock)
    yield s
    s.close()


@pytest.fixture
async def env(store: Store, clock: ManualClock) -> AsyncIterator[Env]:
    service = Service(store, clock=clock)
    firmware: dict[str, LockFirmware] = {}
    ids = {}
    for profile in ("kwikset", "nuki"):
        record = service.add_device(lock_url=f"sim://{profile}?id=c-{profile}", name=profile)
        fw = LockFirmware(get_profile(profile), clock=clock, lock_id=profile)
        info = fw.info()
        store.devices.update(
            record.device_id, lambda r, i=info: replace(r, lock_info=i, online=True)
        )
        firmware[record.device_id] = fw
        ids[profile] = record.device_id
    _, key = store.api_keys.create("test")
    gateway = Gateway(service, clock=clock, keypads=firmware.get)
    await gateway.start()
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield Env(client, store, service, clock, ids["kwikset"], ids["nuki"], firmware)
    await gateway.stop()


async def test_access_code_lifecycle_fits_seams_schemas(env: Env) -> None:
    created = await env.call(
        "POST",
        "/access_codes/create",
        json={"device_id": env.kwikset, "name": "Alice", "code": "4821"},
    )
    code_id = created["access_code"]["access_code_id"]
    assert created["action_attempt"]["action_type"] == "CREATE_ACCESS_CODE"
    for method in ("GET", "POST"):
        kwargs: dict[str, Any] = (
            {"params": {"access_code_id": code_id}}
            if method == "GET"
            else {"json": {"access_code_id": code_id}}
        )
        got = await env.call(method, "/access_codes/get", **kwargs)
        assert got["access_code"]["name"] == "Alice"
    by_code = await env.call(
        "GET", "/access_codes/get", params={"device_id": env.kwikset, "code": "4821"}
    )
    assert by_code["access_code"]["access_code_id"] == code_id
    listed = await env.call("GET", "/access_codes/list", params={"device_id": env.kwikset})
    assert [c["access_code_id"] for c in listed["access_codes"]] == [code_id]
    await env.call("POST", "/access_codes/list", json={"access_code_ids": [code_id]})
    start = env.clock.now() + timedelta(days=1)
    for method in ("POST", "PUT", "PATCH"):
        await env.call(
            method,
            "/access_codes/update",
            json={
                "access_code_id": code_id,
                "name": f"Alice {method}",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(days=2)).isoformat(),
            },
        )
    updated = await env.call("GET", "/access_codes/get", params={"access_code_id": code_id})
    assert updated["access_code"]["type"] == "time_bound"
    for method in ("GET", "POST"):
        kwargs = (
            {"params": {"device_id": env.kwikset}}
            if method == "GET"
            else {"json": {"device_id": env.kwikset}}
        )
        generated = await env.call(method, "/access_codes/generate_code", **kwargs)
        assert generated["generated_code"]["code"].isdigit()
    deleted = await env.call("DELETE", "/access_codes/delete", params={"access_code_id": code_id})
    attempt_id = deleted["action_attempt"]["action_attempt_id"]
    for method in ("GET", "POST"):
        kwargs = (
            {"params": {"action_attempt_id": attempt_id}}
            if method == "GET"
            else {"json": {"action_attempt_id": attempt_id}}
        )
        await env.call(method, "/action_attempts/get", **kwargs)


async def test_multiple_codes_fit_seams_schemas(env: Env) -> None:
    for method in ("POST", "PUT"):
        made = await env.call(
            method,
            "/access_codes/create_multiple",
            json={"device_ids": [env.kwikset, env.nuki], "name": f"Guest {method}"},
        )
        codes = made["access_codes"]
        assert len(codes) == 2
        assert len({c["code"] for c in codes}) == 1
        key = codes[0]["common_code_key"]
        assert key
        assert codes[1]["common_code_key"] == key
    for method in ("POST", "PATCH"):
        await env.call(
            method,
            "/access_codes/update_multiple",
            json={"common_code_key": key, "name": "Renamed"},
        )
    await env.call(
        "POST", "/access_codes/delete", json={"access_code_id": codes[0]["access_code_id"]}
    )


async def test_paging_through_codes(env: Env) -> None:
    for i in range(5):
        await env.call(
            "POST", "/access_codes/create", json={"device_id": env.nuki, "code": f"34567{i + 1}"}
        )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"device_id": env.nuki, "limit": 2}
        if cursor:
            params["page_cursor"] = cursor
        page = await env.call("GET", "/access_codes/list", params=params)
        seen.extend(c["access_code_id"] for c in page["access_codes"])
        pagination = page["pagination"]
        if not pagination["has_next_page"]:
            assert pagination["next_page_url"] is None
            break
        assert "page_cursor=" in pagination["next_page_url"]
        cursor = pagination["next_page_cursor"]
    assert len(seen) == len(set(seen)) == 5


async def test_unmanaged_codes_fit_seams_schemas(env: Env) -> None:
    made = await env.call(
        "POST",
        "/access_codes/simulate/create_unmanaged_access_code",
        json={"device_id": env.kwikset, "name": "Janitor", "code": "7777"},
    )
    code_id = made["access_code"]["access_code_id"]
    assert made["access_code"]["is_managed"] is False
    for method in ("GET", "POST"):
        kwargs: dict[str, Any] = (
            {"params": {"device_id": env.kwikset}}
            if method == "GET"
            else {"json": {"device_id": env.kwikset}}
        )
        listed = await env.call(method, "/access_codes/unmanaged/list", **kwargs)
        assert [c["access_code_id"] for c in listed["access_codes"]] == [code_id]
        kwargs = (
            {"params": {"access_code_id": code_id}}
            if method == "GET"
            else {"json": {"access_code_id": code_id}}
        )
        await env.call(method, "/access_codes/unmanaged/get", **kwargs)
    await env.call(
        "PATCH",
        "/access_codes/unmanaged/update",
        json={"access_code_id": code_id, "is_managed": False},
    )
    await env.call(
        "POST", "/access_codes/unmanaged/convert_to_managed", json={"access_code_id": code_id}
    )
    managed = await env.call("GET", "/access_codes/get", params={"access_code_id": code_id})
    assert managed["access_code"]["is_managed"] is True
    other = await env.call(
        "POST",
        "/access_codes/simulate/create_unmanaged_access_code",
        json={"device_id": env.kwikset, "name": "Plumber", "code": "8888"},
    )
    await env.call(
        "DELETE",
        "/access_codes/unmanaged/delete",
        params={"access_code_id": other["access_code"]["access_code_id"]},
    )


async def test_devices_locks_events_fit_seams_schemas(env: Env) -> None:
    for method in ("GET", "POST"):
        devices = await env.call(method, "/devices/list")
        assert {d["device_id"] for d in devices["devices"]} == {env.kwikset, env.nuki}
        locks = await env.call(method, "/locks/list")
        assert locks["locks"] == locks["devices"]
        kwargs: dict[str, Any] = (
            {"params": {"device_id": env.nuki}}
            if method == "GET"
            else {"json": {"device_id": env.nuki}}
        )
        await env.call(method, "/devices/get", **kwargs)
        lock = await env.call(method, "/locks/get", **kwargs)
        assert lock["lock"] == lock["device"]
    await env.call(
        "POST",
        "/access_codes/create",
        json={"device_id": env.nuki, "code": "345678", "name": "Zoë"},
    )
    for method in ("GET", "POST"):
        kwargs = (
            {"params": {"device_id": env.nuki}}
            if method == "GET"
            else {"json": {"device_id": env.nuki}}
        )
        events = await env.call(method, "/events/list", **kwargs)
        assert "access_code.created" in {e["event_type"] for e in events["events"]}
    await env.call(
        "POST",
        "/access_codes/report_device_constraints",
        json={"device_id": env.kwikset, "min_code_length": 4, "max_code_length": 6},
    )


async def test_keypad_entry_on_a_simulated_lock(env: Env) -> None:
    fw = env.firmware[env.kwikset]
    from keyslot.protocol.slots import SlotEntry

    fw.write_slot(1, SlotEntry(code="5555", name="Door"))
    answer = await env.call(
        "POST", "/locks/simulate/keypad_code_entry", json={"device_id": env.kwikset, "code": "5555"}
    )
    assert answer["action_attempt"]["status"] == "success"
    assert answer["action_attempt"]["result"] == {"unlocked": True}
    denied = await env.call(
        "POST", "/locks/simulate/keypad_code_entry", json={"device_id": env.kwikset, "code": "1111"}
    )
    assert denied["action_attempt"]["result"] == {"unlocked": False}


async def test_errors_use_seams_envelope_and_statuses(env: Env) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    err = await env.fails("GET", "/access_codes/get", 404, params={"access_code_id": missing})
    assert err["type"] == "access_code_not_found"
    err = await env.fails("POST", "/access_codes/create", 404, json={"device_id": missing})
    assert err["type"] == "device_not_found"
    err = await env.fails("POST", "/access_codes/create", 400, json={"device_id": "nope"})
    assert err["type"] == "invalid_input"
    assert err["validation_errors"]["device_id"]["_errors"]
    await env.call("POST", "/access_codes/create", json={"device_id": env.kwikset, "code": "9182"})
    err = await env.fails(
        "POST", "/access_codes/create", 409, json={"device_id": env.kwikset, "code": "9182"}
    )
    assert err["type"] == "duplicate_access_code"
    err = await env.fails("GET", "/action_attempts/get", 404, params={"action_attempt_id": missing})
    err = await env.fails(
        "POST", "/access_codes/pull_backup_access_code", 404, json={"access_code_id": missing}
    )
    err = await env.fails("GET", "/devices/get", 404, params={"device_id": missing})
    assert err["type"] == "device_not_found"
    err = await env.fails("GET", "/access_codes/create", 405)
    assert err["type"] == "method_not_allowed"
    err = await env.fails("GET", "/no/such/route", 404)
    res = await env.client.get("/access_codes/list", headers={"Authorization": "Bearer seam_bad"})
    assert res.status_code == 401


async def test_health_needs_no_key_and_everything_else_does(env: Env) -> None:
    res = await env.client.get("/health", headers={"Authorization": ""})
    assert res.status_code == 200
    assert res.json()["ok"] is True
    for path in ("/openapi.json", "/no/such/route", "/keyslot/dashboard", "/devices/list"):
        res = await env.client.get(path, headers={"Authorization": ""})
        assert res.status_code == 401, path
        assert res.json()["error"]["type"] == "unauthorized"
    res = await env.client.get("/openapi.json")
    assert res.status_code == 200
    assert "/access_codes/create" in res.json()["paths"]


async def test_dashboard_data_and_page(env: Env) -> None:
    await env.call("POST", "/access_codes/create", json={"device_id": env.kwikset, "code": "4821"})
    res = await env.client.get("/keyslot/dashboard")
    assert res.status_code == 200
    state = res.json()
    lock = next(item for item in state["locks"] if item["device"]["device_id"] == env.kwikset)
    assert len(lock["slots"]) == 30
    assert len(lock["access_codes"]) == 1
    page = await env.client.get("/", headers={"Authorization": ""})
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for asset in ("/static/dashboard.js", "/static/dashboard.css"):
        assert (await env.client.get(asset)).status_code == 200


async def test_keys_from_the_config_are_accepted(store: Store, clock: ManualClock) -> None:
    import hashlib

    from keyslot.gateway.config import ApiKeyConfig, GatewayConfig

    key = "seam_from_config_0123456789abcdef"
    digest = hashlib.sha256(key.encode()).hexdigest()
    config = GatewayConfig(api_keys=(ApiKeyConfig("ops", digest),))
    gateway = Gateway(Service(store, clock=clock), clock=clock, config=config)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        ok = await client.get("/devices/list", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
        wrong = await client.get("/devices/list", headers={"Authorization": f"Bearer {key}x"})
        assert wrong.status_code == 401

"""The API dispatcher: keys, methods, bodies, the error envelope and request ids."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from keyslot.gateway.auth import Authenticator, bearer_key
from keyslot.gateway.params import Field
from keyslot.gateway.routing import ApiDispatcher, Route, Scope
from keyslot.model.api_errors import AccessCodeNotFound, DuplicateAccessCode
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockUnavailable

KEY = "seam_test1234_abcdefghijklmnopqrstuvwxyz"
PIN = "918273"


async def echo(ctx: Any, params: dict[str, Any]) -> Mapping[str, Any]:
    ctx.append(params)
    if params.get("code") == "0000":
        raise DuplicateAccessCode("the code is already used on this device")
    if params.get("code") == "4040":
        raise AccessCodeNotFound("no access code with that id")
    if params.get("code") == "5030":
        raise LockUnavailable("the lock is offline")
    if params.get("code") == "9999":
        raise RuntimeError("boom")
    return {"echo": params}


ROUTE = Route(
    path="/things/echo",
    methods=("GET", "POST"),
    fields=(Field("code", "string"), Field("count", "integer"), Field("flag", "boolean")),
    handler=echo,
    answer={"echo": "thing"},
)


async def fallback(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b"fallback"})


@pytest.fixture
def calls() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def dispatcher(calls: list[dict[str, Any]], clock: ManualClock) -> ApiDispatcher:
    authenticator = Authenticator(lambda key: key == KEY, clock=clock)
    return ApiDispatcher([ROUTE], context=calls, authenticator=authenticator, fallback=fallback)


@pytest.fixture
async def client(dispatcher: ApiDispatcher) -> Any:
    transport = httpx.ASGITransport(app=dispatcher)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as c:
        yield c


async def test_query_and_body_are_merged(client: httpx.AsyncClient) -> None:
    res = await client.request("GET", "/things/echo?count=3&_strict=true", json={"flag": True})
    assert res.status_code == 200
    assert res.json() == {"echo": {"count": 3, "flag": True}, "ok": True}
    assert res.headers["seam-request-id"]
    assert res.headers["content-type"].startswith("application/json")


async def test_trailing_slash_is_the_same_route(client: httpx.AsyncClient) -> None:
    assert (await client.post("/things/echo/", json={})).status_code == 200


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    res = await client.delete("/things/echo")
    assert res.status_code == 405
    assert res.headers["allow"] == "GET, POST"
    assert res.json()["error"]["type"] == "method_not_allowed"


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic abc", "Bearer", "Bearer nope", "Bearer seam_wrong", "Bearer seam_cst_abc"],
)
async def test_missing_or_wrong_keys_are_401_and_logged_without_the_key(
    dispatcher: ApiDispatcher, authorization: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    transport = httpx.ASGITransport(app=dispatcher)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        with caplog.at_level(logging.INFO):
            res = await c.post("/things/echo", json={}, headers=headers)
    assert res.status_code == 401
    assert res.json() == {"ok": False, "error": {"type": "unauthorized", "message": "Unauthorized"}}
    assert res.headers["seam-request-id"]
    rejected = [r for r in caplog.records if r.name == "keyslot.gateway.auth"]
    assert len(rejected) == 1
    text = rejected[0].getMessage()
    assert "/things/echo" in text
    if authorization and " " in authorization:
        token = authorization.split(" ", 1)[1]
        assert token not in text


async def test_bad_bodies(client: httpx.AsyncClient) -> None:
    res = await client.post(
        "/things/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert res.status_code == 400
    assert res.json()["error"]["type"] == "invalid_input"
    res = await client.post("/things/echo", json=[1, 2])
    assert res.status_code == 400
    assert "JSON object" in res.json()["error"]["message"]
    res = await client.post("/things/echo", content=b"{" + b" " * (1024 * 1024 + 1) + b"}")
    assert res.status_code == 413


async def test_validation_errors_use_seams_envelope(client: httpx.AsyncClient) -> None:
    res = await client.post("/things/echo", json={"count": "many"})
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["type"] == "invalid_input"
    assert error["validation_errors"]["count"]["_errors"]


@pytest.mark.parametrize(
    ("code", "status", "error_type"),
    [
        ("0000", 409, "duplicate_access_code"),
        ("4040", 404, "access_code_not_found"),
        ("5030", 500, "lock_unavailable"),
        ("9999", 500, "internal_server_error"),
    ],
)
async def test_service_errors_map_to_statuses(
    client: httpx.AsyncClient, code: str, status: int, error_type: str
) -> None:
    res = await client.post("/things/echo", json={"code": code})
    assert res.status_code == status
    body = res.json()
    assert body["ok"] is False
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str)


async def test_unknown_paths_go_to_the_fallback(client: httpx.AsyncClient) -> None:
    res = await client.get("/not/an/api/route")
    assert res.status_code == 418


async def test_access_log_never_holds_the_query(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="keyslot.gateway.access"):
        res = await client.get(f"/things/echo?code={PIN}")
    assert res.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "keyslot.gateway.access"]
    assert lines
    assert "/things/echo" in lines[0]
    assert all(PIN not in line for line in lines)


async def test_draining_answers_503(client: httpx.AsyncClient, dispatcher: ApiDispatcher) -> None:
    dispatcher.draining = True
    res = await client.post("/things/echo", json={})
    assert res.status_code == 503
    assert res.headers["retry-after"] == "1"


async def test_verified_keys_are_remembered_briefly(clock: ManualClock) -> None:
    seen: list[str] = []

    def verify(key: str) -> bool:
        seen.append(key)
        return key == KEY

    auth = Authenticator(verify, clock=clock, ttl=5)
    assert (await auth.check(f"Bearer {KEY}")).ok
    assert (await auth.check(f"Bearer {KEY}")).ok
    assert len(seen) == 1
    clock.advance(6)
    assert (await auth.check(f"Bearer {KEY}")).ok
    assert len(seen) == 2
    assert not (await auth.check("Bearer seam_other")).ok


def test_bearer_key_parsing() -> None:
    assert bearer_key(f"Bearer {KEY}") == (KEY, "")
    assert bearer_key(f"bearer   {KEY}  ")[0] == KEY
    assert bearer_key("Bearer seam_at_x")[0] is None
    assert bearer_key("Bearer seam_" + "x" * 300)[0] is None

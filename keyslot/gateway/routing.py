"""The API's route table and the ASGI dispatcher that serves it.

API routes bypass Starlette's request objects: a route is found by exact path in a dict,
the key checked, the body read with a cap, query and JSON merged and checked against the
route's fields, and the handler's dict answered as `{..., "ok": true}`. Anything that is
not an API route (dashboard, health, event stream, OpenAPI) goes to the fallback app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from keyslot.gateway.auth import Authenticator, log_rejection
from keyslot.gateway.jsonio import BodyError, dumps, error_body, error_for, loads_object
from keyslot.gateway.params import Field, decode_query, validate_params
from keyslot.model.api_errors import SeamApiError
from keyslot.model.common import new_id
from keyslot.protocol.slots import KeyslotError

__all__ = ["ApiDispatcher", "Handler", "Route", "send_json"]

log = logging.getLogger("keyslot.gateway")
access_log = logging.getLogger("keyslot.gateway.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[[Any, dict[str, Any]], Awaitable[Mapping[str, Any]]]

MAX_BODY_BYTES = 1024 * 1024

_JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
_NO_STORE = (b"cache-control", b"no-store")


@dataclass(frozen=True, slots=True)
class Route:
    """One API endpoint: its methods, parameters, handler and what its answer holds.

    `answer` maps each key of the success body (besides `ok`) to a schema name in the
    OpenAPI document: `"access_code"`, a list as `"[access_code]"`, or `"pagination"`.
    """

    path: str
    methods: tuple[str, ...]
    fields: tuple[Field, ...]
    handler: Handler
    answer: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""
    errors: tuple[int, ...] = (400, 401)


async def send_json(
    send: Send,
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    payload = dumps(body)
    headers = [_JSON_TYPE, (b"content-length", b"%d" % len(payload)), _NO_STORE]
    if request_id is not None:
        headers.append((b"seam-request-id", request_id.encode()))
    headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"


class _TooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class ApiDispatcher:
    """ASGI app serving `routes`; other paths go to `fallback`.

    `context` is handed to every handler. While `draining` is set (shutdown), new API
    requests are answered 503 so the SDKs retry them elsewhere or later. `durable` (the
    store's durability barrier) is awaited before each answer: nothing the API says was
    done, or shows, can be taken back by a power cut.
    """

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        context: Any,
        authenticator: Authenticator,
        fallback: ASGIApp,
        durable: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.routes: dict[str, Route] = {}
        for route in routes:
            if route.path in self.routes:
                raise ValueError(f"route {route.path} defined twice")
            self.routes[route.path] = route
        self.context = context
        self.authenticator = authenticator
        self.fallback = fallback
        self.durable = durable
        self.draining = False
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        path: str = scope["path"]
        route = self.routes.get(path)
        if route is None and len(path) > 1 and path.endswith("/"):
            route = self.routes.get(path.rstrip("/"))
        if route is None:
            await self.fallback(scope, receive, send)
            return
        started = time.perf_counter()
        self.in_flight += 1
        try:
            status = await self._serve(route, scope, receive, send)
        finally:
            self.in_flight -= 1
        if access_log.isEnabledFor(logging.INFO):
            # The path only: a query string can carry a PIN (`/access_codes/get?code=…`).
            access_log.info(
                '%s "%s %s" %d %.1fms',
                client_of(scope),
                scope["method"],
                path,
                status,
                (time.perf_counter() - started) * 1000,
            )

    async def _serve(self, route: Route, scope: Scope, receive: Receive, send: Send) -> int:
        request_id = new_id()
        method: str = scope["method"]
        auth = await self.authenticator.check(header(scope, b"authorization"))
        if not auth.ok:
            log_rejection(method, scope["path"], client_of(scope), auth.reason)
            body = error_body("unauthorized", "Unauthorized")
            await send_json(send, 401, body, request_id=request_id)
            return 401
        if method not in route.methods:
            allow = ", ".join(route.methods).encode()
            message = f"{method} is not allowed on {route.path}; use {', '.join(route.methods)}"
            body = error_body("method_not_allowed", message)
            await send_json(
                send, 405, body, request_id=request_id, extra_headers=[(b"allow", allow)]
            )
            return 405
        if self.draining:
            body = error_body("service_unavailable", "the gateway is shutting down")
            await send_json(
                send, 503, body, request_id=request_id, extra_headers=[(b"retry-after", b"1")]
            )
            return 503
        status, answer = await self._answer(route, scope, receive)
        if self.durable is not None:
            try:
                await self.durable()
            except KeyslotError as exc:
                log.exception("%s: %s", route.path, exc.message)
                status, answer = 500, error_body(exc.code, exc.message)
        await send_json(send, status, answer, request_id=request_id)
        return status

    async def _answer(
        self, route: Route, scope: Scope, receive: Receive
    ) -> tuple[int, Mapping[str, Any]]:
        try:
            raw = await read_body(receive)
        except _TooLarge:
            message = f"the request body is larger than {MAX_BODY_BYTES} bytes"
            return 413, error_body("payload_too_large", message)
        try:
            body = loads_object(raw)
            raw_query = scope.get("query_string", b"")
            query = decode_query(raw_query) if raw_query else {}
            params = validate_params(route.fields, query, body)
            result = await route.handler(self.context, params)
        except BodyError as exc:
            return 400, error_body("invalid_input", str(exc))
        except SeamApiError as exc:
            return error_for(exc)
        except KeyslotError as exc:
            log.warning("%s failed: %s (%s)", route.path, exc.message, exc.code)
            return 500, error_body(exc.code, exc.message)
        except Exception:
            log.exception("%s failed unexpectedly", route.path)
            return 500, error_body("internal_server_error", "an unexpected error occurred")
        return 200, {**result, "ok": True}

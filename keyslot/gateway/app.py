"""The gateway as one ASGI application: API routes, health, OpenAPI, event stream, dashboard.

`Gateway(service, clock=...)` is the app; uvicorn (or a test client) serves it. Its
lifespan starts the event hub and webhook senders; `begin_shutdown()` makes new API
calls answer 503 and ends event streams, so a server can drain before the service (and
the lock operations in flight) is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from keyslot.gateway.auth import Authenticator, log_rejection
from keyslot.gateway.batching import CallBatcher
from keyslot.gateway.config import GatewayConfig, WebhookConfig
from keyslot.gateway.eventhub import EventHub, SequencedEvent
from keyslot.gateway.jsonio import error_body
from keyslot.gateway.openapi import openapi_document
from keyslot.gateway.routes_access_codes import ACCESS_CODE_ROUTES
from keyslot.gateway.routes_devices import DEVICE_ROUTES
from keyslot.gateway.routing import (
    ApiDispatcher,
    Receive,
    Route,
    Scope,
    Send,
    client_of,
    header,
    send_json,
)
from keyslot.gateway.sse import EventStream
from keyslot.gateway.webhooks import WebhookSender
from keyslot.protocol.clock import Clock

__all__ = ["Gateway", "GatewayContext", "KeypadFinder"]

log = logging.getLogger("keyslot.gateway")

VERSION = "0.1.0"

# device_id -> the simulated keypad of that lock (for /locks/simulate/keypad_code_entry)
KeypadFinder = Callable[[str], Any]


@dataclass
class GatewayContext:
    """What route handlers get: the service and the gateway's own parts."""

    service: Any
    clock: Clock
    hub: EventHub
    keypads: KeypadFinder | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    batcher: CallBatcher | None = None  # writes of the same moment share a commit

    @property
    def store(self) -> Any:
        return self.service.store


def _static_dir() -> Path:
    return Path(str(resources.files("keyslot.gateway").joinpath("static")))


class Gateway:
    def __init__(
        self,
        service: Any,
        *,
        clock: Clock,
        config: GatewayConfig | None = None,
        keypads: KeypadFinder | None = None,
        extra_routes: Sequence[Route] = (),
        on_startup: Iterable[Callable[[], Awaitable[None]]] = (),
        on_shutdown: Iterable[Callable[[], Awaitable[None]]] = (),
        poll_interval: float = 1.0,
    ) -> None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import FileResponse, JSONResponse, Response
        from starlette.routing import Mount
        from starlette.routing import Route as WebRoute
        from starlette.staticfiles import StaticFiles

        self.service = service
        self.clock = clock
        self.config = config or GatewayConfig()
        self._config_keys = tuple(k.sha256 for k in self.config.api_keys)
        self.hub = EventHub(
            self._fetch_events,
            clock=clock,
            poll_interval=poll_interval,
            latest=lambda: int(self.service.store.events.last_seq()),
        )
        self.authenticator = Authenticator(self._verify_key, clock=clock)
        self.context = GatewayContext(service, clock, self.hub, keypads)
        store: Any = getattr(service, "store", None)
        if hasattr(store, "transaction") and hasattr(store, "durable"):
            self.context.batcher = CallBatcher(store)
        self.routes: list[Route] = [*self.route_table(), *extra_routes]
        self.stream = EventStream(self.hub, self.authenticator, clock=clock)
        self.webhooks: list[WebhookSender] = []
        self._on_startup = list(on_startup)
        self._on_shutdown = list(on_shutdown)
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._hub_poked = False
        self._openapi: bytes | None = None
        static = _static_dir()

        async def health(request: Request) -> Response:
            return JSONResponse({"ok": True, "version": VERSION})

        async def index(request: Request) -> Response:
            return FileResponse(static / "index.html", headers={"cache-control": "no-cache"})

        async def openapi(request: Request) -> Response:
            result = await self.authenticator.check(request.headers.get("authorization"))
            if not result.ok:
                client = f"{request.client.host}:{request.client.port}" if request.client else "?"
                log_rejection(request.method, request.url.path, client, result.reason)
                return JSONResponse(error_body("unauthorized", "Unauthorized"), status_code=401)
            return JSONResponse(self.openapi_document())

        async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not await self._authorized(scope, send):
                return
            message = f"no endpoint {scope['path']}"
            await send_json(send, 404, error_body("endpoint_not_found", message))

        web = Starlette(
            routes=[
                WebRoute("/health", health, methods=["GET", "HEAD"]),
                WebRoute("/", index, methods=["GET", "HEAD"]),
                WebRoute("/openapi.json", openapi, methods=["GET"]),
                WebRoute("/events/stream", self.stream),
                Mount("/static", app=StaticFiles(directory=static), name="static"),
            ],
            lifespan=self._lifespan,
        )
        web.router.default = not_found
        self.api = ApiDispatcher(
            self.routes,
            context=self.context,
            authenticator=self.authenticator,
            fallback=web,
            durable=getattr(store, "durable", None),  # the barrier itself: one call less
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.api(scope, receive, send)

    @staticmethod
    def route_table() -> list[Route]:
        """Every API route the gateway serves (besides health, OpenAPI, stream, dashboard)."""
        return [*ACCESS_CODE_ROUTES, *DEVICE_ROUTES]

    # -- keys and events ---------------------------------------------------------------

    def _verify_key(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        if any(hmac.compare_digest(digest, known) for known in self._config_keys):
            return True
        return bool(self.service.store.api_keys.verify(key))

    async def _authorized(self, scope: Scope, send: Send) -> bool:
        result = await self.authenticator.check(header(scope, b"authorization"))
        if not result.ok:
            log_rejection(scope.get("method", "?"), scope["path"], client_of(scope), result.reason)
            await send_json(send, 401, error_body("unauthorized", "Unauthorized"))
        return result.ok

    async def _durable(self) -> None:
        """The store's durability barrier (a store without one has each commit on disk)."""
        durable = getattr(self.service.store, "durable", None)
        if durable is not None:
            await durable()

    def _on_event(self, _stored: object) -> None:
        """Called in the writing thread for every committed event: the hub is poked once
        for the events of one moment (it reads them all from the store)."""
        if self._hub_poked or self._loop is None:
            return
        self._hub_poked = True
        if threading.get_ident() == self._loop_thread:
            self._loop.call_soon(self._poke_hub)
        else:
            self._loop.call_soon_threadsafe(self._poke_hub)

    def _poke_hub(self) -> None:
        self._hub_poked = False  # before the poke: an event after it pokes again
        self.hub.notify()

    async def _fetch_events(self, after: int, limit: int) -> list[SequencedEvent]:
        """New events, handed out only once they are on disk (a webhook cannot be taken back)."""
        stored = self.service.store.events.query(after_seq=after, limit=limit)
        if stored:
            await self._durable()
        return [SequencedEvent(s.seq, s.event.to_dict()) for s in stored]

    def openapi_document(self) -> dict[str, Any]:
        return openapi_document(self.routes, version=VERSION)

    # -- life -----------------------------------------------------------------------------

    def add_webhook(self, config: WebhookConfig, cursor_path: Path | None = None) -> WebhookSender:
        sender = WebhookSender(config, self.hub, clock=self.clock, cursor_path=cursor_path)
        self.webhooks.append(sender)
        return sender

    async def start(self) -> None:
        for hook in self._on_startup:
            await hook()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._unsubscribe = self.service.store.events.subscribe(self._on_event)
        await self.hub.start()
        for sender in self.webhooks:
            sender.start()

    def begin_shutdown(self) -> None:
        """Refuse new API calls (503) and end event streams; in-flight calls finish."""
        self.api.draining = True
        self.stream.closing.set()

    async def stop(self) -> None:
        self.begin_shutdown()
        if self.context.batcher is not None:
            await self.context.batcher.aclose()
        for sender in self.webhooks:
            await sender.aclose()
        await self.hub.aclose()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._loop = None
        for hook in self._on_shutdown:
            try:
                await hook()
            except Exception:
                log.exception("a shutdown step failed")

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

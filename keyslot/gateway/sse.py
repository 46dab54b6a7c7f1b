"""`GET /events/stream`: keyslot's events as server-sent events, resumable by sequence number.

Each event is written as `id: <seq>`, `event: <event_type>`, `data: <JSON>`. A client that
reconnects with `Last-Event-ID` (or `?after=`) gets everything it missed from the store
before the live feed; `?tail=N` starts with roughly the last N events; `event_types`
(repeatable) filters. A comment line every `keepalive` seconds keeps proxies from
closing an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from keyslot.gateway.auth import Authenticator, log_rejection
from keyslot.gateway.eventhub import EventHub, SequencedEvent, Subscription
from keyslot.gateway.jsonio import error_body
from keyslot.gateway.params import decode_query
from keyslot.gateway.routing import Receive, Scope, Send, client_of, header, send_json
from keyslot.protocol.clock import Clock

__all__ = ["EventStream", "format_sse"]

_MAX_TAIL = 1000


def format_sse(item: SequencedEvent) -> bytes:
    data = json.dumps(item.event, ensure_ascii=False, separators=(",", ":"))
    return f"id: {item.seq}\nevent: {item.event_type}\ndata: {data}\n\n".encode()


class _Disconnected(Exception):
    pass


class EventStream:
    """The ASGI endpoint; `closing` ends every open stream (on shutdown)."""

    def __init__(
        self, hub: EventHub, authenticator: Authenticator, *, clock: Clock, keepalive: float = 15.0
    ) -> None:
        self.hub = hub
        self.authenticator = authenticator
        self.clock = clock
        self.keepalive = keepalive
        self.closing = asyncio.Event()
        self.open_streams = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        auth = await self.authenticator.check(header(scope, b"authorization"))
        if not auth.ok:
            log_rejection(scope["method"], scope["path"], client_of(scope), auth.reason)
            await send_json(send, 401, error_body("unauthorized", "Unauthorized"))
            return
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(
                send,
                405,
                error_body("method_not_allowed", "use GET for the event stream"),
                extra_headers=[(b"allow", b"GET")],
            )
            return
        try:
            after, types = self._options(scope)
        except ValueError as exc:
            await send_json(send, 400, error_body("invalid_input", str(exc)))
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        self.open_streams += 1
        disconnect = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await self._stream(send, disconnect, after, types)
        except _Disconnected:
            pass
        finally:
            self.open_streams -= 1
            disconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await disconnect
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _options(self, scope: Scope) -> tuple[int | None, frozenset[str]]:
        query = decode_query(scope.get("query_string", b""))
        raw_types = query.get("event_types", [])
        types = frozenset([raw_types] if isinstance(raw_types, str) else raw_types) - {""}
        last_id = header(scope, b"last-event-id")
        after: int | None = None
        try:
            if last_id:
                after = int(last_id)
            elif "after" in query:
                after = int(str(query["after"]))
            elif "tail" in query:
                tail = min(max(int(str(query["tail"])), 0), _MAX_TAIL)
                after = max(0, self.hub.last_seq - tail)
        except ValueError:
            raise ValueError("after, tail and Last-Event-ID must be whole numbers") from None
        if after is not None and after < 0:
            raise ValueError("after must not be negative")
        return after, types

    async def _stream(
        self,
        send: Send,
        disconnect: asyncio.Future[None],
        after: int | None,
        types: frozenset[str],
    ) -> None:
        async def emit(chunk: bytes) -> None:
            if disconnect.done():
                raise _Disconnected
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        await emit(b"retry: 2000\n: keyslot event stream\n\n")
        last = self.hub.last_seq if after is None else after
        while not self.closing.is_set():
            sub = self.hub.subscribe()
            try:
                while batch := await self.hub.fetch(last):  # catch up from the store first
                    for item in batch:
                        last = item.seq
                        if not types or item.event_type in types:
                            await emit(format_sse(item))
                live_last = await self._live(sub, emit, disconnect, types, last)
                if live_last is None:
                    return
                last = live_last
            finally:
                sub.close()

    async def _live(
        self,
        sub: Subscription,
        emit: Callable[[bytes], Awaitable[None]],
        disconnect: asyncio.Future[None],
        types: frozenset[str],
        last: int,
    ) -> int | None:
        """Forward live events until the hub drops this listener (returns the last seq sent)
        or the stream ends (returns None)."""
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            while True:
                getter = asyncio.ensure_future(sub.queue.get())
                ticker = asyncio.ensure_future(self.clock.sleep(self.keepalive))
                waiters: set[asyncio.Future[Any]] = {getter, ticker, disconnect, closing}
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ticker.cancel()
                    if not getter.done():
                        getter.cancel()
                if disconnect.done() or closing.done():
                    return None
                if not getter.done():
                    await emit(b": keepalive\n\n")
                    continue
                item = getter.result()
                if item is None:  # dropped for falling behind: catch up again
                    return None if self.closing.is_set() else last
                if item.seq <= last:
                    continue
                last = item.seq
                if not types or item.event_type in types:
                    await emit(format_sse(item))
        finally:
            closing.cancel()


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

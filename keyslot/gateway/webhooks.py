"""Webhooks: each event POSTed as JSON, signed the way Seam's (Standard Webhooks / Svix) are.

Headers `webhook-id` (the event id, stable across retries so a receiver can drop
repeats), `webhook-timestamp` (unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the `whsec_` secret), so
`seam.SeamWebhook(secret).verify(...)` accepts them. Delivery is in order, one endpoint
at a time, retried with exponential backoff and jitter; the sequence number of the last
event handled is kept in a file, so events written while the gateway was down are sent
when it is back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from keyslot.gateway.config import WebhookConfig
from keyslot.gateway.eventhub import EventHub, SequencedEvent
from keyslot.protocol.clock import Clock, ClockTimeout, wait_for

__all__ = ["WebhookSender", "http_post", "sign"]

log = logging.getLogger("keyslot.gateway.webhooks")

Poster = Callable[[str, Mapping[str, str], bytes, float], Awaitable[int]]

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


class DeliveryError(Exception):
    """The receiver could not be reached or did not answer in time."""


def _secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _safe_url(url: str) -> str:
    """The URL without credentials or query, for logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


async def http_post(url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> int:
    """POST `body` with HTTP/1.1 and return the status code; `DeliveryError` if unreachable.

    The gateway has no HTTP client dependency, and a webhook needs no more than this.
    """
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = ssl.create_default_context() if https else None
    lines = [
        f"POST {target} HTTP/1.1",
        f"Host: {host}" + (f":{parts.port}" if parts.port else ""),
        "User-Agent: keyslot-webhooks",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        fields = status_line.decode("latin-1").split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise DeliveryError("the receiver did not answer with HTTP")
        return int(fields[1])

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except (OSError, ssl.SSLError, TimeoutError, EOFError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


class WebhookSender:
    """Delivers the hub's events to one endpoint, in order, until closed."""

    def __init__(
        self,
        config: WebhookConfig,
        hub: EventHub,
        *,
        clock: Clock,
        cursor_path: Path | None = None,
        post: Poster = http_post,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.hub = hub
        self.clock = clock
        self.cursor_path = cursor_path
        self.post = post
        self.rng = rng or random.Random()
        self.delivered = 0
        self.failed = 0
        self._task: asyncio.Task[None] | None = None

    def _load_cursor(self) -> int | None:
        if self.cursor_path is None:
            return None
        try:
            return int(self.cursor_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _save_cursor(self, seq: int) -> None:
        if self.cursor_path is None:
            return
        tmp = self.cursor_path.with_suffix(".tmp")
        try:
            tmp.write_text(str(seq))
            tmp.replace(self.cursor_path)
        except OSError as exc:
            log.warning("cannot save the webhook position in %s: %s", self.cursor_path, exc)

    def start(self) -> None:
        """Deliver from the saved position, or else every event stored from now on (taken
        here, not when the task first runs: the hub may have moved past events meanwhile)."""
        saved = self._load_cursor()
        after = self.hub.last_seq if saved is None else saved
        self._task = asyncio.create_task(
            self._run(after), name=f"webhook {_safe_url(self.config.url)}"
        )

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, last: int) -> None:
        """Deliver every event after `last`, in order."""
        while True:
            sub = self.hub.subscribe()
            try:
                while batch := await self.hub.fetch(last):
                    for item in batch:
                        await self._handle(item)
                        last = item.seq
                while (live := await sub.queue.get()) is not None:
                    if live.seq <= last:
                        continue
                    await self._handle(live)
                    last = live.seq
            finally:
                sub.close()

    async def _handle(self, item: SequencedEvent) -> None:
        types = self.config.event_types
        if not types or item.event_type in types:
            await self.deliver(item)
        self._save_cursor(item.seq)

    async def deliver(self, item: SequencedEvent) -> bool:
        """Send one event, retrying with backoff; False when every attempt failed."""
        body = json.dumps(item.event, ensure_ascii=False, separators=(",", ":")).encode()
        msg_id = str(item.event.get("event_id") or f"seq_{item.seq}")
        where = _safe_url(self.config.url)
        for attempt in range(1, self.config.max_attempts + 1):
            timestamp = int(self.clock.now().timestamp())
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self.config.secret, msg_id, timestamp, body),
            }
            try:
                status = await wait_for(
                    self.clock,
                    self.post(self.config.url, headers, body, self.config.timeout),
                    self.config.timeout,
                )
                if 200 <= status < 300:
                    self.delivered += 1
                    return True
                reason = f"HTTP {status}"
            except (DeliveryError, ClockTimeout) as exc:
                reason = str(exc) or type(exc).__name__
            if attempt == self.config.max_attempts:
                break
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
            delay = delay / 2 + self.rng.uniform(0, delay / 2)
            log.info(
                "webhook %s: %s for %s (attempt %d), retrying in %.1fs",
                where,
                reason,
                item.event_type,
                attempt,
                delay,
            )
            await self.clock.sleep(delay)
        self.failed += 1
        log.warning(
            "webhook %s: gave up on %s %s after %d attempts (last: %s)",
            where,
            item.event_type,
            msg_id,
            self.config.max_attempts,
            reason,
        )
        return False

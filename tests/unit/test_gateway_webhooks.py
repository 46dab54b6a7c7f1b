"""Webhooks: Svix-compatible signatures, delivery over real HTTP, retries with backoff."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from seam import SeamWebhook

from keyslot.gateway.config import WebhookConfig
from keyslot.gateway.eventhub import EventHub, SequencedEvent
from keyslot.gateway.webhooks import DeliveryError, WebhookSender, http_post, sign
from keyslot.model.events import Event, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.store import Store

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
DEVICE = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


class Receiver:
    """A tiny HTTP server on loopback that records requests and answers with `statuses`."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.arrived = asyncio.Event()

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks?token=abc"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
        }
        body = await reader.readexactly(int(headers["content-length"]))
        self.requests.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        self.arrived.set()


def test_signature_is_accepted_by_svix_and_bound_to_the_body() -> None:
    from svix.webhooks import Webhook, WebhookVerificationError

    body = b'{"event_id":"e1","event_type":"lock.locked"}'
    now = int(time.time())
    headers = {
        "webhook-id": "e1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(SECRET, "e1", now, body),
    }
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(body, headers) == {"event_id": "e1", "event_type": "lock.locked"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"locked", b"opened"), headers)


async def test_seam_sdk_verifies_a_delivered_event() -> None:
    now = datetime.now(UTC)
    clock = ManualClock(now)
    store = Store.memory(clock=clock)
    try:
        event = Event.new(
            EventType.LOCK_UNLOCKED,
            workspace_id=store.workspace_id,
            at=now,
            device_id=DEVICE,
            method="keycode",
        )
        seq = store.events.append(event)
        async with Receiver([200]) as receiver:
            config = WebhookConfig(url=receiver.url, secret=SECRET)
            hub = EventHub(lambda a, n: [], clock=clock)
            sender = WebhookSender(config, hub, clock=clock)
            assert await sender.deliver(SequencedEvent(seq, event.to_dict()))
        headers, body = receiver.requests[0]
        parsed = SeamWebhook(SECRET).verify(body.decode(), headers)
        assert parsed.event_id == event.event_id
        assert parsed.event_type == "lock.unlocked"
        assert headers["webhook-id"] == event.event_id
        assert headers["content-type"] == "application/json"
    finally:
        store.close()


async def test_http_post_reports_unreachable_receivers() -> None:
    async with Receiver([]) as receiver:
        url = receiver.url
    with pytest.raises(DeliveryError):
        await http_post(url, {}, b"{}", 2.0)


def hub_for(store: Store, clock: ManualClock) -> EventHub:
    def fetch(after: int, limit: int) -> list[SequencedEvent]:
        return [
            SequencedEvent(s.seq, s.event.to_dict())
            for s in store.events.query(after_seq=after, limit=limit)
        ]

    return EventHub(fetch, clock=clock)


def add(store: Store, clock: ManualClock, event_type: EventType, **data: Any) -> int:
    return store.events.append(
        Event.new(event_type, workspace_id=store.workspace_id, at=clock.now(), **data)
    )


class FlakyPoster:
    def __init__(self, statuses: list[int | Exception]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, Mapping[str, str], bytes]] = []

    async def __call__(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> int:
        self.calls.append((url, dict(headers), body))
        outcome = self.statuses.pop(0) if self.statuses else 200
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def wait_for_calls(poster: FlakyPoster, count: int) -> None:
    for _ in range(500):
        if len(poster.calls) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {count} deliveries, saw {len(poster.calls)}")


async def test_retries_with_backoff_then_moves_on(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    hub = hub_for(store, clock)
    await hub.start()
    poster = FlakyPoster([500, DeliveryError("refused"), 200])
    config = WebhookConfig(url="http://127.0.0.1:1/x", secret=SECRET, max_attempts=5)
    cursor = tmp_path / "hook.cursor"
    sender = WebhookSender(
        config, hub, clock=clock, cursor_path=cursor, post=poster, rng=random.Random(1)
    )
    sender.start()
    try:
        seq = add(store, clock, EventType.LOCK_LOCKED, method="manual")
        hub.notify()
        await wait_for_calls(poster, 1)
        await clock.run_for(0.9, step=0.1)  # first backoff is 0.5 to 1 s
        await clock.run_for(2.0, step=0.1)  # second is 1 to 2 s
        await wait_for_calls(poster, 3)
        for _ in range(20):
            await asyncio.sleep(0)
        assert sender.delivered == 1
        ids = {call[1]["webhook-id"] for call in poster.calls}
        assert len(ids) == 1  # the same message id on every attempt
        assert cursor.read_text() == str(seq)
    finally:
        await sender.aclose()
        await hub.aclose()


async def test_gives_up_after_max_attempts_and_filters_types(
    store: Store, clock: ManualClock
) -> None:
    hub = hub_for(store, clock)
    await hub.start()
    poster = FlakyPoster([503, 503])
    config = WebhookConfig(
        url="http://127.0.0.1:1/x", secret=SECRET, max_attempts=2, event_types=("lock.unlocked",)
    )
    sender = WebhookSender(config, hub, clock=clock, post=poster, rng=random.Random(2))
    sender.start()
    try:
        add(store, clock, EventType.LOCK_LOCKED, method="manual")  # filtered out
        add(store, clock, EventType.LOCK_UNLOCKED, method="keycode")
        hub.notify()
        await wait_for_calls(poster, 1)
        await clock.run_for(1.5, step=0.1)
        await wait_for_calls(poster, 2)
        for _ in range(20):
            await asyncio.sleep(0)
        assert sender.failed == 1
        assert all(b'"lock.unlocked"' in call[2] for call in poster.calls)
    finally:
        await sender.aclose()
        await hub.aclose()


async def test_events_written_while_down_are_sent_from_the_cursor(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    first = add(store, clock, EventType.LOCK_LOCKED, method="manual")
    cursor = tmp_path / "hook.cursor"
    cursor.write_text(str(first))
    missed = add(store, clock, EventType.LOCK_UNLOCKED, method="keycode")
    hub = hub_for(store, clock)
    await hub.start()
    poster = FlakyPoster([])
    config = WebhookConfig(url="http://127.0.0.1:1/x", secret=SECRET)
    sender = WebhookSender(config, hub, clock=clock, cursor_path=cursor, post=poster)
    sender.start()
    try:
        await wait_for_calls(poster, 1)
        assert b"lock.unlocked" in poster.calls[0][2]
        for _ in range(20):
            await asyncio.sleep(0)
        assert cursor.read_text() == str(missed)
    finally:
        await sender.aclose()
        await hub.aclose()


async def test_an_event_stored_right_after_start_is_sent(store: Store, clock: ManualClock) -> None:
    hub = hub_for(store, clock)
    await hub.start()
    poster = FlakyPoster([])
    config = WebhookConfig(url="http://127.0.0.1:1/x", secret=SECRET)
    sender = WebhookSender(config, hub, clock=clock, post=poster)
    sender.start()
    try:
        # before the sender's task first runs, an event is stored and the hub, with nobody
        # subscribed yet, moves past it
        add(store, clock, EventType.LOCK_UNLOCKED, method="keycode")
        await hub.poll()
        await wait_for_calls(poster, 1)
        assert b"lock.unlocked" in poster.calls[0][2]
    finally:
        await sender.aclose()
        await hub.aclose()

"""The event hub and the server-sent-event stream, over the store's real event log."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from keyslot.gateway.auth import Authenticator
from keyslot.gateway.eventhub import EventHub, SequencedEvent
from keyslot.gateway.sse import EventStream
from keyslot.model.events import Event, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.store import Store

KEY = "seam_events_test_key_0123456789"
DEVICE = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def add(store: Store, clock: ManualClock, event_type: EventType, **data: Any) -> int:
    event = Event.new(
        event_type, workspace_id=store.workspace_id, at=clock.now(), device_id=DEVICE, **data
    )
    return store.events.append(event)


def hub_for(store: Store, clock: ManualClock) -> EventHub:
    def fetch(after: int, limit: int) -> list[SequencedEvent]:
        return [
            SequencedEvent(s.seq, s.event.to_dict())
            for s in store.events.query(after_seq=after, limit=limit)
        ]

    return EventHub(fetch, clock=clock, poll_interval=1.0)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_hub_starts_after_history_and_delivers_new_events(
    store: Store, clock: ManualClock
) -> None:
    add(store, clock, EventType.LOCK_LOCKED, method="manual")
    hub = hub_for(store, clock)
    await hub.start()
    try:
        sub = hub.subscribe()
        assert sub.queue.empty()
        seq = add(store, clock, EventType.LOCK_UNLOCKED, method="keycode")
        hub.notify()
        item = await asyncio.wait_for(sub.queue.get(), 1)
        assert item is not None
        assert (item.seq, item.event_type) == (seq, "lock.unlocked")
        # without a poke, the slow poll still finds events written elsewhere
        add(store, clock, EventType.LOCK_LOCKED, method="manual")
        await settle()
        assert sub.queue.empty()
        clock.advance(1.0)
        item = await asyncio.wait_for(sub.queue.get(), 1)
        assert item is not None
        assert item.event_type == "lock.locked"
    finally:
        await hub.aclose()


async def test_a_listener_that_falls_behind_is_dropped(store: Store, clock: ManualClock) -> None:
    hub = hub_for(store, clock)
    await hub.start()
    try:
        slow = hub.subscribe(maxsize=2)
        for _ in range(5):
            add(store, clock, EventType.LOCK_LOCKED, method="manual")
        assert await hub.poll() == 5
        assert slow.closed
        assert hub.subscriber_count == 0
        items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert items[-1] is None
    finally:
        await hub.aclose()


class FakeConnection:
    """An ASGI connection: collects what is sent, disconnects when told."""

    def __init__(self, path: str = "/events/stream", query: str = "", headers: Any = ()) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": query.encode(),
            "headers": [(b"authorization", f"Bearer {KEY}".encode()), *headers],
            "client": ("127.0.0.1", 5000),
        }
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def text(self) -> str:
        return b"".join(m.get("body", b"") for m in self.sent[1:]).decode()

    def events(self) -> list[tuple[int, str, dict[str, Any]]]:
        out = []
        for block in self.text.split("\n\n"):
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
            )
            if "data" in fields:
                out.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
        return out


@pytest.fixture
async def streaming(store: Store, clock: ManualClock) -> Any:
    hub = hub_for(store, clock)
    await hub.start()
    stream = EventStream(
        hub, Authenticator(lambda k: k == KEY, clock=clock), clock=clock, keepalive=10
    )
    yield hub, stream
    stream.closing.set()
    await hub.aclose()


async def run_until(conn: FakeConnection, check: Any) -> None:
    for _ in range(200):
        await asyncio.sleep(0)
        if check():
            return
    raise AssertionError("the stream did not get there")


async def test_stream_replays_after_last_event_id_then_goes_live(
    store: Store, clock: ManualClock, streaming: Any
) -> None:
    hub, stream = streaming
    first = add(store, clock, EventType.LOCK_LOCKED, method="manual")
    second = add(store, clock, EventType.LOCK_UNLOCKED, method="keycode")
    conn = FakeConnection(headers=[(b"last-event-id", str(first).encode())])
    task = asyncio.create_task(stream(conn.scope, conn.receive, conn.send))
    await run_until(conn, lambda: len(conn.events()) == 1)
    assert conn.status == 200
    assert conn.events()[0][:2] == (second, "lock.unlocked")
    third = add(store, clock, EventType.LOCK_LOCKED, method="manual")
    hub.notify()
    await run_until(conn, lambda: len(conn.events()) == 2)
    assert conn.events()[1][0] == third
    assert conn.events()[1][2]["device_id"] == DEVICE
    await settle()
    clock.advance(10)  # idle: a keepalive comment
    await run_until(conn, lambda: ": keepalive" in conn.text)
    conn.gone.set()
    await asyncio.wait_for(task, 1)
    assert stream.open_streams == 0
    assert hub.subscriber_count == 0


async def test_stream_filters_by_type_and_tails(
    store: Store, clock: ManualClock, streaming: Any
) -> None:
    hub, stream = streaming
    for _ in range(3):
        add(store, clock, EventType.LOCK_LOCKED, method="manual")
    add(store, clock, EventType.LOCK_UNLOCKED, method="keycode")
    await hub.poll()
    conn = FakeConnection(query="tail=10&event_types=lock.unlocked")
    task = asyncio.create_task(stream(conn.scope, conn.receive, conn.send))
    await run_until(conn, lambda: len(conn.events()) == 1)
    assert [e[1] for e in conn.events()] == ["lock.unlocked"]
    stream.closing.set()  # shutdown ends open streams
    await asyncio.wait_for(task, 1)


async def test_stream_catches_up_after_being_dropped(
    store: Store, clock: ManualClock, streaming: Any
) -> None:
    hub, stream = streaming
    conn = FakeConnection(query="after=0")
    task = asyncio.create_task(stream(conn.scope, conn.receive, conn.send))
    await run_until(conn, lambda: hub.subscriber_count == 1)
    for sub in list(hub._subscribers):  # as if it had fallen behind
        hub.unsubscribe(sub)
    seqs = [add(store, clock, EventType.LOCK_LOCKED, method="manual") for _ in range(3)]
    await run_until(conn, lambda: len(conn.events()) == 3)
    assert [e[0] for e in conn.events()] == seqs
    conn.gone.set()
    await asyncio.wait_for(task, 1)


async def test_stream_refuses_bad_keys_and_bad_cursors(streaming: Any) -> None:
    _, stream = streaming
    conn = FakeConnection()
    conn.scope["headers"] = [(b"authorization", b"Bearer seam_wrong")]
    await stream(conn.scope, conn.receive, conn.send)
    assert conn.status == 401
    conn = FakeConnection(query="after=abc")
    await stream(conn.scope, conn.receive, conn.send)
    assert conn.status == 400
    conn = FakeConnection()
    conn.scope["method"] = "POST"
    await stream(conn.scope, conn.receive, conn.send)
    assert conn.status == 405

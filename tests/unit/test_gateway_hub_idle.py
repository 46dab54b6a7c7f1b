"""With nobody listening the event hub skips new events without reading them; a listener
that comes later still gets everything after the point where it joined."""

from __future__ import annotations

import asyncio

from keyslot.gateway.eventhub import EventHub, SequencedEvent
from keyslot.model.events import Event, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.store import Store

DEVICE = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def add(store: Store, clock: ManualClock) -> int:
    event = Event.new(
        EventType.LOCK_LOCKED,
        workspace_id=store.workspace_id,
        at=clock.now(),
        device_id=DEVICE,
        method="manual",
    )
    return store.events.append(event)


async def test_unheard_events_are_skipped_unread(store: Store, clock: ManualClock) -> None:
    fetched: list[int] = []

    def fetch(after: int, limit: int) -> list[SequencedEvent]:
        fetched.append(after)
        return [
            SequencedEvent(s.seq, s.event.to_dict())
            for s in store.events.query(after_seq=after, limit=limit)
        ]

    hub = EventHub(fetch, clock=clock, latest=store.events.last_seq)
    add(store, clock)
    second = add(store, clock)
    fetched.clear()
    assert await hub.poll() == 0
    assert hub.last_seq == second
    assert fetched == []  # nothing was read
    sub = hub.subscribe()
    third = add(store, clock)
    assert await hub.poll() == 1
    item = await asyncio.wait_for(sub.queue.get(), 1)
    assert item is not None
    assert item.seq == third
    sub.close()

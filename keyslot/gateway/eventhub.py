"""Fans the store's events out to live listeners (event stream clients, webhook senders).

The store is the source of truth: every event has a sequence number there. The hub reads
what is new after the last number it saw, when poked (`notify`) and at a slow interval
(events may be written by another process, such as `keyslot codes`), and hands each
event to every subscriber. A listener that falls behind is dropped, and catches up from
the store with the last sequence number it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keyslot.protocol.clock import Clock

__all__ = ["EventFetcher", "EventHub", "SequencedEvent", "Subscription"]

log = logging.getLogger("keyslot.gateway.events")


@dataclass(frozen=True, slots=True)
class SequencedEvent:
    seq: int
    event: Mapping[str, Any]

    @property
    def event_type(self) -> str:
        return str(self.event.get("event_type", ""))


# (after_seq, limit) -> events with seq > after_seq, ascending, at most `limit`.
EventFetcher = Callable[[int, int], Sequence[SequencedEvent] | Awaitable[Sequence[SequencedEvent]]]

_BATCH = 500


class Subscription:
    """A listener's queue. `None` in the queue means the hub dropped or closed it."""

    def __init__(self, hub: EventHub, maxsize: int) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[SequencedEvent | None] = asyncio.Queue(maxsize)
        self.closed = False

    def _offer(self, item: SequencedEvent) -> bool:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while True:  # make room for the end marker
            try:
                self.queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                self.queue.get_nowait()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    def __init__(
        self,
        fetch: EventFetcher,
        *,
        clock: Clock,
        poll_interval: float = 1.0,
        latest: Callable[[], int] | None = None,
    ) -> None:
        self._fetch = fetch
        self._latest = latest  # the newest sequence number, read without the events
        self._clock = clock
        self._poll_interval = poll_interval
        self._subscribers: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_seq = 0

    async def fetch(self, after: int, limit: int = _BATCH) -> Sequence[SequencedEvent]:
        answer = self._fetch(after, limit)
        events = await answer if inspect.isawaitable(answer) else answer
        return list(events)

    async def start(self) -> None:
        """Begin after the newest event already stored: listeners replay the past themselves."""
        while batch := await self.fetch(self.last_seq):
            self.last_seq = batch[-1].seq
        self._task = asyncio.create_task(self._run(), name="keyslot-event-hub")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in list(self._subscribers):
            self.unsubscribe(sub)

    def notify(self) -> None:
        """Something was written: look for new events now."""
        self._wake.set()

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub._close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def _run(self) -> None:
        while True:
            sleeper = asyncio.ensure_future(self._clock.sleep(self._poll_interval))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
            self._wake.clear()
            try:
                await self.poll()
            except Exception:
                log.exception("reading new events failed; trying again")

    async def poll(self) -> int:
        """Deliver every event stored since the last poll; returns how many. With nobody
        listening the events are skipped unread (a listener catches up from the store)."""
        if not self._subscribers and self._latest is not None:
            self.last_seq = max(self.last_seq, self._latest())
            return 0
        delivered = 0
        while batch := await self.fetch(self.last_seq):
            for item in batch:
                self.last_seq = item.seq
                for sub in list(self._subscribers):
                    if not sub._offer(item):
                        log.info("an event listener fell behind; it will catch up from the store")
                        self.unsubscribe(sub)
                delivered += 1
            if len(batch) < _BATCH:
                break
        return delivered

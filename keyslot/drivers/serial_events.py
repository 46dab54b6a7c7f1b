"""Fan-out of a driver's lock events to every `events()` iterator, each with a bounded queue."""

from __future__ import annotations

import asyncio
import logging

from keyslot.protocol.slots import LockEvent

__all__ = ["EventHub", "EventStream"]

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


class EventStream:
    """One listener's events, in order; ends when the driver closes. A slow listener loses the
    oldest events rather than holding up the link."""

    def __init__(self, hub: EventHub, maxsize: int = QUEUE_SIZE) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[LockEvent | None] = asyncio.Queue(maxsize)
        self._ended = False
        self.dropped = 0  # events lost to a full queue (the reconciler checks what they hid)

    def push(self, event: LockEvent | None) -> None:
        if self._queue.full():
            dropped = self._queue.get_nowait()
            if dropped is None:  # keep the end marker; it is always last
                self._queue.put_nowait(None)
                return
            self.dropped += 1
            log.warning("an event listener is slow; dropped a %s event", dropped.kind.value)
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> LockEvent:
        if self._ended:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._ended = True
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """Stop listening (the driver keeps running)."""
        self._ended = True
        self._hub.unsubscribe(self)


class EventHub:
    def __init__(self) -> None:
        self._streams: list[EventStream] = []
        self._closed = False

    @property
    def listening(self) -> bool:
        return bool(self._streams)

    def subscribe(self) -> EventStream:
        stream = EventStream(self)
        if self._closed:
            stream.push(None)
        else:
            self._streams.append(stream)
        return stream

    def unsubscribe(self, stream: EventStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def publish(self, event: LockEvent) -> None:
        for stream in self._streams:
            stream.push(event)

    def close(self) -> None:
        self._closed = True
        for stream in self._streams:
            stream.push(None)
        self._streams.clear()

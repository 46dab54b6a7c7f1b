"""A reader's bounded queue of lock events, shared by the drivers that fan events out.

A slow reader must not hold up the lock: when its queue fills, the oldest event goes. The
stream counts what it dropped (`dropped`), so that its reader can tell that it missed events
and look for what they would have reported.
"""

from __future__ import annotations

import asyncio

from keyslot.protocol.slots import LockEvent

__all__ = ["BoundedEventStream"]


class BoundedEventStream:
    """One reader's events in order; the oldest is dropped (and counted) when the queue fills."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[LockEvent | None] = asyncio.Queue(maxsize)
        self.closed = False
        self.dropped = 0

    def push(self, event: LockEvent | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def _detach(self) -> None:
        """Stop the source feeding this stream; called once, just before the end marker."""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._detach()
            self.push(None)

    def __aiter__(self) -> BoundedEventStream:
        return self

    async def __anext__(self) -> LockEvent:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        self.close()

"""Group commit for API calls: the changes that requests ask for at the same moment run in one
store transaction, each in a savepoint of its own, and are answered after one commit and one
shared fsync.

A commit of a few small rows costs far more than the rows (SQLite writes every page the
transaction touched to the WAL: the table, each index, the event log); requests that arrive
together share it. Each call still runs alone in its savepoint: one that fails rolls back
only its own writes and gets its own error, exactly as if it had run by itself. Calls run
in arrival order, so a later call sees what an earlier one wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["BatchStats", "CallBatcher", "TransactionalStore"]

log = logging.getLogger("keyslot.gateway")

T = TypeVar("T")
_Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]


class TransactionalStore(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    async def durable(self) -> None: ...


@dataclass(slots=True)
class BatchStats:
    commits: int = 0
    calls: int = 0


class CallBatcher:
    """Runs synchronous store-writing calls in shared transactions, from one task it owns."""

    def __init__(self, store: TransactionalStore, *, max_batch: int = 64) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: list[_Job] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = BatchStats()

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` in the next shared transaction; return once it is committed and on disk."""
        if self._closing:
            raise RuntimeError("the gateway is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((call, future))
        if self._task is None or self._task.done():  # the drain ends once the queue is empty
            self._task = loop.create_task(self._drain(), name="api batcher")
        return await future

    async def aclose(self) -> None:
        """Refuse new calls and let the queued ones finish."""
        self._closing = True
        if self._task is not None:
            await self._task
            self._task = None

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the calls of this moment join in
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[_Job]) -> None:
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self._store.transaction():
                for call, future in batch:
                    try:
                        with self._store.transaction():
                            results.append((future, call(), None))
                    except Exception as exc:  # noqa: BLE001 - the call's request answers it
                        results.append((future, None, exc))
            await self._store.durable()
        except Exception as exc:  # the commit or the fsync failed: so did every call of it
            log.exception("a store commit of %d API calls failed", len(batch))
            results = [(future, None, exc) for _, future in batch]
        else:
            self.stats.commits += 1
            self.stats.calls += len(batch)
        for future, value, error in results:
            if future.done():  # its request went away; the change stands all the same
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)

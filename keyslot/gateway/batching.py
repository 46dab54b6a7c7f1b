"""Group commit for API calls: the changes that requests ask for at the same moment run in one
store transaction, each in a savepoint of its own, and are answered after one commit and one
shared fsync.

A commit of a few small rows costs far more than the rows (SQLite writes every page the
transaction touched to the WAL: the table, each index, the event log); requests that arrive
together share it. Each call still runs alone in its savepoint: one that fails rolls back
only its own writes and gets its own error, exactly as if it had run by itself. Calls run
in arrival order, so a later call sees what an earlier one wrote. A batch commits while the
previous batch's fsync runs; its answers wait for the fsync that covers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from keyslot.store.durability import Answer, answer_when_durable

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
        self._deliveries: set[asyncio.Task[None]] = set()
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
        """Refuse new calls and let the queued ones finish (and be answered)."""
        self._closing = True
        if self._task is not None:
            await self._task
            self._task = None
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the calls of this moment join in
        loop = asyncio.get_running_loop()
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            results = self._commit(batch)
            del batch
            # The answers wait for the fsync in a task of their own: the next batch commits
            # while the disk syncs this one (and shares the barrier's next round).
            task = loop.create_task(self._deliver(results), name="api batch answers")
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            await asyncio.sleep(0)  # calls that came meanwhile join the next batch

    def _commit(self, batch: list[_Job]) -> list[Answer] | BaseException:
        """The batch in one transaction, each call in a savepoint; the calls' results, or
        the error of the commit itself (which every call of the batch then gets)."""
        results: list[Answer] = []
        try:
            with self._store.transaction():
                for call, future in batch:
                    try:
                        with self._store.transaction():
                            results.append((future, call(), None))
                    except Exception as exc:  # noqa: BLE001 - the call's request answers it
                        results.append((future, None, exc))
        except Exception as exc:  # the commit failed: so did every call of it
            log.exception("a store commit of %d API calls failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return exc
        self.stats.commits += 1
        self.stats.calls += len(batch)
        return results

    async def _deliver(self, results: list[Answer] | BaseException) -> None:
        """Answer each call once its commit is on disk (or with the disk's refusal)."""
        if isinstance(results, BaseException):
            return  # already told
        await answer_when_durable(self._store.durable, results, "API calls")

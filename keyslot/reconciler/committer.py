"""Group commit: store writes from every lock's worker that arrive together share one
transaction, so hundreds of outcomes cost one fsync instead of hundreds.

A worker awaits its job until the transaction holding it has committed and is on disk (the
store's durability barrier, one fsync shared with whatever else committed meanwhile): an
outcome is durable before the worker sends the next operation to its lock. Each job runs in
its own savepoint, so one failing job fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from keyslot.store import Store
from keyslot.store.durability import Answer, answer_when_durable

__all__ = ["CommitStats", "Committer", "CommitterClosed"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class CommitterClosed(RuntimeError):
    """A job was handed to a committer that has shut down."""


@dataclass(slots=True)
class CommitStats:
    transactions: int = 0
    jobs: int = 0
    failed_jobs: int = 0


class Committer:
    """Runs store jobs (plain functions) in shared transactions, from one task it owns."""

    def __init__(self, store: Store, *, max_batch: int = 1000) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.stats = CommitStats()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="committer")

    async def run(self, job: Callable[[], T]) -> T:
        """Run `job` inside a store transaction; returns once that transaction committed."""
        if self._closing or self._task is None:
            raise CommitterClosed("the reconciler's committer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._ready.set()
        return await future

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        # A batch's answers wait for the fsync that covers it in a task of their own, so
        # the next batch commits while the disk syncs the previous one (and both share
        # the next round of the store's durability barrier).
        deliveries: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                await asyncio.sleep(0)  # let the other workers' jobs of this moment join in
                while self._queue:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                    results = self._commit(batch)
                    del batch  # its jobs hold whole passes' worth of records: let them go
                    if results is not None:
                        task = asyncio.get_running_loop().create_task(self._deliver(results))
                        deliveries.add(task)
                        task.add_done_callback(deliveries.discard)
                    del results
                if self._closing:
                    return
        finally:
            if deliveries:
                await asyncio.gather(*deliveries, return_exceptions=True)

    def _commit(
        self, batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]]
    ) -> list[Answer] | None:
        """One transaction for the batch; if a job fails, the batch is rolled back and run
        again with each job in a savepoint of its own, so the failure stays with its job.
        (A job may run twice: a rolled-back run leaves nothing behind but a stale revision
        in its worker's cache, which the next write re-reads.) None: the commit failed and
        every job was told."""
        results: list[Answer] | None
        try:
            with self._store.transaction():
                results = [(future, job(), None) for job, future in batch]
        except Exception:  # noqa: BLE001 - find the failing job below, one savepoint each
            results = self._isolated(batch)
        if results is None:
            return None
        self.stats.transactions += 1
        self.stats.jobs += len(batch)
        return results

    async def _deliver(self, results: list[Answer]) -> None:
        """Hand each job its result once the commit is on disk (or the disk's refusal); a
        job whose worker was cancelled committed all the same."""
        failed = await answer_when_durable(self._store.durable, results, "reconciler jobs")
        self.stats.failed_jobs += failed

    def _isolated(
        self, batch: list[tuple[Callable[[], Any], asyncio.Future[Any]]]
    ) -> list[Answer] | None:
        results: list[Answer] = []
        try:
            with self._store.transaction():
                for job, future in batch:
                    try:
                        with self._store.transaction():
                            results.append((future, job(), None))
                    except Exception as exc:  # noqa: BLE001 - the job's owner gets it
                        results.append((future, None, exc))
        except Exception as exc:  # the commit itself failed, so every job of it did
            log.exception("a store commit of %d reconciler jobs failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            self.stats.failed_jobs += len(batch)
            return None
        return results

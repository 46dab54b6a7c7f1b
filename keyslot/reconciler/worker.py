"""One lock's worker: a serial queue of passes. A pass reads the lock (skipping the read when
its checksum is unchanged), plans, commits the findings, then runs the operations one at a
time, each preceded by its committed intent and followed by its committed outcome.

The lock's events are followed while it is connected; the first pass on a new connection,
or after events were lost on this one, looks for what changed unheard
(`keyslot.reconciler.unheard`). A stream that fails is replaced with a new connection.

Failures back off with jitter on the reconciler's clock; a lock that keeps failing is marked
offline and suspended. Stopping lets the operation in flight finish and commit; no intent is
left committed for an operation that was not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from keyslot.protocol.clock import wait_for
from keyslot.protocol.slots import (
    FinalError,
    KeyslotError,
    LockEvent,
    LockInfo,
    LockTimeout,
    NoFreeSlot,
    NotSupported,
    RetryableError,
    Slot,
    SlotNotFound,
    SlotProgrammer,
)
from keyslot.reconciler.backup_pool import keep_pool
from keyslot.reconciler.jobs import Book, HealthMarks, record_health, slot_codes
from keyslot.reconciler.ledger import Ledger
from keyslot.reconciler.memo import PassMemo
from keyslot.reconciler.pacing import Pacing
from keyslot.reconciler.planner import Operation, Plan, plan
from keyslot.reconciler.policy import Backoff
from keyslot.reconciler.settings import Shared
from keyslot.reconciler.state import Fingerprint, memo
from keyslot.reconciler.timing import next_boundary
from keyslot.reconciler.unheard import Heard
from keyslot.store import Desired, DeviceRecord, StoreError

__all__ = ["DeviceWorker", "WorkerStats"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class WorkerStats:
    passes: int = 0  # passes started (a pass's serial number)
    completed: int = 0  # passes that ran to their end
    last_completed: int = 0  # serial of the last pass that ran to its end
    reads: int = 0
    checksum_hits: int = 0
    writes: int = 0
    clears: int = 0
    failures: int = 0
    refusals: int = 0
    code_rows_written: int = 0


class DeviceWorker:
    """Keeps one lock in the state its codes ask for. Owned by the `Reconciler`."""

    def __init__(self, device_id: str, shared: Shared) -> None:
        self.device_id = device_id
        self._shared = shared
        self._task: asyncio.Task[None] | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._lock: SlotProgrammer | None = None
        self._device: DeviceRecord | None = None
        self.info: LockInfo | None = None
        self._observed: list[Slot] | None = None
        self._table_checksum: int | None = None  # of `_observed`; see `_checksum`
        self._heard = Heard()  # the last checksum read while events were followed
        self._invalidations = 0  # a read that raced one of them is used once, not kept
        self._capacity: tuple[int, float] | None = None  # (codes it holds at most, until)
        self.backoff = Backoff(shared.settings.retry, shared.rng)
        self._pacing = Pacing(shared, self.backoff)
        self._fingerprint: Fingerprint = shared.fingerprint
        self._memo = PassMemo()  # per-code work that unchanged codes need not redo
        self._health_marks = HealthMarks()  # what the last failure noted on the codes
        self.stats = WorkerStats()
        self.idle = asyncio.Event()  # set while no pass is running (tests wait on it)
        self.idle.set()
        self.handling = 0  # lock events being handled

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._main(), name=f"lock {self.device_id}")
        self.wake()

    def wake(self) -> None:
        """There is work (a code changed, a keypad event): run a pass soon."""
        self._pacing.wake()

    def invalidate(self) -> None:
        """Forget the cached slot table: the next pass reads the lock in full."""
        self._observed = None
        self._checksum = None
        self._invalidations += 1

    def resume(self) -> None:
        """The lock says it is back: end a suspension now."""
        self.backoff.retry_at = None
        self.invalidate()
        self.wake()

    async def stop(self) -> None:
        """Finish the operation in flight (and commit it), then close the lock."""
        self._pacing.stop()
        if self._task is not None:
            await self._task

    @property
    def shared(self) -> Shared:
        return self._shared

    @property
    def heard(self) -> Heard:
        return self._heard

    @property
    def _stopping(self) -> bool:
        return self._pacing.stopping

    @property
    def _checksum(self) -> int | None:
        """The checksum of the cached slot table (None: unknown)."""
        return self._table_checksum

    @_checksum.setter
    def _checksum(self, value: int | None) -> None:
        self._table_checksum = value
        if value is not None:  # read on the open connection: heard, unless events were lost
            self._heard.hear(value, self.stats.writes + self.stats.clears)

    @property
    def busy(self) -> bool:
        """A pass is due or running, or a lock event is being handled."""
        return self._pacing.busy(not self.idle.is_set() or self.handling > 0)

    async def _main(self) -> None:
        pacing = self._pacing
        try:
            while not pacing.stopping:
                if not await pacing.until_due():
                    break
                pacing.begin_pass()
                self.idle.clear()
                try:
                    await self._attempt()
                finally:
                    self.idle.set()
        finally:
            await self._disconnect()

    # -- one attempt -------------------------------------------------------------------

    async def _attempt(self) -> None:
        serial = self.stats.passes + 1
        try:
            await self._pass()
        except KeyslotError as exc:
            if isinstance(exc, StoreError):
                log.exception("lock %s: the store failed: %s", self.device_id, exc.message)
            await self._failed(exc)
        except Exception:  # a bug must not end the worker: log it, back off, go on
            log.exception("lock %s: the pass failed", self.device_id)
            await self._failed(None)
        else:
            if self.backoff.succeed():
                await self._commit_health(online=True)
            self.stats.completed += 1
            self.stats.last_completed = serial

    async def _failed(self, exc: KeyslotError | None) -> None:
        self.stats.failures += 1
        clock = self._shared.clock
        wait = self.backoff.fail(clock.monotonic())
        reason = "an internal error" if exc is None else exc.message
        log.warning(
            "lock %s: %s (failure %d in a row; next try in %.1f s)",
            self.device_id,
            reason,
            self.backoff.failures,
            wait,
        )
        self.invalidate()
        self._pacing.wake()  # the work is still there: retry once the backoff is over
        if self.backoff.failures >= self._shared.settings.retry.reconnect_after:
            await self._disconnect()
        if self.backoff.warn:
            try:
                await self._commit_health(online=False, retry_in=wait)
            except asyncio.CancelledError:
                raise
            except Exception:  # the health note is best effort; the retry still happens
                log.exception("lock %s: could not record its failure", self.device_id)

    async def _commit_health(self, *, online: bool, retry_in: float = 0.0) -> None:
        shared = self._shared
        now = shared.clock.now()
        offline = not online and self.backoff.offline
        until = now + timedelta(seconds=retry_in) if offline else None
        ledger, marks = self.ledger(now), self._health_marks
        await shared.committer.run(
            lambda: record_health(shared.store, ledger, online=online, until=until, marks=marks)
        )

    # -- the lock ----------------------------------------------------------------------

    async def _call(self, aw: Awaitable[T]) -> T:
        """One operation on the lock, bounded by the operation timeout on the clock."""
        timeout = self._shared.settings.op_timeout
        try:
            return await wait_for(self._shared.clock, aw, timeout)
        except TimeoutError:
            raise LockTimeout(f"the lock did not answer within {timeout:g} s") from None

    async def _connect(self) -> tuple[SlotProgrammer, LockInfo]:
        heard = self._heard
        if heard.broken:  # its event stream failed: a new connection brings a new one
            await self._disconnect()
        if self._lock is not None and self.info is not None:
            lock, info = self._lock, self.info
        else:
            lock, info = await self._open()
        heard.dropped()  # events dropped so far count as unheard
        if heard.unheard:  # a new connection, or events lost: see keyslot.reconciler.unheard
            if info.checksum and not info.codes_readable:
                await heard.catch_up(self, await self._call(lock.slots_checksum()))
            else:
                heard.unheard = False
        return lock, info

    async def _open(self) -> tuple[SlotProgrammer, LockInfo]:
        shared = self._shared
        device = shared.store.devices.require(self.device_id)
        lock = await self._call(shared.opener(device))
        self._device = device
        try:
            info = await self._call(lock.info())
            if info.native_schedules:
                with contextlib.suppress(NotSupported):
                    await self._call(lock.set_clock(shared.clock.now()))
        except BaseException:
            await lock.aclose()
            raise
        self._lock, self.info = lock, info
        events = lock.events()  # before anything is read: every change from now on is heard
        self._heard.listen(events, shared.clock.monotonic())
        self._events_task = asyncio.get_running_loop().create_task(
            self._follow_events(events), name=f"lock {self.device_id} events"
        )
        if device.lock_info != info or not device.online:

            def job() -> None:
                current = shared.store.devices.get(self.device_id)
                if current is not None:
                    shared.store.devices.put(replace(current, lock_info=info, online=True))

            await shared.committer.run(job)
        return lock, info

    async def _disconnect(self) -> None:
        lock, task = self._lock, self._events_task
        self._lock = self._events_task = None
        self.invalidate()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if lock is not None:
            try:
                await self._call(lock.aclose())
            except KeyslotError as exc:
                log.info("lock %s: closing it failed: %s", self.device_id, exc.message)

    async def _follow_events(self, events: AsyncIterator[LockEvent]) -> None:
        from keyslot.reconciler.keypad import follow

        await follow(self, events)

    async def _observe(self, lock: SlotProgrammer, info: LockInfo) -> tuple[list[Slot], bool]:
        """The slot table, and whether it was read in full just now."""
        checksum: int | None = None
        invalidations = self._invalidations
        if info.checksum:
            checksum = await self._call(lock.slots_checksum())
            if self._observed is not None and checksum is not None and checksum == self._checksum:
                self.stats.checksum_hits += 1
                return self._observed, False
        self.stats.reads += 1
        table = await self._call(lock.read_slots())
        # Only occupied slots are kept: an absent index is an empty slot (planner, dashboard).
        observed = [s for s in table if s.occupied]
        if self._invalidations == invalidations:  # else the lock changed while it was read
            self._observed = observed
            self._checksum = checksum
        return observed, True

    def ledger(self, now: datetime) -> Ledger:
        shared = self._shared
        info = self.info or LockInfo(model="", vendor="", slot_count=0)
        return Ledger(
            self.device_id,
            shared.workspace_id,
            info,
            shared.settings.timing,
            self._fingerprint,
            now,
        )

    # -- a pass ------------------------------------------------------------------------

    async def _pass(self) -> None:
        shared = self._shared
        self.stats.passes += 1
        self._fingerprint = memo(shared.fingerprint)  # dropped with the pass
        lock, info = await self._connect()
        store = shared.store
        records = {r.access_code_id: r for r in slot_codes(store, self.device_id)}
        unmanaged = {u.access_code_id: u for u in store.unmanaged.for_device(self.device_id)}
        pool = await keep_pool(  # backups first, so this pass programs them too
            shared,
            self.device_id,
            info,
            records,
            unmanaged=unmanaged.values(),
            fingerprint=self._fingerprint,
        )
        self._memo.keep_only(records)
        self._pacing.codes = len(records)
        book = Book(
            store,
            self.device_id,
            records,
            unmanaged,
            shared.settings.persist_observed,
            memo=self._memo,
        )
        observed, fresh = await self._observe(lock, info)
        now = shared.clock.now()
        specs = [self._memo.spec(r, self._fingerprint) for r in records.values()]
        removals = {
            u.slot: u.access_code_id
            for u in unmanaged.values()
            if u.desired is Desired.ABSENT and u.slot is not None
        }
        result = plan(
            specs,
            observed,
            info,
            now,
            fingerprint=self._fingerprint,
            timing=shared.settings.timing,
            capacity=self._current_capacity(),
            remove_unmanaged=removals,
        )
        checksum = self._checksum

        def findings_job() -> None:
            ledger = self.ledger(now)
            book.findings(result, ledger)
            if fresh:
                book.sync_unmanaged(result.unmanaged, ledger)
                if not result.operations:
                    book.observed_table(observed, ledger, checksum)
            book.finish_deleted(ledger, keep=(op.access_code_id for op in result.operations))

        await shared.committer.run(findings_job)
        await self._operate(lock, result, book)
        if result.operations and info.checksum:
            await self._read_checksum(lock)
        # From the plan's moment: a boundary passed during this pass is still due.
        self._pacing.next = next_boundary(specs, now, info, shared.settings.timing)
        refresh_at = shared.clock.now()
        final_checksum = self._checksum
        table = list(self._observed) if result.operations and self._observed else None
        if info.checksum and final_checksum is None:
            table = None  # the stored table and its checksum stay as last read together

        def refresh_job() -> None:
            ledger = self.ledger(refresh_at)
            book.refresh(ledger)
            if pool is not None:
                pool.report(book, ledger)
            if table is not None:  # what the lock holds after this pass's operations
                book.observed_table(table, ledger, final_checksum)

        await shared.committer.run(refresh_job)
        self.stats.code_rows_written += book.writes

    async def _read_checksum(self, lock: SlotProgrammer) -> None:
        """The checksum after the pass's operations. When stopping it is read all the same
        (the next start compares with it, `keyslot.reconciler.unheard`), but a lock error
        then only leaves it unknown."""
        try:
            self._checksum = await self._call(lock.slots_checksum())
        except KeyslotError as exc:
            if not self._stopping:
                raise
            log.info("lock %s: no checksum read before stopping: %s", self.device_id, exc.message)

    def _current_capacity(self) -> int | None:
        if self._capacity is None:
            return None
        limit, until = self._capacity
        if self._shared.clock.monotonic() >= until:
            self._capacity = None
            return None
        return limit

    async def _operate(self, lock: SlotProgrammer, result: Plan, book: Book) -> None:
        """Run the plan's operations one at a time; each outcome commits before the next,
        with the next one's intent. Once stopping, no intent is committed: an operation
        whose intent is committed is sent."""
        ops = list(result.operations)
        pending: Operation | None = None
        for n, op in enumerate(ops):
            if pending is not op:
                if self._stopping:
                    return
                if not await self._commit_intent(book, op):
                    continue
            cap = self._shared.transport_cap(self._device.transport if self._device else "")
            try:
                async with cap:
                    if op.content is None:
                        with contextlib.suppress(SlotNotFound):  # nothing to clear there
                            await self._call(lock.clear_slot(op.index))
                        self.stats.clears += 1
                        landed: Slot = Slot(index=op.index)
                    else:
                        landed = await self._call(lock.write_slot(op.index, op.content.entry()))
                        self.stats.writes += 1
            except RetryableError:
                raise  # the intent stays committed; the next pass finds out what landed
            except FinalError as exc:
                self.stats.refusals += 1
                pending = await self._commit_refusal(book, op, exc, self._after(ops, n))
                continue
            self._remember(landed)
            pending = await self._commit_outcome(book, op, landed, self._after(ops, n))

    def _after(self, ops: list[Operation], n: int) -> Operation | None:
        """The operation whose intent commits with the outcome of `ops[n]`."""
        return None if self._stopping or n + 1 >= len(ops) else ops[n + 1]

    async def _commit_intent(self, book: Book, op: Operation) -> bool:
        """Reserve the slot before sending `op`; False when its code is gone meanwhile."""
        at = self._shared.clock.now()
        return await self._shared.committer.run(lambda: book.reserve(self.ledger(at), op))

    async def _commit_outcome(
        self, book: Book, op: Operation, landed: Slot, nxt: Operation | None
    ) -> Operation | None:
        at = self._shared.clock.now()
        return await self._shared.committer.run(
            lambda: book.landed(self.ledger(at), op, landed, nxt)
        )

    async def _commit_refusal(
        self, book: Book, op: Operation, exc: FinalError, nxt: Operation | None
    ) -> Operation | None:
        at = self._shared.clock.now()
        if isinstance(exc, NoFreeSlot) and self._observed is not None:
            until = self._shared.clock.monotonic() + self._shared.settings.capacity_ttl
            self._capacity = (len(self._observed), until)  # it holds no more than it has
        log.info("lock %s refused slot %d: %s", self.device_id, op.index, exc.message)
        return await self._shared.committer.run(lambda: book.refused(self.ledger(at), op, exc, nxt))

    def _remember(self, landed: Slot) -> None:
        if self._observed is None:
            return
        kept = [s for s in self._observed if s.index != landed.index]
        if landed.occupied:
            kept.append(landed)
        self._observed = sorted(kept, key=lambda s: s.index)
        self._checksum = None

"""The reconciler: one worker per lock, all locks in parallel, one group committer.

`wake(device_id)` is what the service calls after committing a change (from any thread). The
reconciler never opens a lock itself: the caller passes an `opener` (normally built on
`keyslot.drivers.open_lock`), so it stays ignorant of transports.
"""

from __future__ import annotations

import asyncio
import logging
import random
from types import TracebackType

from keyslot.protocol.clock import Clock
from keyslot.reconciler.committer import Committer
from keyslot.reconciler.settings import Opener, Settings, Shared
from keyslot.reconciler.worker import DeviceWorker
from keyslot.store import Store

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)


class Reconciler:
    """Keeps every lock of the store in the state its access codes ask for."""

    def __init__(
        self,
        store: Store,
        *,
        opener: Opener,
        clock: Clock | None = None,
        settings: Settings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or store.clock
        self.settings = settings or Settings()
        self._opener = opener
        self._rng = rng or random.Random()  # jitter only, never codes
        self._workers: dict[str, DeviceWorker] = {}
        self._shared: Shared | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the committer and a worker for every lock in the store."""
        if self._shared is not None:
            return
        self._loop = asyncio.get_running_loop()
        committer = Committer(self.store)
        committer.start()
        self._shared = Shared(
            store=self.store,
            clock=self.clock,
            opener=self._opener,
            settings=self.settings,
            committer=committer,
            rng=self._rng,
            workspace_id=self.store.workspace_id,
        )
        for device in self.store.devices.all():
            self._ensure(device.device_id)

    async def stop(self) -> None:
        """Let every operation in flight finish and commit, close the locks, then stop."""
        self._stopped = True
        workers = list(self._workers.values())
        self._workers.clear()
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._shared is not None:
            await self._shared.committer.close()

    async def __aenter__(self) -> Reconciler:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- work --------------------------------------------------------------------------

    def wake(self, device_id: str) -> None:
        """A device's desired state changed (or the device was added or removed)."""
        loop = self._loop
        if loop is None or self._stopped:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake(device_id)
        else:  # another thread, or outside the loop: hand it over
            loop.call_soon_threadsafe(self._wake, device_id)

    def wake_all(self) -> None:
        for device_id in list(self._workers):
            self.wake(device_id)

    def _wake(self, device_id: str) -> None:
        if self._stopped:
            return
        if not self.store.devices.exists(device_id):
            worker = self._workers.pop(device_id, None)
            if worker is not None:  # the device was removed: let its worker go
                task = asyncio.get_running_loop().create_task(worker.stop())
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
            return
        self._ensure(device_id).wake()

    def _ensure(self, device_id: str) -> DeviceWorker:
        worker = self._workers.get(device_id)
        if worker is None:
            if self._shared is None:
                raise RuntimeError("start the reconciler first")
            worker = self._workers[device_id] = DeviceWorker(device_id, self._shared)
            worker.start()
        return worker

    # -- looking in --------------------------------------------------------------------

    def worker(self, device_id: str) -> DeviceWorker | None:
        return self._workers.get(device_id)

    @property
    def workers(self) -> list[DeviceWorker]:
        return list(self._workers.values())

    @property
    def committer(self) -> Committer:
        if self._shared is None:
            raise RuntimeError("the reconciler has not started")
        return self._shared.committer

    async def until_idle(self, *, rounds: int = 10000) -> bool:
        """Yield to the loop until no worker has a pass due or running (a backoff not yet
        over counts as idle). False if that did not happen within `rounds` turns."""
        for _ in range(rounds):
            if not any(w.busy for w in self._workers.values()):
                # let a pass that was just woken get going before calling it quiet
                await asyncio.sleep(0)
                if not any(w.busy for w in self._workers.values()):
                    return True
            await asyncio.sleep(0)
        return False

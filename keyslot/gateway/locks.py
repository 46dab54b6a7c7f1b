"""The locks behind the gateway: the reconciler that programs them, and their keypads.

The reconciler drives every device of the store through `keyslot.drivers.open_lock`, with
the store as pairing-key store and a concurrency cap per transport; the service wakes it
after each committed change. Stopping waits for the operation in flight on each lock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from keyslot.protocol.clock import Clock

__all__ = ["LockRuntime"]

log = logging.getLogger("keyslot.gateway.locks")

# A lock whose codes keep changing (a burst of API calls) is planned at most this often, its
# changes together; far below what a lock operation takes, so a code is not set later. A
# pass costs about 10 us per code of its lock: a lock with more than 200 codes waits a
# millisecond per code (0.5 s with 500), which keeps its passes near 1 % of one core.
PASS_INTERVAL = 0.2
PASS_INTERVAL_PER_CODE = 0.001


class LockRuntime:
    def __init__(
        self, service: Any, *, clock: Clock, transport_caps: Mapping[str, int] | None = None
    ) -> None:
        self.service = service
        self.clock = clock
        self.transport_caps = dict(transport_caps or {})
        self.reconciler: Any = None

    async def start(self) -> None:
        from keyslot.drivers import open_lock
        from keyslot.reconciler import Reconciler, Settings

        store = self.service.store

        async def opener(device: Any) -> Any:
            return await open_lock(device.lock_url, clock=self.clock, keys=store)

        # offline PINs need a secret agreed with the lock, before the reconciler holds it
        from keyslot.service_offline_pairing import pair_offline_locks

        await pair_offline_locks(store, clock=self.clock, opener=opener)
        settings = Settings(
            transport_limits=self.transport_caps,
            pass_interval=PASS_INTERVAL,
            pass_interval_per_code=PASS_INTERVAL_PER_CODE,
        )
        self.reconciler = Reconciler(store, opener=opener, clock=self.clock, settings=settings)
        await self.reconciler.start()
        self.service.set_wake(self.reconciler.wake)

    async def stop(self) -> None:
        self.service.set_wake(None)
        if self.reconciler is not None:
            await self.reconciler.stop()
            self.reconciler = None

    def keypad_finder(self, simulators: Any) -> Any:
        """device_id -> the firmware of a simulated lock (in-process or on a front-end)."""

        def find(device_id: str) -> Any:
            record = self.service.store.devices.get(device_id)
            if record is None:
                return None
            firmware = simulators.firmware_for_url(record.lock_url)
            if firmware is not None:
                return firmware
            from keyslot.drivers import parse_lock_url

            url = parse_lock_url(record.lock_url)
            lock_id = url.option("id")
            if url.scheme != "sim" or not lock_id:
                return None
            from keyslot.drivers.sim import SimLockNotFound, get_firmware

            try:
                return get_firmware(lock_id)
            except SimLockNotFound:
                return None

        return find

"""What every lock's worker shares: settings, the store, the clock, the lock opener, the
group committer and one concurrency cap per transport (a Z-Wave network is one radio)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from keyslot.protocol.clock import Clock
from keyslot.protocol.slots import SlotProgrammer
from keyslot.reconciler.committer import Committer
from keyslot.reconciler.policy import RetryPolicy
from keyslot.reconciler.timing import Timing
from keyslot.store import DeviceRecord, Store

__all__ = ["DEFAULT_TRANSPORT_LIMITS", "Opener", "Settings", "Shared"]

# Opens the lock of a device; the caller decides how (normally keyslot.drivers.open_lock).
Opener = Callable[[DeviceRecord], Awaitable[SlotProgrammer]]

# Operations in flight at once per transport: one radio for Z-Wave, a BLE adapter keeps few
# connections; serial ports and simulated locks are independent of each other.
DEFAULT_TRANSPORT_LIMITS: Mapping[str, int] = {
    "zwave+mqtt": 1,
    "zwave+mqtts": 1,
    "ble": 2,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Seconds are measured on the reconciler's clock.

    `audit_interval`: a quiet lock is read again this often (changes made while the link was
    down). `op_timeout`: a lock operation that takes longer counts as a timeout.
    `capacity_ttl`: how long a lock's "table full" answer is believed before trying again.
    `transport_limits` override `DEFAULT_TRANSPORT_LIMITS` per transport scheme.
    `pass_interval`: a lock whose codes keep changing starts a pass at most this often; the
    changes made meanwhile are planned together (a pass reads and plans every code of its
    lock, so one pass per change costs a busy gateway most of its time). The first change
    after a quiet spell is planned at once. `pass_interval_per_code` lengthens that wait
    by this much for each code the lock had at its last pass: a pass costs time in
    proportion to the lock's codes, so a long list that keeps changing is planned less
    often, in larger batches.
    """

    timing: Timing = field(default_factory=Timing)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    audit_interval: float = 900.0
    op_timeout: float = 30.0
    capacity_ttl: float = 300.0
    transport_limits: Mapping[str, int] = field(default_factory=dict)
    default_transport_limit: int = 512
    persist_observed: bool = True  # keep the last read slot table in the store
    pass_interval: float = 0.0
    pass_interval_per_code: float = 0.0


@dataclass(slots=True)
class Shared:
    store: Store
    clock: Clock
    opener: Opener
    settings: Settings
    committer: Committer
    rng: random.Random
    workspace_id: str
    _caps: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def transport_cap(self, transport: str) -> asyncio.Semaphore:
        cap = self._caps.get(transport)
        if cap is None:
            limits = {**DEFAULT_TRANSPORT_LIMITS, **self.settings.transport_limits}
            limit = limits.get(transport, self.settings.default_transport_limit)
            cap = self._caps[transport] = asyncio.Semaphore(limit)
        return cap

    def fingerprint(self, code: str) -> str:
        return self.store.fingerprint(code)

"""The in-process driver for simulated locks: `sim://<profile>?id=&state=&latency=&seed=&faults=`.

It holds a `LockFirmware` in the same process (the one deliberate exception to "drivers and
the simulator meet only on the wire"), for the embedded demo and fast tests. Faults from the
firmware's `FaultPlan` are applied here as a wire would show them: a lost request or reply
is a `LockTimeout`, a failure or an offline lock a `LockUnavailable`.

URL options: `id` names the lock (opening the same id again in this process reaches the same
firmware, see `get_firmware`); without `id` every open makes a new private lock. `state` is a
file the lock saves itself to (encrypted) and resumes from; without `id` the saved lock keeps
the id it was saved with (two opens of one state file should share an `id`, or both write
it). `latency` (seconds of the clock) is added to every operation, `timeout` is how long a
lost answer keeps the caller waiting, `seed` and `faults`
(`lose:0.1,lose_reply:0.05,fail:0.1,full:0.02,delay:0.2@1.5`) set up fault injection.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from keyslot.drivers import LockUrl, LockUrlError, PairingKeyStore, float_option
from keyslot.drivers.event_queue import BoundedEventStream
from keyslot.protocol.clock import Clock
from keyslot.protocol.slots import (
    FinalError,
    KeyslotError,
    LockInfo,
    LockTimeout,
    LockUnavailable,
    Slot,
    SlotEntry,
    SlotProgrammerBase,
)
from keyslot.simulator.faults import FaultPlan
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile

__all__ = [
    "SimLock",
    "SimLockNotFound",
    "forget_firmware",
    "get_firmware",
    "open_url",
    "registered_locks",
]

T = TypeVar("T")

EVENT_QUEUE_SIZE = 256

_REGISTRY: dict[str, LockFirmware] = {}
_anonymous = itertools.count(1)


class SimLockNotFound(FinalError):
    """No simulated lock with that id was opened in this process."""

    code = "sim_lock_not_found"


def get_firmware(lock_id: str) -> LockFirmware:
    """The firmware of the simulated lock opened as `sim://…?id=<lock_id>` in this process."""
    try:
        return _REGISTRY[lock_id]
    except KeyError:
        raise SimLockNotFound(f"no simulated lock {lock_id!r} is open in this process") from None


def registered_locks() -> dict[str, LockFirmware]:
    return dict(_REGISTRY)


def forget_firmware(lock_id: str) -> None:
    """Drop a simulated lock from the registry (its state file, if any, stays)."""
    _REGISTRY.pop(lock_id, None)


class _EventStream(BoundedEventStream):
    """Events of one firmware for one reader: a bounded queue fed by `subscribe`.

    When a slow reader lets the queue fill, the oldest event is dropped and counted.
    """

    def __init__(self, firmware: LockFirmware, maxsize: int) -> None:
        super().__init__(maxsize)
        self._unsubscribe = firmware.subscribe(self.push)

    def _detach(self) -> None:
        self._unsubscribe()


class SimLock(SlotProgrammerBase):
    """A `SlotProgrammer` over an in-process `LockFirmware`."""

    def __init__(
        self,
        firmware: LockFirmware,
        *,
        clock: Clock,
        latency: float = 0.0,
        timeout: float = 0.0,
        url: str = "",
    ) -> None:
        self.firmware = firmware
        self.url = url
        self._clock = clock
        self._latency = latency
        self._timeout = timeout
        self._closed = False
        self._streams: list[_EventStream] = []

    def __repr__(self) -> str:
        return f"SimLock({self.firmware.profile.name!r}, lock_id={self.firmware.lock_id!r})"

    @property
    def lock_id(self) -> str:
        return self.firmware.lock_id

    @property
    def faults(self) -> FaultPlan:
        return self.firmware.faults

    async def _call(self, op: str, fn: Callable[[], T]) -> T:
        if self._closed:
            raise LockUnavailable("this lock connection is closed")
        decision = self.firmware.faults.decide(op, self._clock.monotonic())
        wait = self._latency + decision.delay
        if wait > 0:
            await self._clock.sleep(wait)
        error = decision.error_before()
        if error is None:
            firmware = self.firmware
            try:
                with firmware.saves_deferred():
                    result = fn()
            except KeyslotError:
                raise
            except Exception as exc:  # a firmware bug must still reach callers as ours
                raise FinalError(
                    f"the simulated lock failed on {op}: {type(exc).__name__}"
                ) from exc
            finally:
                await firmware.flush()  # like flash: saved before the lock answers
            error = decision.error_after()
            if error is None:
                return result
        if isinstance(error, LockTimeout) and self._timeout > 0:
            await self._clock.sleep(self._timeout)
        raise error

    async def info(self) -> LockInfo:
        return await self._call("info", self.firmware.info)

    async def read_slots(self) -> Sequence[Slot]:
        return await self._call("read_slots", self.firmware.read_slots)

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        return await self._call("write_slot", lambda: self.firmware.write_slot(index, entry))

    async def clear_slot(self, index: int) -> None:
        await self._call("clear_slot", lambda: self.firmware.clear_slot(index))

    async def set_clock(self, now: datetime) -> None:
        await self._call("set_clock", lambda: self.firmware.set_clock(now))

    async def slots_checksum(self) -> int | None:
        if not self.firmware.profile.checksum:
            return None
        return await self._call("checksum", self.firmware.checksum)

    async def pair_offline_pins(self, host_public_key: bytes) -> bytes:
        return await self._call(
            "pair_offline_pins", lambda: self.firmware.pair_offline(host_public_key)
        )

    def events(self) -> _EventStream:
        """A new stream of this lock's events from now on; it ends when the lock is closed."""
        stream = _EventStream(self.firmware, EVENT_QUEUE_SIZE)
        if self._closed:
            stream.close()
        else:
            self._streams.append(stream)
        return stream

    async def aclose(self) -> None:
        self._closed = True
        for stream in self._streams:
            stream.close()
        self._streams.clear()


def _fault_plan(url: LockUrl) -> FaultPlan | None:
    spec, seed_text = url.option("faults"), url.option("seed")
    if spec is None and seed_text is None:
        return None
    try:
        seed = int(seed_text) if seed_text else 0
    except ValueError:
        raise LockUrlError(f"seed={seed_text!r} in {url.redacted} is not an integer") from None
    try:
        return FaultPlan.parse(spec, seed=seed)
    except KeyslotError as exc:
        raise LockUrlError(f"{url.redacted}: {exc.message}") from exc


def firmware_for(url: LockUrl, clock: Clock) -> LockFirmware:
    """The firmware a `sim://` URL names: the registered one for its id, or a new one."""
    profile_name = url.host or url.path.strip("/")
    try:
        profile = get_profile(profile_name)
    except KeyslotError as exc:
        raise LockUrlError(exc.message) from exc
    plan = _fault_plan(url)
    lock_id = url.option("id") or None
    if lock_id is not None and lock_id in _REGISTRY:
        firmware = _REGISTRY[lock_id]
        if firmware.profile.name != profile.name:
            raise LockUrlError(
                f"simulated lock {lock_id!r} is a {firmware.profile.name}, not a {profile.name}"
            )
        if plan is not None:
            firmware.faults = plan
        return firmware
    state = url.option("state") or None
    if lock_id is None and state is not None and Path(state).exists():
        firmware = LockFirmware.load(state, clock, faults=plan)  # the saved lock keeps its id
        if firmware.profile.name != profile.name:
            raise LockUrlError(f"the lock saved in {state} is a {firmware.profile.name}")
        return firmware
    firmware = LockFirmware(
        profile,
        clock=clock,
        lock_id=lock_id or f"sim-{profile.name}-{next(_anonymous)}",
        state_path=state,
        faults=plan,
    )
    if lock_id is not None:
        _REGISTRY[lock_id] = firmware
    return firmware


async def open_url(
    url: LockUrl, *, clock: Clock, keys: PairingKeyStore | None = None, **context: Any
) -> SimLock:
    """Open a simulated lock. `context` may pass `firmware=` to drive an existing one."""
    del keys  # simulated locks need no pairing
    latency = float_option(url, "latency", 0.0)
    timeout = float_option(url, "timeout", 0.0)
    firmware = context.get("firmware")
    if not isinstance(firmware, LockFirmware):
        firmware = firmware_for(url, clock)
    return SimLock(firmware, clock=clock, latency=latency, timeout=timeout, url=url.raw)

"""Shared by the serial tests: an in-memory pairing key store and a paired lock on a wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from keyslot.drivers import open_lock, parse_lock_url
from keyslot.drivers.serial import SerialLock, pair
from keyslot.protocol.clock import Clock, ManualClock, SystemClock
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.serial_endpoint import SerialEndpoint
from keyslot.simulator.serial_faults import ByteFaults


class MemoryKeyStore:
    """A `PairingKeyStore` that forgets everything when the test ends."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def load_key(self, lock_url: str) -> bytes | None:
        return self.keys.get(lock_url)

    def save_key(self, lock_url: str, key: bytes) -> None:
        self.keys[lock_url] = key


@dataclass
class SerialRig:
    firmware: LockFirmware
    endpoint: SerialEndpoint
    keys: MemoryKeyStore
    url: str
    lock: SerialLock | None = None


@asynccontextmanager
async def serial_rig(
    profile: str,
    clock: ManualClock,
    *,
    transport: str = "pty",
    faults: ByteFaults | None = None,
    options: str = "baud=921600&timeout=0.05&retries=6",
    paired: bool = True,
    driver_clock: Clock | None = None,
    event_retry: float = 0.1,
) -> AsyncIterator[SerialRig]:
    """A simulated lock served on a pty or TCP, paired over the wire and opened by the driver.

    The firmware runs on the test's ManualClock; the driver times its I/O on real time
    (`driver_clock`), since bytes on a pty take real time to cross.
    """
    firmware = LockFirmware(get_profile(profile), clock=clock, lock_id=f"serial-{profile}")
    endpoint = SerialEndpoint(firmware, pairing_mode=paired, faults=faults, event_retry=event_retry)
    keys = MemoryKeyStore()
    rig: SerialRig | None = None
    try:
        if transport == "tcp":
            await endpoint.open_tcp()
        else:
            await endpoint.open_pty()
        url = f"{endpoint.url}?{options}"
        real = driver_clock or SystemClock()
        if paired:
            await pair(parse_lock_url(url), keys, real)
        lock = await open_lock(url, clock=real, keys=keys)
        assert isinstance(lock, SerialLock)
        rig = SerialRig(firmware, endpoint, keys, url, lock)
        yield rig
    finally:
        if rig is not None and rig.lock is not None:
            await rig.lock.aclose()
        await endpoint.aclose()

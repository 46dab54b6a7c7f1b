"""Pairing locks for offline PINs: the gateway's half of the X25519 key agreement.

The gateway calls `pair_offline_locks` when it starts, before the reconciler takes the
locks: every device with no offline-PIN secret yet, whose lock has offline PINs or has not
been reached yet, is opened through its driver and asked for its capabilities; a lock with
offline PINs is paired (`SlotProgrammer.pair_offline_pins`) and the secret kept sealed in
the store. A lock that cannot be reached in time is tried again at the next start; until
then creating an offline code for it is refused with a message that says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keyslot.protocol.clock import Clock, wait_for
from keyslot.protocol.slots import (
    AuthenticationFailed,
    KeyslotError,
    LockInfo,
    ProtocolError,
    SlotProgrammer,
)
from keyslot.service_offline import load_offline_pairing, save_offline_pairing
from keyslot.store import DeviceRecord, Store

__all__ = ["Opener", "agree_offline_secret", "pair_device", "pair_offline_locks"]

log = logging.getLogger(__name__)

Opener = Callable[[DeviceRecord], Awaitable[SlotProgrammer]]

PUBLIC_KEY_BYTES = 32
DEFAULT_TIMEOUT = 10.0  # seconds of the clock for opening, reading and pairing one lock


async def agree_offline_secret(lock: SlotProgrammer) -> bytes:
    """Run the key agreement with `lock`; returns the 32-byte shared secret."""
    own = X25519PrivateKey.generate()
    peer = await lock.pair_offline_pins(own.public_key().public_bytes_raw())
    if not isinstance(peer, bytes) or len(peer) != PUBLIC_KEY_BYTES:
        raise ProtocolError("the lock answered the offline PIN pairing with a malformed key")
    try:
        return own.exchange(X25519PublicKey.from_public_bytes(peer))
    except ValueError:  # a low-order point gives an all-zero secret
        raise AuthenticationFailed("the lock's offline PIN key is not a usable key") from None


async def pair_device(store: Store, device: DeviceRecord, lock: SlotProgrammer) -> LockInfo | None:
    """Pair one open lock if it has offline PINs; returns its capabilities when paired."""
    info = await lock.info()
    if not info.offline_pins:
        return None
    secret = await agree_offline_secret(lock)
    with store.transaction():
        save_offline_pairing(store, device.device_id, secret, info.serial_number)
        # the device shows it can take offline codes before the reconciler reaches it
        store.devices.update(
            device.device_id, lambda r: r if r.lock_info == info else replace(r, lock_info=info)
        )
    return info


def _needs_pairing(store: Store, device: DeviceRecord) -> bool:
    if device.lock_info is not None and not device.lock_info.offline_pins:
        return False
    return load_offline_pairing(store, device.device_id) is None


async def pair_offline_locks(
    store: Store,
    *,
    clock: Clock,
    opener: Opener | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[str]:
    """Pair every lock that needs it, concurrently; returns the ids of the devices paired."""
    if opener is None:
        opener = _default_opener(store, clock)
    devices = [d for d in store.devices.all() if _needs_pairing(store, d)]
    results = await asyncio.gather(
        *(_pair_one(store, device, opener, clock, timeout) for device in devices)
    )
    return [device.device_id for device, paired in zip(devices, results, strict=True) if paired]


async def _pair_one(
    store: Store, device: DeviceRecord, opener: Opener, clock: Clock, timeout: float
) -> bool:
    async def run() -> bool:
        lock = await opener(device)
        try:
            return await pair_device(store, device, lock) is not None
        finally:
            await lock.aclose()

    try:
        paired = await wait_for(clock, run(), timeout)
    except TimeoutError:
        log.info("lock %s: no answer for offline PIN pairing; next start tries again", device.name)
        return False
    except KeyslotError as exc:
        log.info("lock %s: offline PIN pairing failed: %s", device.name, exc.message)
        return False
    if paired:
        log.info("lock %s: paired for offline PINs", device.name)
    return paired


def _default_opener(store: Store, clock: Clock) -> Opener:
    async def open_device(device: DeviceRecord) -> SlotProgrammer:
        from keyslot.drivers import open_lock

        return await open_lock(device.lock_url, clock=clock, keys=store)

    return open_device

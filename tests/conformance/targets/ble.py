"""The BLE target: the production `ble://` driver (bleak + bleak-retry-connector) talking to
the simulated lock, a bumble GATT server, over a bumble virtual radio link in this process.

`ble` runs on a steady link; `ble-drops` has the lock drop the link after every few
requests (mid-batch, with the reply lost), so every conformance test also proves that the
driver resumes on a new link without losing or doubling an operation.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bumble.link import LocalLink

from keyslot.drivers import ble
from keyslot.drivers.ble_bumble_backend import BumbleClientBackend, BumbleRadio
from keyslot.protocol.ble_session import PairedKey
from keyslot.protocol.clock import ManualClock
from keyslot.simulator.ble_peripheral import BlePeripheral, virtual_device
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from tests.conformance.targets import ConformanceTarget, Harness, OpenHarness, manual_advance

LOCK_ADDRESS = "C0:4B:53:00:00:01"
DROP_EVERY = 5  # requests between forced link drops on the `ble-drops` target


@dataclass
class MemoryKeys:
    """A PairingKeyStore in memory (the real one keeps keys encrypted in keyslot's store)."""

    keys: dict[str, bytes] = field(default_factory=dict)

    def load_key(self, lock_url: str) -> bytes | None:
        return self.keys.get(lock_url)

    def save_key(self, lock_url: str, key: bytes) -> None:
        self.keys[lock_url] = key


@dataclass
class VirtualBle:
    """A simulated lock and a central radio on one virtual link, the driver's context keys."""

    peripheral: BlePeripheral
    radio: BumbleRadio
    keys: MemoryKeys
    url: str

    @property
    def context(self) -> dict[str, object]:
        return {
            "ble_device": self.radio.ble_device(LOCK_ADDRESS),
            "ble_client_backend": BumbleClientBackend,
            "ble_scanner_backend": self.radio.scanner_backend,
        }


@asynccontextmanager
async def virtual_ble(
    firmware: LockFirmware,
    *,
    mtu: int = 247,
    pairing: bool = True,
    paired: bool = True,
    provision: bool = False,
) -> AsyncIterator[VirtualBle]:
    """A running peripheral for `firmware` and a radio that reaches it.

    `paired` pairs the host over the air (the lock then leaves pairing mode); `provision`
    instead installs a key on both ends directly, as a factory would (saves a connection).
    """
    link = LocalLink()
    device = virtual_device(link, LOCK_ADDRESS, f"keyslot {firmware.lock_id}")
    # a virtual radio may advertise faster than a real one: connects take less waiting
    peripheral = BlePeripheral(firmware, device, pairing=pairing, advertising_interval_ms=10.0)
    await peripheral.start()
    radio = await BumbleRadio.on_link(link, mtu=mtu)
    setup = VirtualBle(peripheral, radio, MemoryKeys(), f"ble://{LOCK_ADDRESS}")
    try:
        if provision:
            key = PairedKey(os.urandom(8), os.urandom(32), firmware.lock_id)
            peripheral.service.keys[key.key_id] = key
            setup.keys.save_key(setup.url, key.to_bytes())
        elif paired:
            await ble.pair(setup.url, setup.keys, firmware.clock, **setup.context)
        yield setup
    finally:
        await radio.close()
        await peripheral.stop()


def opener(drop_every: int | None) -> OpenHarness:
    """A target opener; with `drop_every` the lock drops the link every that many requests."""

    @asynccontextmanager
    async def open_ble(profile: str, clock: ManualClock) -> AsyncIterator[Harness]:
        firmware = LockFirmware(get_profile(profile), clock=clock, lock_id=f"ble-{profile}")
        async with virtual_ble(firmware, pairing=False, provision=True) as setup:
            lock = await ble.open_url(
                ble.parse_ble_url(setup.url),
                clock=clock,
                keys=setup.keys,
                **setup.context,
            )
            if drop_every is not None:
                setup.peripheral.service.drop_after_requests(drop_every, repeat=True)
            try:
                yield Harness(lock, firmware, clock, manual_advance(clock), profile)
            finally:
                await lock.aclose()

    return open_ble


TARGET = ConformanceTarget(name="ble", open=opener(None))

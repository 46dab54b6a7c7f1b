"""Finding keyslot locks nearby: a bleak scan filtered on the keyslot service (`keyslot scan`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyslot.drivers.ble_url import CONTEXT_SCANNER_BACKEND
from keyslot.protocol.ble_wire import ADVERT_COMPANY_ID, SERVICE_UUID, decode_advert
from keyslot.protocol.clock import Clock, ClockTimeout, wait_for
from keyslot.protocol.slots import LockUnavailable

if TYPE_CHECKING:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

__all__ = ["FoundLock", "scan"]


@dataclass(frozen=True, slots=True)
class FoundLock:
    """A keyslot lock that answered a scan; `rssi` in dBm (closer to 0 is nearer)."""

    address: str
    name: str | None
    rssi: int
    pairing: bool

    @property
    def url(self) -> str:
        return f"ble://{self.address}"


async def scan(
    *, clock: Clock, timeout: float = 5.0, limit: int | None = None, **context: Any
) -> list[FoundLock]:
    """Keyslot locks heard within `timeout` seconds (or until `limit` were heard), nearest first."""
    from bleak import BleakScanner

    found: dict[str, FoundLock] = {}
    enough = asyncio.Event()

    def on_advert(device: BLEDevice, adv: AdvertisementData) -> None:
        payload = adv.manufacturer_data.get(ADVERT_COMPANY_ID)
        flags = decode_advert(payload) if payload is not None else None
        if flags is None and SERVICE_UUID not in adv.service_uuids:
            return
        found[device.address] = FoundLock(
            address=device.address.upper(),
            name=adv.local_name or device.name,
            rssi=adv.rssi,
            pairing=flags.pairing if flags is not None else False,
        )
        if limit is not None and len(found) >= limit:
            enough.set()

    try:
        scanner = BleakScanner(
            on_advert, service_uuids=[SERVICE_UUID], backend=context.get(CONTEXT_SCANNER_BACKEND)
        )
        await scanner.start()
    except Exception as exc:
        raise LockUnavailable(f"cannot scan for locks: {type(exc).__name__}: {exc}") from exc
    try:
        await wait_for(clock, enough.wait(), timeout)
    except ClockTimeout:
        pass
    finally:
        try:
            await scanner.stop()
        except Exception as exc:
            raise LockUnavailable(f"stopping the scan failed: {type(exc).__name__}") from exc
    return sorted(found.values(), key=lambda lock: (-lock.rssi, lock.address))

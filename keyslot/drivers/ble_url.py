"""`ble://` lock URLs: the lock's address, driver options, and the name its key is kept under.

`ble://AA:BB:CC:DD:EE:FF` (also `AA-BB-…` or bare hex; a CoreBluetooth UUID on macOS).
Options: `timeout` (seconds a reply may take), `connect_timeout`, `scan_timeout`,
`attempts` (connection attempts per connect), `idle` (seconds without use before the link
is dropped; 0 keeps it), `page` (slots per listing page), `resume` (how often a request is
resent after the link dropped under it).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from keyslot.drivers import LockUrl, LockUrlError, float_option, parse_lock_url
from keyslot.drivers.ble_link import BleOptions

__all__ = ["DriverSettings", "address_from_url", "key_name", "parse_ble_url", "settings_for"]

_MAC = re.compile(r"^[0-9A-F]{2}([:-]?[0-9A-F]{2}){5}$")

# context keys `open_url`/`pair`/`scan` accept (tests and benches inject a radio with them)
CONTEXT_DEVICE = "ble_device"  # a bleak BLEDevice: skip scanning for the address
CONTEXT_CLIENT_BACKEND = "ble_client_backend"  # BaseBleakClient subclass: BleakClient(backend=)
CONTEXT_SCANNER_BACKEND = "ble_scanner_backend"  # BaseBleakScanner subclass: BleakScanner(backend=)


def _normalize(text: str) -> str | None:
    candidate = text.strip().upper()
    if _MAC.match(candidate):
        digits = candidate.replace(":", "").replace("-", "")
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    try:
        return str(uuid.UUID(text.strip())).upper()
    except ValueError:
        return None


def address_from_url(url: LockUrl | str) -> str:
    """The lock's address in bleak's form (upper-case, colon separated)."""
    raw = url.raw if isinstance(url, LockUrl) else url
    if not raw.lower().startswith("ble://"):
        raise LockUrlError(f"not a ble:// lock URL: {raw!r}")
    rest = raw[len("ble://") :]
    for stop in "?/#":
        rest = rest.split(stop, 1)[0]
    address = _normalize(rest)
    if address is None:
        raise LockUrlError(
            f"{raw!r} does not name a Bluetooth address like ble://AA:BB:CC:DD:EE:FF"
        )
    return address


def parse_ble_url(raw: str) -> LockUrl:
    """A `LockUrl` for a ble:// URL whose address is valid (LockUrlError otherwise)."""
    address_from_url(raw)
    return parse_lock_url(raw)


def key_name(address: str) -> str:
    """The name a lock's pairing key is stored under in a `PairingKeyStore`."""
    return f"ble://{address}"


@dataclass(frozen=True, slots=True)
class DriverSettings:
    options: BleOptions
    idle: float = 30.0
    page: int = 32
    resume: int = 2


def settings_for(url: LockUrl, context: dict[str, Any]) -> DriverSettings:
    """Driver settings from the URL's options and the injected radio (context keys above)."""
    query = dict(url.query) or dict(parse_qsl(urlsplit(url.raw).query, keep_blank_values=True))
    defaults = BleOptions()
    options = BleOptions(
        device=context.get(CONTEXT_DEVICE),
        client_backend=context.get(CONTEXT_CLIENT_BACKEND),
        scanner_backend=context.get(CONTEXT_SCANNER_BACKEND),
        scan_timeout=float_option(url, "scan_timeout", defaults.scan_timeout, query=query),
        connect_timeout=float_option(url, "connect_timeout", defaults.connect_timeout, query=query),
        reply_timeout=float_option(url, "timeout", defaults.reply_timeout, query=query),
        attempts=max(1, int(float_option(url, "attempts", defaults.attempts, query=query))),
    )
    page = int(float_option(url, "page", 32, query=query))
    if not 1 <= page <= 255:
        raise LockUrlError(f"page in {url.redacted} must be 1..255")
    return DriverSettings(
        options=options,
        idle=float_option(url, "idle", 30.0, query=query),
        page=page,
        resume=int(float_option(url, "resume", 2, query=query)),
    )

"""Host-side lock drivers, one module per transport, chosen by URL scheme and imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol

from keyslot.protocol.clock import Clock, SystemClock
from keyslot.protocol.lock_url import SCHEMES, LockUrl, LockUrlError, parse_lock_url
from keyslot.protocol.slots import SlotProgrammer

__all__ = [
    "LockUrl",
    "LockUrlError",
    "PairingKeyStore",
    "driver_module",
    "float_option",
    "open_lock",
    "parse_lock_url",
    "schemes",
]

# scheme (each of `SCHEMES`, the URL kinds the store accepts) -> module providing
# `async def open_url(url: LockUrl, **context) -> SlotProgrammer`
_DRIVERS: dict[str, str] = {
    "sim": "keyslot.drivers.sim",
    "serial": "keyslot.drivers.serial",
    "socket": "keyslot.drivers.serial",
    "ble": "keyslot.drivers.ble",
    "zwave+mqtt": "keyslot.drivers.zwave_mqtt",
    "zwave+mqtts": "keyslot.drivers.zwave_mqtt",
}


class PairingKeyStore(Protocol):
    """Where drivers keep the secrets agreed at pairing (kept encrypted by keyslot's store)."""

    def load_key(self, lock_url: str) -> bytes | None: ...

    def save_key(self, lock_url: str, key: bytes) -> None: ...


def float_option(
    url: LockUrl, name: str, default: float, *, query: Mapping[str, str] | None = None
) -> float:
    """A non-negative number option of a lock URL (from `query` if given), `default` if unset."""
    text = (url.query if query is None else query).get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise LockUrlError(f"{name}={text!r} in {url.redacted} is not a number") from None
    if value < 0:
        raise LockUrlError(f"{name} in {url.redacted} cannot be negative")
    return value


def schemes() -> tuple[str, ...]:
    return SCHEMES


def driver_module(scheme: str) -> ModuleType:
    """The driver module for a URL scheme, imported now (it may pull in a heavy dependency)."""
    try:
        name = _DRIVERS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in _DRIVERS)
        raise LockUrlError(f"unknown lock URL scheme {scheme!r}; known: {known}") from None
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise LockUrlError(
            f"the {scheme}:// driver needs an optional dependency that is not "
            f"installed ({exc.name}); install keyslot[all]"
        ) from exc


async def open_lock(
    url: str,
    *,
    clock: Clock | None = None,
    keys: PairingKeyStore | None = None,
    **context: Any,
) -> SlotProgrammer:
    """Open a lock by URL (`sim://kwikset`, `serial:///dev/ttyUSB0`, `ble://…`, `zwave+mqtt://…`)."""
    parsed = parse_lock_url(url)
    module = driver_module(parsed.scheme)
    programmer: SlotProgrammer = await module.open_url(
        parsed, clock=clock or SystemClock(), keys=keys, **context
    )
    return programmer

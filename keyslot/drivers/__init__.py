"""Host-side lock drivers, one module per transport, chosen by URL scheme and imported lazily."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from keyslot.protocol.clock import Clock, SystemClock
from keyslot.protocol.slots import KeyslotError, SlotProgrammer

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

# scheme -> module providing `async def open_url(url: LockUrl, **context) -> SlotProgrammer`
_DRIVERS: dict[str, str] = {
    "sim": "keyslot.drivers.sim",
    "serial": "keyslot.drivers.serial",
    "socket": "keyslot.drivers.serial",
    "ble": "keyslot.drivers.ble",
    "zwave+mqtt": "keyslot.drivers.zwave_mqtt",
    "zwave+mqtts": "keyslot.drivers.zwave_mqtt",
}


class LockUrlError(KeyslotError, ValueError):
    """A lock URL that names no known transport or is malformed."""

    code = "invalid_lock_url"


class PairingKeyStore(Protocol):
    """Where drivers keep the secrets agreed at pairing (kept encrypted by keyslot's store)."""

    def load_key(self, lock_url: str) -> bytes | None: ...

    def save_key(self, lock_url: str, key: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class LockUrl:
    """A parsed lock URL: `scheme://[user:pass@]host[:port][/path][?query]`."""

    raw: str
    scheme: str
    host: str
    port: int | None
    path: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    query: Mapping[str, str] = field(default_factory=dict)

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    @property
    def redacted(self) -> str:
        """The URL without its password, for logs."""
        if self.password is None:
            return self.raw
        return self.raw.replace(f":{self.password}@", ":***@", 1)


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
    return tuple(_DRIVERS)


def parse_lock_url(url: str) -> LockUrl:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DRIVERS:
        known = ", ".join(f"{s}://" for s in _DRIVERS)
        raise LockUrlError(f"unknown lock URL scheme in {url!r}; known: {known}")
    host = parts.hostname or ""
    if scheme == "ble":  # the host is a MAC address: its colons are not a port
        host, port = parts.netloc.rpartition("@")[2].upper(), None
    else:
        try:
            port = parts.port
        except ValueError as exc:
            raise LockUrlError(f"bad port in lock URL {url!r}") from exc
    return LockUrl(
        raw=url,
        scheme=scheme,
        host=host,
        port=port,
        path=parts.path,
        username=parts.username,
        password=parts.password,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


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

"""Lock URLs (`sim://kwikset`, `serial:///dev/ttyUSB0`, `ble://AA:BB:…`, `zwave+mqtt://…`):
which transport a URL names, its parts, and a form safe to show (no password).

Pure, so that the store (which keeps and shows URLs) and the drivers (which open them)
share one reading of a URL without the store importing a driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from keyslot.protocol.slots import KeyslotError

__all__ = ["SCHEMES", "LockUrl", "LockUrlError", "parse_lock_url", "redact_url", "url_scheme"]

# Every transport keyslot has a driver for (`keyslot.drivers` maps each to its module).
SCHEMES: tuple[str, ...] = ("sim", "serial", "socket", "ble", "zwave+mqtt", "zwave+mqtts")


class LockUrlError(KeyslotError, ValueError):
    """A lock URL that names no known transport or is malformed."""

    code = "invalid_lock_url"


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

    def __repr__(self) -> str:
        return f"LockUrl({self.redacted!r})"

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    @property
    def redacted(self) -> str:
        """The URL without its password, for logs."""
        return redact_url(self.raw)


def _known() -> str:
    return ", ".join(f"{s}://" for s in SCHEMES)


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for lists, logs and error messages.

    The user information is what comes before the last `@` of the authority, and the
    password what follows its first `:`, as `urllib.parse` reads them.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, _ = rest[:cut].rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if not at or not colon:
        return url
    return f"{head}://{user}:***@{rest[len(userinfo) + 1 :]}"


def url_scheme(url: str) -> str:
    """The transport of a lock URL, lower case; `LockUrlError` for one that names none."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    shown = redact_url(url)
    if not sep:
        raise LockUrlError(f"{shown!r} is not a lock URL (known kinds: {_known()})")
    if scheme not in SCHEMES:
        raise LockUrlError(
            f"unknown lock URL scheme {scheme!r}: {shown!r} is not a lock URL "
            f"(known kinds: {_known()})"
        )
    if not rest:
        raise LockUrlError(f"{shown!r} is not a lock URL: nothing follows {scheme}://")
    return scheme


def parse_lock_url(url: str) -> LockUrl:
    """The parts of a lock URL; `LockUrlError` names what is wrong with a bad one."""
    scheme = url_scheme(url)
    try:
        parts = urlsplit(url)
        if scheme == "ble":  # the host is a MAC address: its colons are not a port
            host, port = parts.netloc.rpartition("@")[2].upper(), None
        else:
            host, port = parts.hostname or "", parts.port
    except ValueError as exc:
        raise LockUrlError(f"bad host or port in lock URL {redact_url(url)!r}") from exc
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

"""Lock URLs as the store needs them: the scheme, and a form safe to show (no password).

Kept apart from `drivers.parse_lock_url`, which also parses ports: a `ble://AA:BB:…`
address is not a host and port, yet the store must keep and show it all the same.
"""

from __future__ import annotations

import re

from keyslot.drivers import LockUrlError, schemes

__all__ = ["redact_url", "url_scheme"]

_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@?#:]*):[^/@?#]*@")


def url_scheme(url: str) -> str:
    """The transport of a lock URL; `LockUrlError` for one that names no known transport."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not rest or scheme not in schemes():
        known = ", ".join(f"{s}://" for s in schemes())
        raise LockUrlError(f"not a lock URL (known kinds: {known})")
    return scheme


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for lists and logs."""
    return _USERINFO.sub(lambda m: f"{m.group('head')}:***@", url, count=1)

"""Lock URLs as the store needs them: the scheme, and a form safe to show (no password).

One reading of a lock URL serves the store and the drivers: `keyslot.protocol.lock_url`
(the store never imports a driver).
"""

from __future__ import annotations

from keyslot.protocol.lock_url import LockUrlError, redact_url, url_scheme

__all__ = ["LockUrlError", "redact_url", "url_scheme"]

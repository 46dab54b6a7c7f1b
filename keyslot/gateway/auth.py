"""API keys on every request: `Authorization: Bearer seam_…`, checked against hashed keys.

A rejected request is logged with its method, path and client, and why it was refused,
never with the key it carried. Verified keys are remembered briefly, so a burst of
requests costs one store look-up, and a revoked key stops working within `ttl` seconds.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from keyslot.protocol.clock import Clock

__all__ = ["AuthResult", "Authenticator", "KeyVerifier", "bearer_key", "key_fingerprint"]

log = logging.getLogger("keyslot.gateway.auth")

# What the SDKs refuse to send as an API key (client sessions, access tokens, publishable keys).
_NOT_API_KEYS = ("seam_cst", "seam_at", "seam_pk")
_MAX_KEY_LENGTH = 256

KeyVerifier = Callable[[str], bool | Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class AuthResult:
    ok: bool
    reason: str = ""


def key_fingerprint(key: str) -> str:
    """A short, stable, non-reversible label of a key, for the verified-key cache."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def bearer_key(authorization: str | None) -> tuple[str | None, str]:
    """The API key in an Authorization header, or None and why it is not one."""
    if not authorization:
        return None, "no Authorization header"
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None, "the Authorization header is not a Bearer token"
    if len(token) > _MAX_KEY_LENGTH or not token.startswith("seam_"):
        return None, "the Bearer token is not a seam_ API key"
    if token.startswith(_NOT_API_KEYS):
        return None, "the Bearer token is not an API key"
    return token, ""


class Authenticator:
    """Checks the key of each request with `verify` (the store's hashed keys)."""

    def __init__(self, verify: KeyVerifier, *, clock: Clock, ttl: float = 5.0) -> None:
        self._verify = verify
        self._clock = clock
        self._ttl = ttl
        self._verified: dict[str, float] = {}

    async def check(self, authorization: str | None) -> AuthResult:
        key, reason = bearer_key(authorization)
        if key is None:
            return AuthResult(False, reason)
        fingerprint = key_fingerprint(key)
        now = self._clock.monotonic()
        expires = self._verified.get(fingerprint)
        if expires is not None and expires > now:
            return AuthResult(True)
        answer = self._verify(key)
        ok = await answer if inspect.isawaitable(answer) else answer
        if not ok:
            self._verified.pop(fingerprint, None)
            return AuthResult(False, "unknown or revoked API key")
        if len(self._verified) > 1024:  # a handful of keys in practice; never grow unbounded
            self._verified.clear()
        self._verified[fingerprint] = now + self._ttl
        return AuthResult(True)

    def forget(self) -> None:
        """Drop every remembered key (after a key was revoked in this process)."""
        self._verified.clear()


def log_rejection(method: str, path: str, client: str, reason: str) -> None:
    """One warning per refused request; the key itself is never part of it."""
    log.warning("401 %s %s from %s: %s", method, path, client, reason)

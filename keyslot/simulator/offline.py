"""The lock's side of offline PINs: key agreement at pairing, the verifier, and its memory.

A simulated lock of a profile with `offline_pins` agrees a secret with the gateway (X25519)
and from then on checks 10-digit offline PINs and 12-digit clear-all codes itself, with no
connection (see `keyslot.protocol.offline_pin`). What it keeps - the shared secret, the
generation and the used-code table (keyed digests, never PINs) - goes into the lock's
encrypted state file with everything else.

A real lock accepts pairing only in its pairing mode, a physical act. The simulated lock
accepts it at any time: the in-process driver has no wire an attacker could reach, and a new
pairing replaces the old secret, so every code issued before it stops working.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keyslot.protocol.offline_pin import (
    CLEAR_ALL_DIGITS,
    OFFLINE_PIN_DIGITS,
    OfflinePinKeys,
    OfflinePinVerifier,
    Verdict,
)
from keyslot.protocol.slots import FinalError

__all__ = ["PUBLIC_KEY_BYTES", "OfflinePins", "PairingRefused"]

PUBLIC_KEY_BYTES = 32


class PairingRefused(FinalError):
    """The host's public key is not a usable X25519 key."""

    code = "pairing_refused"


class OfflinePins:
    """Offline PIN keys and verifier of one lock; unpaired until `pair` is called."""

    def __init__(self) -> None:
        self._secret: bytes | None = None
        self._lock_id = ""
        self._verifier: OfflinePinVerifier | None = None

    def __repr__(self) -> str:
        return f"OfflinePins(paired={self.paired}, generation={self.generation})"

    @property
    def paired(self) -> bool:
        return self._verifier is not None

    @property
    def generation(self) -> int:
        return 0 if self._verifier is None else self._verifier.generation

    @property
    def used_count(self) -> int:
        return 0 if self._verifier is None else self._verifier.used_count

    def pair(self, host_public: bytes, lock_id: str) -> bytes:
        """Agree a new secret with the host; returns the lock's public key (32 bytes)."""
        if not isinstance(host_public, bytes) or len(host_public) != PUBLIC_KEY_BYTES:
            raise PairingRefused(f"the host's public key must be {PUBLIC_KEY_BYTES} bytes")
        own = X25519PrivateKey.generate()
        try:
            shared = own.exchange(X25519PublicKey.from_public_bytes(host_public))
        except ValueError:  # a low-order point gives an all-zero secret
            raise PairingRefused("the host's public key is not a usable X25519 key") from None
        self._install(shared, lock_id, {})
        return own.public_key().public_bytes_raw()

    def _install(self, secret: bytes, lock_id: str, state: Mapping[str, Any]) -> None:
        verifier = OfflinePinVerifier(OfflinePinKeys.derive(secret, lock_id))
        if state:
            verifier.import_state(dict(state))
        self._secret, self._lock_id, self._verifier = secret, lock_id, verifier

    def verify(self, code: str, at: datetime) -> Verdict | None:
        """The verdict on an entered code, or None when it cannot be an offline PIN here
        (not paired, or not 10 or 12 digits): the keypad then judges it as a plain code."""
        if self._verifier is None or not code.isdigit():
            return None
        if len(code) not in (OFFLINE_PIN_DIGITS, CLEAR_ALL_DIGITS):
            return None
        return self._verifier.verify(code, at)

    # ------------------------------------------------------------------ persistence

    def to_state(self) -> dict[str, Any] | None:
        if self._verifier is None or self._secret is None:
            return None
        return {
            "secret": self._secret.hex(),
            "lock_id": self._lock_id,
            "verifier": self._verifier.export_state(),
        }

    def restore(self, state: object) -> None:
        """Resume from `to_state()`; ValueError (or TypeError) for a damaged record."""
        if state is None:
            self._secret, self._lock_id, self._verifier = None, "", None
            return
        if not isinstance(state, Mapping):
            raise TypeError("the offline PIN record is not an object")
        secret = bytes.fromhex(str(state["secret"]))
        if len(secret) != PUBLIC_KEY_BYTES:
            raise ValueError("the offline PIN secret has the wrong length")
        verifier = state.get("verifier") or {}
        if not isinstance(verifier, Mapping):
            raise TypeError("the offline PIN verifier record is not an object")
        self._install(secret, str(state["lock_id"]), verifier)

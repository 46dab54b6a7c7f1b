"""Keys of the serial protocol: X25519 pairing, per-session AES-128-CCM sealing.

Pairing agrees a 32-byte key by X25519 + HKDF-SHA256 while the lock is in pairing mode.
Each session (a HELLO exchange with fresh nonces from both ends) derives its own AEAD key,
so a frame recorded in one session never verifies in another; within a session a 16-bit
counter, in the AEAD nonce and required to rise, refuses replays.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyslot.protocol.serial_frames import Frame, FrameDecodeError, FrameKind

__all__ = [
    "COUNTER_MAX",
    "KEY_LEN",
    "NONCE_LEN",
    "PUBLIC_KEY_LEN",
    "TAG_LEN",
    "PairingKeyPair",
    "PairingResult",
    "SealError",
    "Session",
    "derive_pairing_key",
    "new_nonce",
]

KEY_LEN = 32  # pairing key
NONCE_LEN = 8  # HELLO nonce from each end
PUBLIC_KEY_LEN = 32  # X25519
TAG_LEN = 8  # AES-CCM tag: 2**-64 forgery chance per try, and the lock closes the session
COUNTER_MAX = 0xFFFF  # a session ends before its counter would wrap

_PAIR_SALT = b"keyslot serial pairing salt v1"
_PAIR_INFO = b"keyslot serial pairing v1"
_SESSION_INFO = b"keyslot serial session v1"


class SealError(FrameDecodeError):
    """A sealed frame whose tag does not verify: wrong key, tampered, or from another session."""

    code = "serial_seal_invalid"


class _Direction(enum.IntEnum):
    REQUEST = 0
    REPLY = 1
    EVENT = 2


_DIRECTIONS = {
    FrameKind.REQUEST: _Direction.REQUEST,
    FrameKind.REPLY: _Direction.REPLY,
    FrameKind.EVENT: _Direction.EVENT,
}


def new_nonce() -> bytes:
    return os.urandom(NONCE_LEN)


@dataclass(frozen=True, slots=True)
class PairingResult:
    """The agreed key, and six digits both ends show so a person can spot a man in the middle."""

    key: bytes
    confirmation: str

    def __repr__(self) -> str:
        return "PairingResult(key=<hidden>, confirmation=<hidden>)"


class PairingKeyPair:
    """One side's ephemeral X25519 key for a single pairing."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self.public = self._private.public_key().public_bytes_raw()

    def agree(
        self, peer_public: bytes, *, lock_id: str, host_public: bytes, lock_public: bytes
    ) -> PairingResult:
        """The pairing key; the transcript (lock id and both public keys) is bound into it."""
        if len(peer_public) != PUBLIC_KEY_LEN:
            raise FrameDecodeError("a pairing public key must be 32 bytes")
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(peer_public))
        except ValueError:
            raise FrameDecodeError("the peer's pairing key is invalid") from None
        return derive_pairing_key(
            shared, lock_id=lock_id, host_public=host_public, lock_public=lock_public
        )


def derive_pairing_key(
    shared: bytes, *, lock_id: str, host_public: bytes, lock_public: bytes
) -> PairingResult:
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_LEN + 4,
        salt=_PAIR_SALT,
        info=_PAIR_INFO + lock_id.encode() + b"\x00" + host_public + lock_public,
    ).derive(shared)
    confirmation = f"{int.from_bytes(okm[KEY_LEN:], 'big') % 1_000_000:06d}"
    return PairingResult(okm[:KEY_LEN], confirmation)


class Session:
    """The AEAD state of one HELLO session. Both ends build it from the same three inputs."""

    def __init__(self, pairing_key: bytes, host_nonce: bytes, lock_nonce: bytes) -> None:
        if len(pairing_key) != KEY_LEN:
            raise ValueError("a pairing key must be 32 bytes")
        okm = HKDF(
            algorithm=hashes.SHA256(),
            length=16 + 10,
            salt=host_nonce + lock_nonce,
            info=_SESSION_INFO,
        ).derive(pairing_key)
        self._aead = AESCCM(okm[:16], tag_length=TAG_LEN)
        self._prefix = okm[16:]

    def _nonce(self, kind: FrameKind, counter: int) -> bytes:
        return self._prefix + bytes((_DIRECTIONS[kind],)) + counter.to_bytes(2, "big")

    def seal(self, kind: FrameKind, code: int, counter: int, plaintext: bytes) -> Frame:
        """A sealed frame: body encrypted, header authenticated, counter in the nonce."""
        if not 1 <= counter <= COUNTER_MAX:
            raise ValueError(f"counter {counter} out of range")
        bare = Frame(kind, code, counter & 0xFF, b"", counter_hi=counter >> 8)
        body = self._aead.encrypt(self._nonce(kind, counter), plaintext, bare.header())
        return Frame(kind, code, bare.seq, body, counter_hi=bare.counter_hi)

    def open(self, frame: Frame) -> bytes:
        """The plaintext of a sealed frame; `SealError` if it does not verify."""
        if not frame.sealed:
            raise SealError("the frame is not sealed")
        if len(frame.body) < TAG_LEN:
            raise SealError("sealed body shorter than its tag")
        try:
            return self._aead.decrypt(
                self._nonce(frame.kind, frame.counter), frame.body, frame.header()
            )
        except InvalidTag:
            raise SealError("the frame's tag does not verify") from None

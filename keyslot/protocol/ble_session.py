"""Pairing and the sealed session of the BLE lock protocol, as pure state machines.

Pairing (lock in pairing mode only): X25519 with a commitment from the lock before the
host reveals its nonce, so neither side can steer the six-digit confirmation code that
both show; HKDF-SHA256 derives the long-term key. Every connection then says hello with
fresh nonces from both sides, derives per-direction ChaCha20-Poly1305 keys, and numbers
frames per direction: the counter is the nonce, and only the next counter is accepted,
so replayed or reordered frames fail. The lock issues single-use challenges for commands
that change codes. No I/O here; randomness is injectable for tests.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyslot.protocol.ble_frames import (
    HOST_NONCE_SIZE,
    KEY_ID_SIZE,
    LOCK_NONCE_SIZE,
    Hello,
    HelloAck,
    PairCommit,
    PairConfirm,
    PairDone,
    PairNonce,
    PairRequest,
    PairReveal,
    Sealed,
    sealed_header,
)
from keyslot.protocol.ble_messages import CHALLENGE_SIZE

__all__ = [
    "CHALLENGE_LIFETIME",
    "AuthError",
    "ChallengeBook",
    "HostHandshake",
    "HostPairing",
    "LockPairing",
    "PairedKey",
    "PairingError",
    "ReplayError",
    "SecureChannel",
    "SessionError",
    "accept_hello",
]

Random = Callable[[int], bytes]

SECRET_SIZE = 32
CHALLENGE_LIFETIME = 30.0  # seconds of the lock's clock a challenge stays usable
MAX_COUNTER = 0xFFFFFFFF
_LABEL = b"keyslot-ble/v1 "
_KEY_BLOB_VERSION = 1


class SessionError(Exception):
    """A protocol step that must be refused; subclasses say why."""


class PairingError(SessionError):
    """A pairing step out of order, a broken commitment, or a proof that did not verify."""


class AuthError(SessionError):
    """A sealed frame or hello proof that does not verify under the session key."""


class ReplayError(SessionError):
    """A sealed frame whose counter is not the next one (replayed, reordered or dropped)."""


@dataclass(frozen=True, slots=True)
class PairedKey:
    """The long-term secret agreed at pairing, named on the wire by `key_id`."""

    key_id: bytes
    secret: bytes = field(repr=False)
    lock_id: str = ""

    def to_bytes(self) -> bytes:
        """Versioned blob for a `PairingKeyStore` (which keeps it encrypted)."""
        lock_id = self.lock_id.encode("utf-8")
        return (
            bytes([_KEY_BLOB_VERSION])
            + self.key_id
            + self.secret
            + struct.pack(">H", len(lock_id))
            + lock_id
        )

    @classmethod
    def from_bytes(cls, blob: bytes) -> PairedKey:
        head = 1 + KEY_ID_SIZE + SECRET_SIZE + 2
        if len(blob) < head or blob[0] != _KEY_BLOB_VERSION:
            raise ValueError("not a keyslot BLE pairing key")
        key_id = blob[1 : 1 + KEY_ID_SIZE]
        secret = blob[1 + KEY_ID_SIZE : 1 + KEY_ID_SIZE + SECRET_SIZE]
        (size,) = struct.unpack(">H", blob[head - 2 : head])
        if len(blob) != head + size:
            raise ValueError("pairing key blob has the wrong length")
        try:
            lock_id = blob[head:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("pairing key blob has a bad lock id") from exc
        return cls(key_id=key_id, secret=secret, lock_id=lock_id)


def _hkdf(secret: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def _commitment(lock_public: bytes, host_public: bytes, lock_nonce: bytes) -> bytes:
    return hashlib.sha256(_LABEL + b"commit" + lock_public + host_public + lock_nonce).digest()


@dataclass(frozen=True, slots=True)
class _PairingKeys:
    secret: bytes
    confirm_key: bytes
    code: str
    transcript: bytes


def _pairing_keys(
    own: X25519PrivateKey,
    peer_public: bytes,
    *,
    host_public: bytes,
    lock_public: bytes,
    commitment: bytes,
    host_nonce: bytes,
    lock_nonce: bytes,
    lock_id: str,
) -> _PairingKeys:
    try:
        shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:  # a low-order point gives an all-zero secret
        raise PairingError("the peer's public key is not usable") from exc
    transcript = host_public + lock_public + commitment + host_nonce + lock_nonce + lock_id.encode()
    okm = _hkdf(
        shared,
        salt=host_nonce + lock_nonce,
        info=_LABEL + b"pair" + hashlib.sha256(transcript).digest(),
        length=3 * SECRET_SIZE,
    )
    number = int.from_bytes(okm[2 * SECRET_SIZE : 2 * SECRET_SIZE + 8], "big") % 1_000_000
    return _PairingKeys(
        secret=okm[:SECRET_SIZE],
        confirm_key=okm[SECRET_SIZE : 2 * SECRET_SIZE],
        code=f"{number:06d}",
        transcript=transcript,
    )


class HostPairing:
    """The host's side of pairing: request → commit → nonce → reveal → confirm → done."""

    def __init__(self, random: Random = os.urandom) -> None:
        self._random = random
        self._private = X25519PrivateKey.from_private_bytes(random(32))
        self._public = self._private.public_key().public_bytes_raw()
        self._commit: PairCommit | None = None
        self._nonce: bytes | None = None
        self._keys: _PairingKeys | None = None
        self._confirmed = False
        self.lock_id = ""

    def request(self) -> PairRequest:
        return PairRequest(host_public=self._public)

    def on_commit(self, frame: PairCommit) -> PairNonce:
        if self._commit is not None:
            raise PairingError("a second commitment")
        self._commit = frame
        self._nonce = self._random(HOST_NONCE_SIZE)
        return PairNonce(host_nonce=self._nonce)

    def on_reveal(self, frame: PairReveal) -> str:
        """Check the lock kept its commitment; returns the code to compare with the lock's."""
        if self._commit is None or self._nonce is None or self._keys is not None:
            raise PairingError("reveal out of order")
        expected = _commitment(self._commit.lock_public, self._public, frame.lock_nonce)
        if not hmac.compare_digest(expected, self._commit.commitment):
            raise PairingError("the lock's nonce does not match its commitment")
        self.lock_id = frame.lock_id
        self._keys = _pairing_keys(
            self._private,
            self._commit.lock_public,
            host_public=self._public,
            lock_public=self._commit.lock_public,
            commitment=self._commit.commitment,
            host_nonce=self._nonce,
            lock_nonce=frame.lock_nonce,
            lock_id=frame.lock_id,
        )
        return self._keys.code

    def confirm(self) -> PairConfirm:
        """Send only after the user saw the same code on the lock."""
        if self._keys is None:
            raise PairingError("confirm before the code is known")
        self._confirmed = True
        return PairConfirm(proof=_mac(self._keys.confirm_key, b"host", self._keys.transcript))

    def on_done(self, frame: PairDone) -> PairedKey:
        if self._keys is None or not self._confirmed:
            raise PairingError("done out of order")
        expected = _mac(self._keys.confirm_key, b"lock", self._keys.transcript, frame.key_id)
        if not hmac.compare_digest(expected, frame.proof):
            raise PairingError("the lock's proof does not verify")
        return PairedKey(key_id=frame.key_id, secret=self._keys.secret, lock_id=self.lock_id)


class LockPairing:
    """The lock's side of pairing; create one per pairing attempt, in pairing mode only."""

    def __init__(self, lock_id: str, random: Random = os.urandom) -> None:
        self._lock_id = lock_id
        self._random = random
        self._private = X25519PrivateKey.from_private_bytes(random(32))
        self._public = self._private.public_key().public_bytes_raw()
        self._host_public: bytes | None = None
        self._nonce = random(LOCK_NONCE_SIZE)
        self._commitment = b""
        self._keys: _PairingKeys | None = None
        self._done = False
        self.code: str | None = None  # shown on the lock once the host sent its nonce

    def on_request(self, frame: PairRequest) -> PairCommit:
        if self._host_public is not None:
            raise PairingError("a second pairing request")
        self._host_public = frame.host_public
        self._commitment = _commitment(self._public, frame.host_public, self._nonce)
        return PairCommit(lock_public=self._public, commitment=self._commitment)

    def on_nonce(self, frame: PairNonce) -> PairReveal:
        if self._host_public is None or self._keys is not None:
            raise PairingError("nonce out of order")
        self._keys = _pairing_keys(
            self._private,
            self._host_public,
            host_public=self._host_public,
            lock_public=self._public,
            commitment=self._commitment,
            host_nonce=frame.host_nonce,
            lock_nonce=self._nonce,
            lock_id=self._lock_id,
        )
        self.code = self._keys.code
        return PairReveal(lock_nonce=self._nonce, lock_id=self._lock_id)

    def on_confirm(self, frame: PairConfirm) -> tuple[PairDone, PairedKey]:
        if self._keys is None or self._done:
            raise PairingError("confirm out of order")
        self._done = True  # one proof attempt per pairing: a wrong guess ends it
        expected = _mac(self._keys.confirm_key, b"host", self._keys.transcript)
        if not hmac.compare_digest(expected, frame.proof):
            raise PairingError("the host's proof does not verify")
        key_id = self._random(KEY_ID_SIZE)
        proof = _mac(self._keys.confirm_key, b"lock", self._keys.transcript, key_id)
        key = PairedKey(key_id=key_id, secret=self._keys.secret, lock_id=self._lock_id)
        return PairDone(key_id=key_id, proof=proof), key


# --------------------------------------------------------------------------- session


def _session_keys(key: PairedKey, host_nonce: bytes, lock_nonce: bytes) -> tuple[bytes, ...]:
    okm = _hkdf(
        key.secret,
        salt=host_nonce + lock_nonce,
        info=_LABEL + b"session" + key.key_id,
        length=3 * SECRET_SIZE,
    )
    return okm[:SECRET_SIZE], okm[SECRET_SIZE : 2 * SECRET_SIZE], okm[2 * SECRET_SIZE :]


def _hello_proof(proof_key: bytes, key_id: bytes, host_nonce: bytes, lock_nonce: bytes) -> bytes:
    return _mac(proof_key, b"lock hello", key_id, host_nonce, lock_nonce)[:16]


class SecureChannel:
    """Seals outgoing and opens incoming application messages of one session."""

    def __init__(self, send_key: bytes, receive_key: bytes) -> None:
        self._send = ChaCha20Poly1305(send_key)
        self._receive = ChaCha20Poly1305(receive_key)
        self.sent = 0  # counter of the next frame to send
        self.received = 0  # counter of the next frame to accept

    @staticmethod
    def _nonce(counter: int) -> bytes:
        return bytes(4) + counter.to_bytes(8, "big")

    def seal(self, plaintext: bytes) -> Sealed:
        if self.sent > MAX_COUNTER:
            raise SessionError("session exhausted its counters; reconnect")
        counter = self.sent
        header = sealed_header(counter)
        ciphertext = self._send.encrypt(self._nonce(counter), plaintext, header)
        self.sent += 1
        return Sealed(counter=counter, ciphertext=ciphertext)

    def open(self, frame: Sealed) -> bytes:
        """The plaintext, or AuthError/ReplayError; a refused frame changes nothing."""
        if frame.counter != self.received:
            raise ReplayError(f"counter {frame.counter}, expected {self.received}")
        try:
            plaintext = self._receive.decrypt(
                self._nonce(frame.counter), frame.ciphertext, frame.header()
            )
        except InvalidTag as exc:
            raise AuthError("sealed frame does not verify") from exc
        self.received += 1
        return plaintext


class HostHandshake:
    """The host's hello: fresh nonce out, the lock's proof checked, a channel back."""

    def __init__(self, key: PairedKey, random: Random = os.urandom) -> None:
        self._key = key
        self._nonce = random(HOST_NONCE_SIZE)

    def hello(self) -> Hello:
        return Hello(key_id=self._key.key_id, host_nonce=self._nonce)

    def on_ack(self, frame: HelloAck) -> SecureChannel:
        to_lock, to_host, proof_key = _session_keys(self._key, self._nonce, frame.lock_nonce)
        expected = _hello_proof(proof_key, self._key.key_id, self._nonce, frame.lock_nonce)
        if not hmac.compare_digest(expected, frame.proof):
            raise AuthError("the lock does not hold our pairing key")
        return SecureChannel(send_key=to_lock, receive_key=to_host)


def accept_hello(
    frame: Hello, key: PairedKey, random: Random = os.urandom
) -> tuple[HelloAck, SecureChannel]:
    """The lock's answer to a hello naming a key it holds, and the session's channel."""
    lock_nonce = random(LOCK_NONCE_SIZE)
    to_lock, to_host, proof_key = _session_keys(key, frame.host_nonce, lock_nonce)
    proof = _hello_proof(proof_key, key.key_id, frame.host_nonce, lock_nonce)
    channel = SecureChannel(send_key=to_host, receive_key=to_lock)
    return HelloAck(lock_nonce=lock_nonce, proof=proof), channel


class ChallengeBook:
    """The lock's outstanding challenge for one session: single use, short-lived."""

    def __init__(self, random: Random = os.urandom, lifetime: float = CHALLENGE_LIFETIME) -> None:
        self._random = random
        self._lifetime = lifetime
        self._current: bytes | None = None
        self._issued_at = 0.0

    def issue(self, now: float) -> bytes:
        """A new challenge; it replaces any earlier one."""
        self._current = self._random(CHALLENGE_SIZE)
        self._issued_at = now
        return self._current

    def consume(self, challenge: bytes, now: float) -> bool:
        """True once for the current, unexpired challenge; any attempt uses it up."""
        current, self._current = self._current, None
        if current is None or now - self._issued_at > self._lifetime:
            return False
        return hmac.compare_digest(current, challenge)

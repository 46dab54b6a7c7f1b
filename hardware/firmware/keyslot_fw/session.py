"""Pairing (X25519 + HKDF) and per-session sealing (AES-128-CCM, 8-byte tags).

The key schedule is the one of `hardware/serial-protocol.md` section 6; `aes` is the
platform's AES-ECB constructor (`cryptolib.aes(key, 1)` on MicroPython).
"""

from keyslot_fw.ccm import CCM
from keyslot_fw.kdf import hkdf_sha256
from keyslot_fw.x25519 import public_key, x25519

KEY_LEN = 32
NONCE_LEN = 8
TAG_LEN = 8
COUNTER_MAX = 0xFFFF

REQUEST = 0
REPLY = 1
EVENT = 2

_PAIR_SALT = b"keyslot serial pairing salt v1"
_PAIR_INFO = b"keyslot serial pairing v1"
_SESSION_INFO = b"keyslot serial session v1"


def pair(host_public, lock_id, random_bytes):
    """(lock public key, pairing key, six-digit confirmation), or None for a degenerate key."""
    private = random_bytes(32)
    lock_public = public_key(private)
    shared = x25519(private, host_public)
    if shared == bytes(32):
        return None  # a low-order point: no shared secret, refuse it
    info = _PAIR_INFO + lock_id.encode() + b"\x00" + bytes(host_public) + lock_public
    okm = hkdf_sha256(shared, _PAIR_SALT, info, KEY_LEN + 4)
    number = (okm[32] << 24) | (okm[33] << 16) | (okm[34] << 8) | okm[35]
    return lock_public, okm[:KEY_LEN], f"{number % 1000000:06d}"


class Session:
    """The AEAD state of one HELLO session: its key and nonce prefix."""

    def __init__(self, aes, pairing_key, host_nonce, lock_nonce):
        okm = hkdf_sha256(pairing_key, bytes(host_nonce) + bytes(lock_nonce), _SESSION_INFO, 26)
        self._ccm = CCM(aes(okm[:16]), TAG_LEN)
        self._prefix = okm[16:]

    def _nonce(self, direction, counter):
        return self._prefix + bytes([direction, (counter >> 8) & 0xFF, counter & 0xFF])

    def seal(self, direction, header, counter, plaintext):
        return self._ccm.seal(self._nonce(direction, counter), plaintext, header)

    def open(self, direction, header, counter, sealed):
        """The plaintext, or None if the tag does not verify."""
        return self._ccm.open(self._nonce(direction, counter), sealed, header)

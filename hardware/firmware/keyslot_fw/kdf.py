"""HMAC-SHA256 and HKDF-SHA256 on `hashlib.sha256` (MicroPython has no `hmac` module)."""

import hashlib

_BLOCK = 64


def _xor_pad(key, pad):
    return bytes([b ^ pad for b in key])


def hmac_sha256(key, message):
    """RFC 2104 HMAC with SHA-256."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(_xor_pad(key, 0x36) + bytes(message)).digest()
    return hashlib.sha256(_xor_pad(key, 0x5C) + inner).digest()


def hkdf_sha256(ikm, salt, info, length):
    """RFC 5869 extract-then-expand; an empty salt means 32 zero bytes."""
    if length > 255 * 32:
        raise ValueError("HKDF output too long")
    prk = hmac_sha256(salt if salt else bytes(32), ikm)
    out = bytearray()
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac_sha256(prk, block + bytes(info) + bytes([counter]))
        out.extend(block)
        counter += 1
    return bytes(out[:length])

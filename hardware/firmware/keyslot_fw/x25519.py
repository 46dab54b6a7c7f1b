"""X25519 (RFC 7748) with Python integers: the key agreement of serial pairing.

Not constant-time: an interpreter cannot promise that. Pairing is one exchange in a
window opened by a button at the lock, so timing is hard to observe; the confirmation
code both ends show guards against a man in the middle.
"""

P = (1 << 255) - 19
_A24 = 121665
BASE_POINT = bytes([9]) + bytes(31)


def _from_le(data):
    value = 0
    for i in range(len(data) - 1, -1, -1):
        value = (value << 8) | data[i]
    return value


def _to_le(value):
    return bytes([(value >> (8 * i)) & 0xFF for i in range(32)])


def _clamp(scalar):
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return _from_le(k)


def _inverse(z):
    """z ** (p - 2) mod p by square-and-multiply (three-argument pow is optional in MicroPython)."""
    result = 1
    exponent = P - 2
    base = z % P
    while exponent:
        if exponent & 1:
            result = (result * base) % P
        base = (base * base) % P
        exponent >>= 1
    return result


def x25519(scalar, u_bytes):
    """The 32-byte X25519 of a 32-byte scalar and a 32-byte u-coordinate."""
    if len(scalar) != 32 or len(u_bytes) != 32:
        raise ValueError("X25519 takes 32-byte inputs")
    k = _clamp(scalar)
    u = bytearray(u_bytes)
    u[31] &= 127
    x1 = _from_le(u) % P
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (k >> t) & 1
        if swap ^ bit:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        a = (x2 + z2) % P
        aa = (a * a) % P
        b = (x2 - z2) % P
        bb = (b * b) % P
        e = (aa - bb) % P
        c = (x3 + z3) % P
        d = (x3 - z3) % P
        da = (d * a) % P
        cb = (c * b) % P
        x3 = ((da + cb) * (da + cb)) % P
        z3 = (x1 * (da - cb) * (da - cb)) % P
        x2 = (aa * bb) % P
        z2 = (e * (aa + _A24 * e)) % P
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    return _to_le((x2 * _inverse(z2)) % P)


def public_key(private):
    return x25519(private, BASE_POINT)

"""FF1 format-preserving encryption (NIST SP 800-38G) on AES, for numeral strings.

`cryptography` ships AES but not FF1; this is the specification's algorithm, checked
against the NIST radix-10 samples in the tests.
"""

from __future__ import annotations

import math

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["FF1"]

_ROUNDS = 10


def _num(digits: list[int], radix: int) -> int:
    value = 0
    for d in digits:
        value = value * radix + d
    return value


def _str(value: int, radix: int, length: int) -> list[int]:
    out = [0] * length
    for i in range(length - 1, -1, -1):
        value, out[i] = divmod(value, radix)
    return out


class FF1:
    """FF1 with a fixed AES key and radix: digit strings in, digit strings of equal length out."""

    def __init__(self, key: bytes, radix: int = 10) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("FF1 needs an AES-128, -192 or -256 key")
        if not 2 <= radix <= 36:
            raise ValueError("radix must be 2..36")
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - FF1's PRF is built on the raw block cipher
        self.radix = radix
        self._ecb = self._cipher.encryptor()  # ECB is stateless between blocks: reuse one context
        self._p_cache: dict[bytes, bytes] = {}

    def _prf(self, p: bytes, q: bytes) -> bytes:
        """CBC-MAC with a zero IV over P || Q (AES(P) is cached: P depends only on n and t)."""
        state = self._p_cache.get(p)
        if state is None:
            state = self._ecb.update(p)
            self._p_cache[p] = state
        for off in range(0, len(q), 16):
            x = int.from_bytes(state, "big") ^ int.from_bytes(q[off : off + 16], "big")
            state = self._ecb.update(x.to_bytes(16, "big"))
        return state

    def _round_output(self, r: bytes, d: int) -> int:
        enc = self._ecb
        s = bytearray(r)
        j = 1
        while len(s) < d:
            x = (int.from_bytes(r, "big") ^ j).to_bytes(16, "big")
            s += enc.update(x)
            j += 1
        return int.from_bytes(bytes(s[:d]), "big")

    def _params(self, n: int, tweak: bytes) -> tuple[int, int, int, int, bytes]:
        if n < 2:
            raise ValueError("FF1 needs at least two numerals")
        if self.radix**n < 1_000_000:
            raise ValueError("FF1 needs radix**n >= 1,000,000")
        u = n // 2
        v = n - u
        b = math.ceil(math.ceil(v * math.log2(self.radix)) / 8)
        d = 4 * math.ceil(b / 4) + 4
        t = len(tweak)
        p = (
            bytes([1, 2, 1])
            + self.radix.to_bytes(3, "big")
            + bytes([_ROUNDS, u % 256])
            + n.to_bytes(4, "big")
            + t.to_bytes(4, "big")
        )
        return u, v, b, d, p

    def _q(self, tweak: bytes, b: int, i: int, value: int) -> bytes:
        pad = (-len(tweak) - b - 1) % 16
        return tweak + bytes(pad) + bytes([i]) + value.to_bytes(b, "big")

    def encrypt(self, numerals: str, tweak: bytes = b"") -> str:
        digits = self._digits(numerals)
        n = len(digits)
        u, v, b, d, p = self._params(n, tweak)
        a, bb = digits[:u], digits[u:]
        for i in range(_ROUNDS):
            y = self._round_output(self._prf(p, self._q(tweak, b, i, _num(bb, self.radix))), d)
            m = u if i % 2 == 0 else v
            c = (_num(a, self.radix) + y) % (self.radix**m)
            a, bb = bb, _str(c, self.radix, m)
        return self._text(a + bb)

    def decrypt(self, numerals: str, tweak: bytes = b"") -> str:
        digits = self._digits(numerals)
        n = len(digits)
        u, v, b, d, p = self._params(n, tweak)
        a, bb = digits[:u], digits[u:]
        for i in range(_ROUNDS - 1, -1, -1):
            y = self._round_output(self._prf(p, self._q(tweak, b, i, _num(a, self.radix))), d)
            m = u if i % 2 == 0 else v
            c = (_num(bb, self.radix) - y) % (self.radix**m)
            a, bb = _str(c, self.radix, m), a
        return self._text(a + bb)

    def _digits(self, numerals: str) -> list[int]:
        try:
            digits = [int(ch, self.radix) for ch in numerals]
        except ValueError:
            raise ValueError(f"not a radix-{self.radix} numeral string") from None
        return digits

    @staticmethod
    def _text(digits: list[int]) -> str:
        return "".join("0123456789abcdefghijklmnopqrstuvwxyz"[d] for d in digits)

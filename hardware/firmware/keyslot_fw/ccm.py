"""AES-CCM (RFC 3610, NIST SP 800-38C) on an AES block function, for MicroPython's ECB-only
`cryptolib.aes`. Used with 13-byte nonces and 8-byte tags by the serial protocol and the
flash files."""


def _xor(a, b):
    return bytes([a[i] ^ b[i] for i in range(len(a))])


class CCM:
    """Seal and open with one key. `encrypt_block(block16) -> bytes16` is AES-ECB encryption."""

    def __init__(self, encrypt_block, tag_len=8):
        if tag_len not in (4, 6, 8, 10, 12, 14, 16):
            raise ValueError("bad CCM tag length")
        self._e = encrypt_block
        self.tag_len = tag_len

    def _mac(self, nonce, aad, plaintext):
        q = 15 - len(nonce)
        flags = (0x40 if aad else 0) | (((self.tag_len - 2) // 2) << 3) | (q - 1)
        b0 = bytes([flags]) + bytes(nonce) + _be(len(plaintext), q)
        x = self._e(b0)
        data = bytearray()
        if aad:
            if len(aad) >= 0xFF00:
                raise ValueError("associated data too long")
            data.extend(_be(len(aad), 2))
            data.extend(aad)
            data.extend(bytes(-len(data) % 16))
        data.extend(plaintext)
        data.extend(bytes(-len(data) % 16))
        for i in range(0, len(data), 16):
            x = self._e(_xor(x, data[i : i + 16]))
        return x[: self.tag_len]

    def _stream(self, nonce, data, first):
        """`data` XOR the counter blocks from `first` on (counter 0 masks the tag)."""
        q = 15 - len(nonce)
        head = bytes([q - 1]) + bytes(nonce)
        out = bytearray()
        counter = first
        for i in range(0, len(data), 16):
            pad = self._e(head + _be(counter, q))
            out.extend(_xor(data[i : i + 16], pad))
            counter += 1
        return bytes(out)

    def seal(self, nonce, plaintext, aad=b""):
        """Ciphertext followed by the tag."""
        if not 7 <= len(nonce) <= 13:
            raise ValueError("bad CCM nonce length")
        if len(plaintext) >= 1 << (8 * (15 - len(nonce))):
            raise ValueError("message too long for this nonce")
        tag = self._mac(nonce, aad, plaintext)
        s0 = self._stream(nonce, tag, 0)
        return self._stream(nonce, plaintext, 1) + s0

    def open(self, nonce, sealed, aad=b""):
        """The plaintext, or None when the tag does not verify."""
        if not 7 <= len(nonce) <= 13 or len(sealed) < self.tag_len:
            return None
        body = sealed[: len(sealed) - self.tag_len]
        tag = self._stream(nonce, sealed[len(sealed) - self.tag_len :], 0)
        plaintext = self._stream(nonce, body, 1)
        expected = self._mac(nonce, aad, plaintext)
        diff = 0
        for i in range(self.tag_len):
            diff |= expected[i] ^ tag[i]
        return plaintext if diff == 0 else None


def _be(value, size):
    return bytes([(value >> (8 * (size - 1 - i))) & 0xFF for i in range(size)])

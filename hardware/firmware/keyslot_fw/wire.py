"""Message body values of the serial protocol: integers, varints, text, times and codes.

Integers are big-endian; slot numbers are LEB128 varints; text is UTF-8 behind a one-byte
length (0xFF: none); times are signed 64-bit microseconds since 1970 UTC. A code is a
header byte (bit 7 clear: packed digits, set: ASCII; bits 6..0 the length) and its bytes.
"""


class BadRequest(Exception):
    """A body that does not match its message layout (answered with BAD_REQUEST)."""


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def raw(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise BadRequest("message body ends early")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self):
        return self.raw(1)[0]

    def u16(self):
        data = self.raw(2)
        return (data[0] << 8) | data[1]

    def i64(self):
        value = 0
        for byte in self.raw(8):
            value = (value << 8) | byte
        if value & (1 << 63):
            value -= 1 << 64
        return value

    def varint(self):
        value = 0
        shift = 0
        while shift < 35:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise BadRequest("varint too long")

    def text(self, n):
        data = self.raw(n)
        try:
            return data.decode("utf-8")
        except UnicodeError:
            raise BadRequest("text is not UTF-8") from None

    def optstr(self):
        n = self.u8()
        return None if n == 0xFF else self.text(n)

    def code(self):
        header = self.u8()
        length = header & 0x7F
        if header & 0x80:
            data = self.raw(length)
            for byte in data:
                if byte < 0x20 or byte > 0x7E:
                    raise BadRequest("code is not printable ASCII")
            return data.decode("ascii")
        packed = self.raw((length + 1) // 2)
        digits = []
        for byte in packed:
            digits.append(byte >> 4)
            digits.append(byte & 0x0F)
        if length % 2 and digits.pop() != 0x0F:
            raise BadRequest("bad padding in a packed code")
        for digit in digits:
            if digit > 9:
                raise BadRequest("packed code holds a non-digit")
        return "".join([str(d) for d in digits])

    def end(self):
        if self.pos != len(self.data):
            raise BadRequest("unexpected trailing bytes")


def u16(value):
    return bytes([(value >> 8) & 0xFF, value & 0xFF])


def i64(value):
    value &= (1 << 64) - 1
    return bytes([(value >> (8 * (7 - i))) & 0xFF for i in range(8)])


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def str8(text):
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > 0xFE:
        data = data[:0xFE]
    return bytes([len(data)]) + data


def optstr(text):
    return b"\xff" if text is None else str8(text)


def code(text):
    """Digits two to a byte (0xF pads an odd count); any other keypad symbol as ASCII."""
    if text and all(c in "0123456789" for c in text):
        padded = text + ("?" if len(text) % 2 else "")
        out = bytearray([len(text)])
        for i in range(0, len(padded), 2):
            low = 0x0F if padded[i + 1] == "?" else int(padded[i + 1])
            out.append((int(padded[i]) << 4) | low)
        return bytes(out)
    return bytes([0x80 | len(text)]) + text.encode("ascii")

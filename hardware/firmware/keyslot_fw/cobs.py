"""COBS (Consistent Overhead Byte Stuffing): frames hold no 0x00, so 0x00 can end them."""


def encode(data):
    """`data` with every 0x00 removed; one extra byte per 254 (no delimiter appended)."""
    out = bytearray(1)
    code_at = 0
    code = 1
    after_full = False
    for byte in data:
        after_full = False
        if byte == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
            continue
        out.append(byte)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
            after_full = True
    if after_full:
        return bytes(out[:-1])  # the data ends with a full block: no zero, no code needed
    out[code_at] = code
    return bytes(out)


def decode(block):
    """The data of one COBS block (no delimiter); ValueError if `encode` could not make it."""
    out = bytearray()
    index = 0
    length = len(block)
    if length == 0:
        raise ValueError("empty COBS block")
    while index < length:
        code = block[index]
        if code == 0:
            raise ValueError("0x00 inside a COBS block")
        end = index + code
        if end > length:
            raise ValueError("COBS block ends early")
        for i in range(index + 1, end):
            if block[i] == 0:
                raise ValueError("0x00 inside a COBS block")
        out.extend(block[index + 1 : end])
        index = end
        if code != 0xFF and index < length:
            out.append(0)
    return bytes(out)

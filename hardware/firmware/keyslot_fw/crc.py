"""CRC-16 with polynomial 0x1021, unreflected: frames (init 0xFFFF, "CCITT-FALSE") and the
slot table checksum (init 0x1D0F, as Z-Wave's User Code command class computes it)."""


def _table():
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of `data` (or continue from `crc`, or start at another init)."""
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc

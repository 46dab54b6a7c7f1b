"""What the firmware needs from its board: ticks, the time of day, randomness and AES.

`Platform` holds MicroPython's tick arithmetic (30-bit ticks that wrap), so the logic behaves
the same under CPython. `MicroPythonPlatform` is the Pico's; the host shim has its own.
"""

import os
import time

TICKS_PERIOD = 1 << 30
_HALF = TICKS_PERIOD // 2


class Platform:
    """Base: subclasses give `ticks_ms`, `wall_us` and `aes`."""

    def ticks_ms(self):
        raise NotImplementedError

    def ticks_diff(self, a, b):
        """a - b in milliseconds, right across a wrap of the tick counter."""
        return ((a - b + _HALF) % TICKS_PERIOD) - _HALF

    def ticks_add(self, ticks, delta):
        return (ticks + delta) % TICKS_PERIOD

    def wall_us(self):
        """Microseconds since 1970 UTC by the board's clock (wrong until someone sets it)."""
        raise NotImplementedError

    def random_bytes(self, n):
        return os.urandom(n)

    def aes(self, key):
        """An AES-128 encryption function for 16-byte blocks under `key` (ECB)."""
        raise NotImplementedError


class MicroPythonPlatform(Platform):
    """A MicroPython board: `time.ticks_ms`, the RTC, and `cryptolib.aes` in ECB mode."""

    def __init__(self):
        import cryptolib

        self._cipher = cryptolib.aes
        # ports count time.time() from 1970 or from 2000
        self._epoch = 0 if time.gmtime(0)[0] == 1970 else 946684800

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def ticks_add(self, ticks, delta):
        return time.ticks_add(ticks, delta)

    def wall_us(self):
        return time.time_ns() // 1000 + self._epoch * 1000000

    def aes(self, key):
        return self._cipher(bytes(key), 1).encrypt

"""The keypad: scanning a 4x4 matrix, debouncing, the entry buffer and the lockout.

Pure logic: pins are objects with MicroPython's `value()` / `value(v)` interface, times are
`ticks_ms` values compared with the platform's `ticks_diff`, so tests drive it without a
board.
"""

KEYMAP = ("123A", "456B", "789C", "*0#D")


class Matrix:
    """Rows are outputs driven low one at a time; columns are inputs with pull-ups, so a
    pressed key reads 0 on its column while its row is low."""

    def __init__(self, rows, cols, keymap=KEYMAP):
        self.rows = rows
        self.cols = cols
        self.keymap = keymap
        for row in rows:
            row.value(1)

    def scan(self):
        """The one key held now, or None (none, or several: ambiguous on a matrix)."""
        found = None
        for r, row in enumerate(self.rows):
            row.value(0)
            for c, col in enumerate(self.cols):
                if col.value() == 0:
                    if found is not None:
                        row.value(1)
                        return None
                    found = self.keymap[r][c]
            row.value(1)
        return found


class Debouncer:
    """Reports a key once it read the same for `stable` scans in a row; again only after
    every key was released for as long."""

    def __init__(self, stable=3):
        self.stable = stable
        self.last = None
        self.count = 0
        self.reported = None

    def update(self, key):
        if key == self.last:
            self.count += 1
        else:
            self.last = key
            self.count = 1
        if self.count < self.stable:
            return None
        if key is None:
            self.reported = None
            return None
        if self.reported is None:
            self.reported = key
            return key
        return None


class Entry:
    """What has been typed: `*` clears, `#` submits, a long pause or too many keys forget."""

    def __init__(self, platform, max_len=16, timeout_ms=10000):
        self.platform = platform
        self.max_len = max_len
        self.timeout_ms = timeout_ms
        self.keys = ""
        self.last_at = None

    def press(self, key):
        """The text typed before `#` when `key` is `#`, else None."""
        now = self.platform.ticks_ms()
        if (
            self.last_at is not None
            and self.platform.ticks_diff(now, self.last_at) > self.timeout_ms
        ):
            self.keys = ""
        self.last_at = now
        if key == "*":
            self.keys = ""
            return None
        if key == "#":
            typed = self.keys
            self.keys = ""
            return typed
        if len(self.keys) >= self.max_len:
            self.keys = ""  # someone is trying every key: start over
            return None
        self.keys += key
        return None


class Lockout:
    """`attempts` wrong codes in a row disable the keypad for `seconds`."""

    def __init__(self, platform, attempts, seconds):
        self.platform = platform
        self.attempts = attempts
        self.ms = int(seconds * 1000)
        self.wrong = 0
        self.until = None

    def blocked(self):
        if self.until is None:
            return False
        if self.platform.ticks_diff(self.until, self.platform.ticks_ms()) > 0:
            return True
        self.until = None
        self.wrong = 0
        return False

    def failure(self):
        """Count a wrong code; True when it starts a lockout."""
        self.wrong += 1
        if self.wrong < self.attempts:
            return False
        self.wrong = 0
        self.until = self.platform.ticks_add(self.platform.ticks_ms(), self.ms)
        return True

    def success(self):
        self.wrong = 0

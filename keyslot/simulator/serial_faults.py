"""Faults on a serial byte stream: corrupted, dropped, duplicated and late bytes; lost frames.

Line noise comes in bursts (an EMI spike hits consecutive bits), so corruption is modelled
as bursts of `burst` bytes whose starts are drawn so that `corrupt` is the expected fraction
of bytes corrupted; `burst=1` gives independent bytes. A seeded RNG makes a run replayable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from keyslot.simulator.faults import FaultSpecError

__all__ = ["ByteFaults"]

_RATES = ("corrupt", "drop_bytes", "duplicate", "drop_frames", "delay", "reboot")


@dataclass(slots=True)
class ByteFaults:
    """Rates (0..1). Per byte: `corrupt`, `drop_bytes`, `duplicate`. Per frame: `drop_frames`,
    `delay` (held back `delay_seconds`), `reboot` (the lock reboots while the frame arrives)."""

    seed: int = 0
    corrupt: float = 0.0
    burst: int = 8
    drop_bytes: float = 0.0
    duplicate: float = 0.0
    drop_frames: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 0.05
    reboot: float = 0.0
    bytes_seen: int = 0
    bytes_corrupted: int = 0
    frames_seen: int = 0
    frames_dropped: int = 0
    reboots: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _burst_left: dict[str, int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for name in _RATES:
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise FaultSpecError(f"serial fault {name}={rate} is not between 0 and 1")
        if self.burst < 1:
            raise FaultSpecError("a corruption burst is at least one byte")
        if self.delay_seconds < 0:
            raise FaultSpecError("a delay cannot be negative")

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in _RATES)

    @property
    def corrupted_fraction(self) -> float:
        """The share of bytes actually corrupted so far (to check a run matched its spec)."""
        return self.bytes_corrupted / self.bytes_seen if self.bytes_seen else 0.0

    def mangle(self, data: bytes, direction: str) -> bytes:
        """`data` as it arrives after the line: some bytes corrupted, lost or doubled."""
        if not (self.corrupt or self.drop_bytes or self.duplicate):
            self.bytes_seen += len(data)
            return data
        rng = self._rng
        start_rate = self.corrupt / self.burst
        left = self._burst_left.get(direction, 0)
        out = bytearray()
        for byte in data:
            self.bytes_seen += 1
            value = byte
            if left > 0 or (self.corrupt and rng.random() < start_rate):
                left = left - 1 if left > 0 else self.burst - 1
                value ^= rng.randrange(1, 256)
                self.bytes_corrupted += 1
            if self.drop_bytes and rng.random() < self.drop_bytes:
                continue
            out.append(value)
            if self.duplicate and rng.random() < self.duplicate:
                out.append(value)
        self._burst_left[direction] = left
        return bytes(out)

    def drop_frame(self) -> bool:
        self.frames_seen += 1
        if self.drop_frames and self._rng.random() < self.drop_frames:
            self.frames_dropped += 1
            return True
        return False

    def frame_delay(self) -> float:
        if self.delay and self._rng.random() < self.delay:
            return self.delay_seconds
        return 0.0

    def reboot_point(self, length: int) -> int | None:
        """Where in an arriving chunk of `length` bytes the lock loses power, if it does."""
        if length > 1 and self.reboot and self._rng.random() < self.reboot:
            self.reboots += 1
            return self._rng.randrange(1, length)
        return None

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> ByteFaults:
        """Faults from `corrupt:0.05,burst:8,drop_frames:0.05,delay:0.1@0.2,reboot:0.01`."""
        values: dict[str, float] = {}
        for part in (spec or "").split(","):
            if not part.strip():
                continue
            name, sep, value = part.strip().partition(":")
            if not sep:
                raise FaultSpecError(f"serial fault {part!r} needs a value, like {name}:0.05")
            if name == "delay" and "@" in value:
                value, _, seconds = value.partition("@")
                values["delay_seconds"] = _number(seconds, part)
            if name not in (*_RATES, "burst", "seed"):
                raise FaultSpecError(f"unknown serial fault {name!r}; known: {', '.join(_RATES)}")
            values[name] = _number(value, part)
        faults = cls(seed=int(values.pop("seed", seed)), burst=int(values.pop("burst", 8)))
        for key, rate in values.items():
            setattr(faults, key, rate)
        faults.__post_init__()  # validate the rates and reseed
        return faults


def _number(text: str, part: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FaultSpecError(f"serial fault {part!r}: {text!r} is not a number") from None

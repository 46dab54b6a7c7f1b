"""Fault injection for simulated locks: what a front-end does to an operation before and after
the firmware applies it.

A `FaultPlan` hangs on every `LockFirmware` (`firmware.faults`). Each front-end (the in-process
sim driver, the serial endpoint, the Z-Wave gateway, the BLE peripheral) asks it once per
operation with `decide(op, now)` and acts on the answer in its own wire terms: a lost request
is never answered, a lost reply is applied but never answered, and so on. Decisions come from
a seeded `random.Random`, so a failing run can be replayed from its seed; scripted faults
(`inject`) take precedence over the random rates, for tests that need one exact fault.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field

from keyslot.protocol.slots import (
    FinalError,
    KeyslotError,
    LockTimeout,
    LockUnavailable,
    NoFreeSlot,
)

__all__ = [
    "WRITE_OPS",
    "Decision",
    "FaultKind",
    "FaultPlan",
    "FaultSpecError",
]

# Operations that add a code to the table; only these can fail with a full table.
WRITE_OPS: frozenset[str] = frozenset({"write_slot"})


class FaultSpecError(FinalError):
    """A fault specification (`lose:0.1,delay:0.2@1.5`) that cannot be parsed."""

    code = "invalid_fault_spec"


class FaultKind(enum.StrEnum):
    LOSE = "lose"  # the request is lost: not applied, the caller times out
    LOSE_REPLY = "lose_reply"  # applied, but the answer is lost: the caller times out
    FAIL = "fail"  # the lock answers busy/failed: not applied, LockUnavailable
    OFFLINE = "offline"  # the lock is unreachable until `offline_until`
    FULL = "full"  # a write is refused because the table is full
    DELAY = "delay"  # applied, answered late


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one operation. `kind` None: apply it normally after `delay` seconds."""

    kind: FaultKind | None = None
    delay: float = 0.0

    @property
    def applies(self) -> bool:
        """Whether the firmware should carry out the operation."""
        return self.kind in (None, FaultKind.DELAY, FaultKind.LOSE_REPLY)

    def error_before(self) -> KeyslotError | None:
        """The error the caller sees when the operation is not applied (None when it is)."""
        if self.kind is FaultKind.LOSE:
            return LockTimeout("the lock did not answer (request lost)")
        if self.kind is FaultKind.FAIL:
            return LockUnavailable("the lock reported a failure; try again")
        if self.kind is FaultKind.OFFLINE:
            return LockUnavailable("the lock is offline")
        if self.kind is FaultKind.FULL:
            return NoFreeSlot("the lock reports its code table is full")
        return None

    def error_after(self) -> KeyslotError | None:
        """The error the caller sees after the operation was applied (a lost reply)."""
        if self.kind is FaultKind.LOSE_REPLY:
            return LockTimeout("the lock did not answer (reply lost; it may have applied it)")
        return None


@dataclass(slots=True)
class _Scripted:
    kind: FaultKind
    ops: frozenset[str] | None
    remaining: int
    delay: float


@dataclass(slots=True)
class FaultPlan:
    """Rates (0..1) of each fault per operation, scripted faults, and an offline window.

    `delay` is the probability of a late answer and `delay_seconds` how late. `offline_until`
    is a `Clock.monotonic()` value; until the clock passes it every operation is offline.
    """

    seed: int = 0
    lose: float = 0.0
    lose_reply: float = 0.0
    fail: float = 0.0
    full: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 1.0
    offline_until: float | None = None
    _rng: random.Random = field(init=False, repr=False)
    _script: deque[_Scripted] = field(init=False, repr=False, default_factory=deque)
    history: list[tuple[str, FaultKind | None]] = field(
        init=False, repr=False, default_factory=list
    )

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._validate()

    def _validate(self) -> None:
        for name in ("lose", "lose_reply", "fail", "full", "delay"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise FaultSpecError(f"fault rate {name}={rate} is not between 0 and 1")
        if self.delay_seconds < 0:
            raise FaultSpecError("a delay cannot be negative")

    @property
    def active(self) -> bool:
        """Whether this plan can ever change an operation (a quick path for front-ends)."""
        rates = self.lose or self.lose_reply or self.fail or self.full or self.delay
        return bool(rates or self._script or self.offline_until is not None)

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def set_rates(self, **rates: float) -> None:
        """Change rates at run time, e.g. `plan.set_rates(lose=0.2, delay=0.1)`."""
        for name, value in rates.items():
            if name not in ("lose", "lose_reply", "fail", "full", "delay", "delay_seconds"):
                raise FaultSpecError(f"unknown fault {name!r}")
            setattr(self, name, float(value))
        self._validate()

    def clear(self) -> None:
        """No more faults: rates to zero, script emptied, back online."""
        self.lose = self.lose_reply = self.fail = self.full = self.delay = 0.0
        self._script.clear()
        self.offline_until = None

    def inject(
        self,
        kind: FaultKind | str,
        *,
        ops: set[str] | frozenset[str] | None = None,
        count: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make the next `count` matching operations (`ops`, or any) suffer `kind`."""
        self._script.append(
            _Scripted(FaultKind(kind), frozenset(ops) if ops else None, count, delay)
        )

    def go_offline(self, now: float, seconds: float) -> None:
        """Unreachable from `now` (a monotonic clock value) for `seconds`."""
        self.offline_until = now + seconds

    def decide(self, op: str, now: float) -> Decision:
        """The fate of one operation named `op` (e.g. "write_slot") at monotonic time `now`."""
        decision = self._decide(op, now)
        self.history.append((op, decision.kind))
        if len(self.history) > 1000:
            del self.history[:500]
        return decision

    def _decide(self, op: str, now: float) -> Decision:
        if self.offline_until is not None:
            if now < self.offline_until:
                return Decision(FaultKind.OFFLINE)
            self.offline_until = None
        for item in self._script:
            if item.ops is None or op in item.ops:
                if item.kind is FaultKind.FULL and op not in WRITE_OPS:
                    continue
                item.remaining -= 1
                if item.remaining <= 0:
                    self._script.remove(item)
                delay = item.delay or (self.delay_seconds if item.kind is FaultKind.DELAY else 0)
                return Decision(item.kind, delay)
        if not (self.lose or self.lose_reply or self.fail or self.full or self.delay):
            return Decision()
        roll = self._rng.random()
        for kind, rate in (
            (FaultKind.LOSE, self.lose),
            (FaultKind.LOSE_REPLY, self.lose_reply),
            (FaultKind.FAIL, self.fail),
            (FaultKind.FULL, self.full if op in WRITE_OPS else 0.0),
            (FaultKind.DELAY, self.delay),
        ):
            if roll < rate:
                return Decision(kind, self.delay_seconds if kind is FaultKind.DELAY else 0.0)
            roll -= rate
        return Decision()

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> FaultPlan:
        """A plan from `lose:0.1,lose_reply:0.05,fail:0.1,full:0,delay:0.2@1.5` (URL form)."""
        plan = cls(seed=seed)
        if not spec:
            return plan
        rates: dict[str, float] = {}
        for part in spec.split(","):
            name, sep, value = part.strip().partition(":")
            if not sep:
                raise FaultSpecError(f"fault {part!r} needs a rate, like {name}:0.1")
            if name == "delay" and "@" in value:
                value, _, seconds = value.partition("@")
                rates["delay_seconds"] = _number(seconds, part)
            rates[name] = _number(value, part)
        plan.set_rates(**rates)
        return plan


def _number(text: str, part: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FaultSpecError(f"fault {part!r}: {text!r} is not a number") from None

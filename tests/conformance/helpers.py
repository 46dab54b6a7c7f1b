"""Transport-neutral helpers for the conformance suite: valid codes, free slots, bounded waits.

The code checks here are written from Seam's constraint names, independently of the
simulator, so the suite judges a lock rather than agreeing with itself. The codes come from
the run's seed (`configure_codes`): fixed for the simulator, random for a real lock, so a
code left on a real lock cannot be read out of the source.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableSequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from keyslot.protocol.slots import (
    KeyslotError,
    LockEvent,
    LockInfo,
    RetryableError,
    Slot,
)
from keyslot.simulator.firmware import LockFirmware
from tests.conformance.targets import Harness

T = TypeVar("T")
E = TypeVar("E", bound=KeyslotError)

# Real seconds a single conformance wait may take before the test fails (not a speed check:
# in-process targets answer at once, wire targets within milliseconds).
WAIT_LIMIT = 10.0
# Real seconds an operation gets before the harness clock is moved for it.
GRACE = 1.0
# The seed of the suite's codes against simulators, so a failure there replays exactly.
DEFAULT_CODE_SEED = 7


@dataclass
class CodeSettings:
    """Where this run's codes come from and who else must know them (to keep them secret).

    Each sink (a plugin's `suite_codes` list, e.g. `keyslot bench`'s) receives every code
    issued, so the bench can make sure none of them reaches its report or log.
    """

    seed: int = DEFAULT_CODE_SEED
    sinks: list[MutableSequence[str]] = field(default_factory=list)


_settings: list[CodeSettings] = [CodeSettings()]


def configure_codes(seed: int, sinks: Iterable[MutableSequence[str]] = ()) -> None:
    """Use `seed` for the codes of this pytest session (until `restore_codes`)."""
    _settings.append(CodeSettings(seed, list(sinks)))


def restore_codes() -> None:
    """Back to the settings before the last `configure_codes` (sessions may nest)."""
    if len(_settings) > 1:
        _settings.pop()


def code_settings() -> CodeSettings:
    return _settings[-1]


class ForeignSlotError(AssertionError):
    """The suite tried to change a slot it had not filled itself (on a real lock)."""


def _breaks(constraint: str, code: str, issued: Iterable[str]) -> bool:
    digits = [int(c) for c in code if c.isdigit()]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    runs = any(
        a == b == c or (b - a == c - b and abs(b - a) == 1)
        for a, b, c in zip(digits, digits[1:], digits[2:], strict=False)
    )
    checks: dict[str, bool] = {
        "no_zeros": "0" in code,
        "cannot_start_with_12": code.startswith("12"),
        "no_triple_consecutive_ints": runs,
        "no_ascending_or_descending_sequence": steps in ({1}, {-1}),
        "at_least_three_unique_digits": len(set(code)) < 3,
        "cannot_contain_089": any(d in code for d in "089"),
        "cannot_contain_0789": any(d in code for d in "0789"),
        "unique_first_four_digits": any(o[:4] == code[:4] for o in issued),
        "no_all_same_digits": len(set(code)) == 1,
    }
    return checks.get(constraint, False)


class CodeFactory:
    """Distinct codes that the lock described by `info` should accept."""

    def __init__(self, info: LockInfo, seed: int | None = None) -> None:
        settings = code_settings()
        self.info = info
        self._rng = random.Random(settings.seed if seed is None else seed)
        self._sinks = settings.sinks
        self.issued: list[str] = []
        lengths = info.code_lengths
        self.length = 6 if 6 in lengths else max(lengths)

    def valid(self, code: str) -> bool:
        return len(code) in self.info.code_lengths and not any(
            _breaks(c, code, self.issued) for c in self.info.constraints
        )

    def __call__(self, length: int | None = None) -> str:
        length = length or self.length
        for _ in range(10_000):
            code = "".join(self._rng.choice(self.info.alphabet) for _ in range(length))
            if code not in self.issued and self.valid(code) and len(set(code)) >= 3:
                self.issued.append(code)
                for sink in self._sinks:
                    sink.append(code)
                return code
        raise AssertionError("could not find a code this lock accepts")

    def breaking(self) -> list[tuple[str, str]]:
        """(reason, code) pairs the lock must refuse: wrong lengths, foreign characters,
        and each known constraint broken."""
        info = self.info
        base = self()
        self.issued.remove(base)
        bad: list[tuple[str, str]] = []
        too_long = max(info.code_lengths) + 1
        bad.append(("too long", (base * 4)[:too_long]))
        if min(info.code_lengths) > 1:
            bad.append(("too short", base[: min(info.code_lengths) - 1]))
        foreign = next(ch for ch in "AZ#*x" if ch not in info.alphabet)
        bad.append(("foreign character", foreign + base[1:]))
        samples = {
            "no_zeros": "0" + base[1:],
            "cannot_start_with_12": "12" + base[2:],
            "no_all_same_digits": base[0] * len(base),
            "no_ascending_or_descending_sequence": "".join(
                str((3 + i) % 10) for i in range(len(base))
            ),
        }
        for constraint in info.constraints:
            sample = samples.get(constraint)
            if sample is not None and _breaks(constraint, sample, ()):
                bad.append((constraint, sample))
        return bad


def same_code(actual: str | None, expected: str, what: str) -> None:
    """Fail unless `actual` is `expected`, without either code in the message.

    A plain `assert` would have pytest print both values, into a bench log on a real lock;
    so would the arguments of this frame in a long traceback, hence it is hidden.
    """
    __tracebackhide__ = True
    if actual != expected:
        held = "no code" if actual is None else "a different code"
        raise AssertionError(f"{what}: the lock reports {held} instead of the one written")


def on_real_lock(h: Harness) -> bool:
    """True on hardware, where slots the suite did not fill are someone's codes."""
    return h.firmware is None


def needs_firmware(h: Harness) -> LockFirmware:
    """The simulator behind the harness, or skip (a real lock has no keypad we can press)."""
    if h.firmware is None:
        pytest.skip("needs control of the lock firmware (simulator targets only)")
    return h.firmware


async def free_slots(h: Harness) -> list[int]:
    return [s.index for s in await h.lock.read_slots() if not s.occupied]


async def slot_at(h: Harness, index: int) -> Slot:
    slots = {s.index: s for s in await h.lock.read_slots()}
    return slots[index]


def check_taxonomy(exc: BaseException) -> None:
    """Every error a driver raises is a KeyslotError; retryable ones are RetryableError."""
    assert isinstance(exc, KeyslotError), f"{type(exc).__name__} escaped the driver: {exc}"
    assert exc.retryable == isinstance(exc, RetryableError), type(exc).__name__
    assert isinstance(exc.code, str)
    assert exc.code


async def expect_error(h: Harness, aw: Awaitable[Any], kind: type[E]) -> E:
    """Await `aw` (moving the clock if it waits on it) and return the error it must raise."""
    raised: BaseException | None = None
    try:
        await within(h, aw)
    except ForeignSlotError:
        raise
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the check itself is being stopped (its time ran out)
        raise AssertionError("CancelledError escaped the driver") from None
    except BaseException as exc:  # noqa: BLE001 - a foreign error escaping is what we check
        raised = exc
    if raised is None:
        raise AssertionError(f"expected {kind.__name__}, nothing was raised")
    check_taxonomy(raised)
    assert isinstance(raised, kind), f"expected {kind.__name__}, got {type(raised).__name__}"
    return raised


async def within(h: Harness, aw: Awaitable[T], limit: float = WAIT_LIMIT) -> T:
    """Run `aw` to completion, moving the harness clock only while `aw` waits on it.

    The clock stays still for the first second of real time, so a driver's reply timeout
    cannot fire while a real wire is still carrying the answer; after that the clock jumps
    to the next sleeper's deadline (a lost request's timeout, a latency, a backoff).
    """
    task: asyncio.Future[T] = asyncio.ensure_future(aw)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        await asyncio.wait({task}, timeout=min(GRACE, limit))
        while not task.done():
            if loop.time() - start > limit:
                raise AssertionError(f"the lock did not answer within {limit} s")
            next_deadline = getattr(h.clock, "next_deadline", lambda: None)()
            await h.advance(0.5 if next_deadline is None else max(next_deadline, 0.01))
            await asyncio.wait({task}, timeout=0.05)
    finally:
        if not task.done():
            task.cancel()
    return task.result()


async def wait_event(
    h: Harness, stream: AsyncIterator[LockEvent], match: Callable[[LockEvent], bool]
) -> LockEvent:
    """The next event on `stream` that `match`es (others are skipped), within WAIT_LIMIT."""

    async def find() -> LockEvent:
        async for event in stream:
            if match(event):
                return event
        raise AssertionError("the event stream ended before the event came")

    return await within(h, find())

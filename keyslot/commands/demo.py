"""`keyslot demo`: simulated locks of every profile, programmed through the driver interface.

Each section is a function taking the shared `Demo` and appending what it shows; add a
section by writing one more function and listing it in `SECTIONS`. Codes are printed only
masked (`••••21`), never whole.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TextIO

from keyslot.drivers import open_lock
from keyslot.drivers.sim import SimLock
from keyslot.protocol.clock import ManualClock, utcnow
from keyslot.protocol.slots import KeyslotError, Slot, SlotEntry, SlotProgrammer
from keyslot.simulator.firmware import LockFirmware

PROFILES = ("kwikset", "nuki", "schlage", "split")

# (slot, code, name) written to every lock of that profile; each set obeys that lock's rules
PLAN: dict[str, list[tuple[int, str, str | None]]] = {
    "kwikset": [
        (1, "482193", "Maximilian Featherstone"),
        (2, "7351", "Cleaner"),
        (3, "95172468", "Dog walker"),
    ],
    "nuki": [
        (1, "345678", "Zoë Ångström-Øvergaard"),
        (2, "563421", "Ben"),
        (3, "978563", "Håkon Ødegård"),
    ],
    "schlage": [(1, "48213579", "Front desk"), (2, "73514", None)],
    "split": [
        (1, "86420", "Mary Ann Smithsonian-Jones"),
        (2, "135792", "Cher"),
        (3, "24689", "Jean-Baptiste Poquelin"),
    ],
}


def mask(code: str | None, *, masked_by_lock: bool = False) -> str:
    """A code as the demo may print it: the last two digits of a long code, nothing of a
    short one, and never its length."""
    if masked_by_lock:
        return "**********"
    if not code:
        return ""
    return "••••" + code[-2:] if len(code) >= 6 else "••••"


@dataclass
class Demo:
    """What the sections share: the clock, the open locks and the names that were asked for."""

    out: TextIO
    clock: ManualClock
    locks: dict[str, SlotProgrammer] = field(default_factory=dict)
    asked: dict[tuple[str, int], str | None] = field(default_factory=dict)

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def firmware_of(self, profile: str) -> LockFirmware | None:
        """The simulated firmware behind a lock, to press its keypad (None for other drivers)."""
        lock = self.locks.get(profile)
        return lock.firmware if isinstance(lock, SimLock) else None


async def section_program(demo: Demo) -> None:
    """Open one simulated lock per profile and write the planned codes through the interface."""
    demo.say("Programming simulated locks through open_lock('sim://…'):")
    for profile in PROFILES:
        lock = await open_lock(f"sim://{profile}", clock=demo.clock)
        demo.locks[profile] = lock
        info = await lock.info()
        written = 0
        for index, code, name in PLAN[profile]:
            await lock.write_slot(index, SlotEntry(code, name))
            demo.asked[(profile, index)] = name
            written += 1
        demo.say(
            f"  {profile:<8} {info.vendor} {info.model}: {written} codes written "
            f"({info.slot_count} slots, codes of {_lengths(info.code_lengths)} digits)"
        )
    demo.say()


async def section_refusals(demo: Demo) -> None:
    """What locks refuse: a duplicate code, and a new code on a full lock."""
    demo.say("What the locks refuse:")
    kwikset = demo.locks["kwikset"]
    demo.say("  " + await _attempt(kwikset, "kwikset", 4, SlotEntry("7351", "Second cleaner")))
    nuki = demo.locks["nuki"]
    rng = random.Random(7)  # demo codes only; real codes come from keyslot's generator
    codes = (
        code
        for code in ("".join(rng.choice("123456789") for _ in range(6)) for _ in iter(int, 1))
        if not code.startswith("12")
    )
    filled = 0
    for slot in await nuki.read_slots():
        if slot.occupied:
            continue
        try:
            await nuki.write_slot(slot.index, SlotEntry(next(codes), f"Guest {slot.index}"))
            demo.asked[("nuki", slot.index)] = f"Guest {slot.index}"
            filled += 1
        except KeyslotError as exc:
            demo.say(f"  nuki: filled {filled} more slots, then slot {slot.index}: {_why(exc)}")
            break
    demo.say()


async def section_keypad(demo: Demo) -> None:
    """Someone at the keypad: a code that opens the lock and one that does not."""
    demo.say("At the keypad:")
    for profile, code in (("kwikset", "7351"), ("split", "86420"), ("nuki", "999999")):
        firmware = demo.firmware_of(profile)
        if firmware is None:
            continue
        result = firmware.enter(code)
        if result.unlocked:
            demo.say(f"  {profile:<8} {mask(code)} → unlocked (slot {result.slot})")
        else:
            demo.say(f"  {profile:<8} {mask(code)} → refused ({result.reason})")
    demo.say()


async def section_table(demo: Demo) -> None:
    """What every lock now holds, read back through the interface."""
    demo.say("What each lock holds (read back with read_slots):")
    for profile, lock in demo.locks.items():
        info = await lock.info()
        slots = [s for s in await lock.read_slots() if s.occupied]
        active = f"{len(slots)}/{info.slot_count} slots used"
        shown = "codes masked by the lock" if not info.codes_readable else "codes readable"
        demo.say(f"  {profile} — {info.vendor} {info.model} ({active}, {shown})")
        demo.say(f"    {'slot':>4}  {'code':<11} {'name on the lock':<24} note")
        for slot in slots:
            demo.say("    " + _row(slot, demo.asked.get((profile, slot.index))))
    demo.say()


def _row(slot: Slot, asked: str | None) -> str:
    code = mask(slot.code, masked_by_lock=slot.code_masked)
    name = slot.name or "—"
    note = ""
    if slot.first_name is not None:
        note = f"first {slot.first_name!r}, " + (
            f"last {slot.last_name!r}" if slot.last_name else "no last name"
        )
    if asked and slot.name is None:
        note = "this lock keeps no names"
    elif asked and slot.name != asked:
        note = f"asked for {asked!r}" + (f"; {note}" if note else "")
    return f"{slot.index:>4}  {code:<11} {name:<24} {note}".rstrip()


def _lengths(lengths: tuple[int, ...]) -> str:
    if len(lengths) == 1:
        return str(lengths[0])
    return f"{lengths[0]} to {lengths[-1]}"


def _why(exc: KeyslotError) -> str:
    return f"refused, {type(exc).__name__}: {exc.message}"


async def _attempt(lock: SlotProgrammer, profile: str, index: int, entry: SlotEntry) -> str:
    try:
        await lock.write_slot(index, entry)
    except KeyslotError as exc:
        return f"{profile}: slot {index} with a code already in use: {_why(exc)}"
    return f"{profile}: slot {index} accepted"


async def section_lifecycle(demo: Demo) -> None:
    """The reconciler at work: codes set, scheduled, failing and re-set, on a fast clock."""
    from keyslot.demo_lifecycle import run_lifecycle_demo

    await run_lifecycle_demo(demo.out)


Section = Callable[[Demo], Awaitable[None]]
SECTIONS: list[Section] = [
    section_program,
    section_refusals,
    section_keypad,
    section_table,
    section_lifecycle,
]


async def run_demo(out: TextIO, sections: list[Section] | None = None) -> None:
    demo = Demo(out=out, clock=ManualClock(utcnow().replace(microsecond=0)))
    try:
        for section in sections or SECTIONS:
            await section(demo)
    finally:
        for lock in demo.locks.values():
            await lock.aclose()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Runs in memory; nothing is written to disk and no code is printed whole."


def run(args: argparse.Namespace) -> int:
    del args
    # The demo prints every retry and failure itself; the workers' log lines would repeat them.
    logger = logging.getLogger("keyslot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        asyncio.run(run_demo(sys.stdout))
    finally:
        logger.setLevel(level)
    return 0

"""What the planner reasons about: a code as its owner wants it, and keyslot's record of its slot.

A `SlotRecord` is keyslot's own memory of a slot it programmed; it is committed before a write
is sent (phase `writing`) so that a restart can tell an applied-but-uncommitted write from a
free slot, and it holds only a keyed fingerprint of the PIN, never the PIN.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyslot.protocol.slots import Schedule, Slot, SlotEntry

__all__ = [
    "CodeSpec",
    "Content",
    "Fingerprint",
    "Phase",
    "Shown",
    "SlotRecord",
    "SlotState",
    "SlotStateError",
    "memo",
    "shown_of",
]


class SlotStateError(ValueError):
    """A stored slot state that this reconciler cannot read (damaged or from a newer one)."""


# A keyed digest of a PIN (the store's `Cipher.fingerprint`); equal PINs give equal digests.
Fingerprint = Callable[[str], str]


def memo(fingerprint: Fingerprint) -> Fingerprint:
    """`fingerprint` with a memory, for one pass: a keyed digest costs an HMAC each time."""
    seen: dict[str, str] = {}

    def cached(code: str) -> str:
        digest = seen.get(code)
        if digest is None:
            digest = seen[code] = fingerprint(code)
        return digest

    return cached


class Phase(enum.StrEnum):
    SET = "set"  # committed: the lock holds this content
    WRITING = "writing"  # a write of this content was sent; the outcome is not committed yet
    CLEARING = "clearing"  # a clear was sent; the outcome is not committed yet


@dataclass(frozen=True, slots=True)
class Shown:
    """A name exactly as the lock shows it (what becomes the access code's `appearance`)."""

    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    @property
    def empty(self) -> bool:
        return self.name is None and self.first_name is None and self.last_name is None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "first_name": self.first_name, "last_name": self.last_name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shown:
        return cls(data.get("name"), data.get("first_name"), data.get("last_name"))


def shown_of(slot: Slot) -> Shown:
    return Shown(slot.name, slot.first_name, slot.last_name)


def _schedule_json(schedule: Schedule | None) -> list[str] | None:
    if schedule is None:
        return None
    return [schedule.starts_at.isoformat(), schedule.ends_at.isoformat()]


def _schedule_of(value: Any) -> Schedule | None:
    if value is None:
        return None
    starts, ends = value
    return Schedule(datetime.fromisoformat(starts), datetime.fromisoformat(ends))


@dataclass(frozen=True, slots=True)
class Content:
    """What keyslot puts into a slot for one access code."""

    code: str = field(repr=False)
    name: str | None = None
    schedule: Schedule | None = None
    one_time: bool = False  # the lock itself removes the code after its first use

    def entry(self) -> SlotEntry:
        return SlotEntry(
            code=self.code, name=self.name, schedule=self.schedule, one_time=self.one_time
        )

    def __repr__(self) -> str:
        code = f"<{len(self.code)} chars>"
        return (
            f"Content(code={code}, name={self.name!r}, schedule={self.schedule!r}, "
            f"one_time={self.one_time})"
        )


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """keyslot's record of the slot an access code occupies on its lock.

    `fresh` marks a write into a slot that was empty, so that an occupied slot found after a
    crash proves the write landed even where codes read back masked. `tampered` says a keypad
    event reported a change the lock cannot show (masked codes). `unverified` says such a
    change may have happened unseen, or not: the content is written again, nothing reported.
    """

    index: int
    phase: Phase
    code_fp: str
    name: str | None = None
    schedule: Schedule | None = None
    shown: Shown | None = None
    fresh: bool = False
    tampered: bool = False
    unverified: bool = False

    def holds(self, content: Content, fingerprint: Fingerprint) -> bool:
        """Whether this record describes exactly `content`."""
        return (
            self.code_fp == fingerprint(content.code)
            and self.name == content.name
            and self.schedule == content.schedule
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "phase": self.phase.value,
            "code_fp": self.code_fp,
            "name": self.name,
            "schedule": _schedule_json(self.schedule),
            "shown": None if self.shown is None else self.shown.to_json(),
            "fresh": self.fresh,
            "tampered": self.tampered,
        }
        if self.unverified:  # only when set, so other records read back unchanged
            out["unverified"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlotRecord:
        shown = data.get("shown")
        return cls(
            index=int(data["index"]),
            phase=Phase(data["phase"]),
            code_fp=str(data["code_fp"]),
            name=data.get("name"),
            schedule=_schedule_of(data.get("schedule")),
            shown=None if shown is None else Shown.from_json(shown),
            fresh=bool(data.get("fresh", False)),
            tampered=bool(data.get("tampered", False)),
            unverified=bool(data.get("unverified", False)),
        )


@dataclass(frozen=True, slots=True)
class SlotState:
    """What the reconciler keeps per access code in the store (`CodeRecord.slot_state`).

    `refused` and `removal_accepted` hold a key of the content (PIN fingerprint and name) they
    were decided for, so both lapse by themselves when the owner changes the code. `spent`
    marks a one-time code that has been used: it never goes on the lock again.
    """

    record: SlotRecord | None = None
    refused: str | None = None
    removal_accepted: str | None = None
    spent: bool = False

    VERSION = 1

    @property
    def empty(self) -> bool:
        return (
            self.record is None
            and self.refused is None
            and self.removal_accepted is None
            and not self.spent
        )

    def to_json(self) -> dict[str, Any] | None:
        if self.empty:
            return None
        out: dict[str, Any] = {
            "v": self.VERSION,
            "slot": None if self.record is None else self.record.to_json(),
            "refused": self.refused,
            "removal_accepted": self.removal_accepted,
        }
        if self.spent:  # only when set, so older records read back unchanged
            out["spent"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SlotState:
        if not data:
            return cls()
        if data.get("v") != cls.VERSION:
            raise SlotStateError(f"slot state version {data.get('v')!r} is not {cls.VERSION}")
        try:
            slot = data.get("slot")
            return cls(
                record=None if slot is None else SlotRecord.from_json(slot),
                refused=data.get("refused"),
                removal_accepted=data.get("removal_accepted"),
                spent=bool(data.get("spent", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SlotStateError(f"a stored slot state is damaged: {exc}") from None


@dataclass(frozen=True, slots=True)
class CodeSpec:
    """One managed access code of a device: the owner's wish plus keyslot's slot record.

    `hold` says a final error stands for the current content (e.g. code_constraints_violated):
    the same write would fail the same way, so none is sent until the code changes.
    `removal_accepted` says a removal at the keypad was accepted (external modification allowed).
    `one_time`: the code opens the lock once; `spent`: it has (so it stays off the lock).
    """

    access_code_id: str
    code: str | None = field(repr=False)
    name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    removing: bool = False
    prefer_native_scheduling: bool = True
    allow_external_modification: bool = False
    hold: bool = False
    removal_accepted: bool = False
    record: SlotRecord | None = None
    one_time: bool = False
    spent: bool = False

    @property
    def time_bound(self) -> bool:
        return self.starts_at is not None and self.ends_at is not None

    def __repr__(self) -> str:
        code = "None" if self.code is None else f"<{len(self.code)} chars>"
        return (
            f"CodeSpec(access_code_id={self.access_code_id!r}, code={code}, name={self.name!r}, "
            f"starts_at={self.starts_at!r}, ends_at={self.ends_at!r}, removing={self.removing}, "
            f"hold={self.hold}, record={self.record!r})"
        )

"""LockFirmware: the device side of a keypad lock, in pure Python, for every front-end.

It keeps a slot table and applies a vendor profile's rules the way the lock's own firmware
would: code lengths and constraints, duplicates, a cap on active codes, names cut or
refused, native schedules, one-time codes, offline PINs (profiles that have them, see
`simulator.offline`), a keypad with an escalating lockout after wrong codes, and events for
everything that happens at the keypad. It is synchronous and not thread-safe:
front-ends call it from their event loop. With a `state_path` it saves itself (encrypted)
after every change, so a simulated lock outlives its process.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keyslot.protocol.clock import Clock
from keyslot.protocol.offline_pin import Verdict
from keyslot.protocol.slots import (
    DuplicateCode,
    LockEvent,
    LockEventKind,
    LockInfo,
    NameRejected,
    NoFreeSlot,
    NotSupported,
    Schedule,
    Slot,
    SlotEntry,
    SlotNotFound,
    SlotRejected,
    SlotStatus,
    WriteConfirmation,
)
from keyslot.simulator.faults import FaultPlan
from keyslot.simulator.lockout import KeypadGuard
from keyslot.simulator.offline import OfflinePins
from keyslot.simulator.profiles import Profile, get_profile
from keyslot.simulator.rules import FittedName, check_code, fit_name
from keyslot.simulator.state import (
    SimulatorStateError,
    read_state,
    replace_state,
    seal_state,
    write_state,
)

__all__ = ["EntryResult", "LockFirmware", "StoredCode", "crc16_aug_ccitt", "user_code_checksum"]

log = logging.getLogger(__name__)

EventCallback = Callable[[LockEvent], None]

REASON_UNKNOWN = "unknown_code"
REASON_EXPIRED = "expired_code"
REASON_LOCKOUT = "too_many_attempts"
REASON_CLEARED = "offline_codes_cleared"  # a clear-all code: no unlock, not a wrong entry


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What the keypad did with an entered code."""

    unlocked: bool
    slot: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoredCode:
    """One occupied slot as the firmware holds it (the real code, whatever the wire shows)."""

    code: str
    name: FittedName | None = None
    schedule: Schedule | None = None
    one_time: bool = False
    enabled: bool = True

    def __repr__(self) -> str:
        return f"StoredCode(code=<hidden>, name={self.name!r}, one_time={self.one_time})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": None if self.name is None else self.name.name,
            "first_name": None if self.name is None else self.name.first_name,
            "last_name": None if self.name is None else self.name.last_name,
            "schedule": None
            if self.schedule is None
            else [self.schedule.starts_at.isoformat(), self.schedule.ends_at.isoformat()],
            "one_time": self.one_time,
            "enabled": self.enabled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredCode:
        name = None
        if data.get("name") is not None:
            name = FittedName(data["name"], data.get("first_name"), data.get("last_name"))
        schedule = None
        if data.get("schedule"):
            starts, ends = data["schedule"]
            schedule = Schedule(datetime.fromisoformat(starts), datetime.fromisoformat(ends))
        return cls(
            code=str(data["code"]),
            name=name,
            schedule=schedule,
            one_time=bool(data.get("one_time", False)),
            enabled=bool(data.get("enabled", True)),
        )


def user_code_checksum(slots: dict[int, StoredCode]) -> int:
    """Z-Wave User Code CC v2 checksum: CRC-16-CCITT (poly 0x1021, init 0x1D0F) over every
    occupied slot ascending as userId u16 BE, status byte, code ASCII; 0 when none is."""
    if not slots:
        return 0
    data = bytearray()
    for index in sorted(slots):
        stored = slots[index]
        data += index.to_bytes(2, "big")
        data.append(1 if stored.enabled else 2)
        data += stored.code.encode("ascii", errors="replace")
    return crc16_aug_ccitt(bytes(data))


def crc16_aug_ccitt(data: bytes) -> int:
    """CRC-16-CCITT with poly 0x1021 and init 0x1D0F, unreflected (binascii does the work)."""
    return binascii.crc_hqx(data, 0x1D0F)


class LockFirmware:
    """A simulated keypad lock of one `Profile`.

    With a `state_path` that exists, the lock resumes the saved state (its profile must
    match; `lock_id` stays the one given). `faults` is the plan front-ends consult per
    operation; the firmware itself never applies it.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        clock: Clock,
        lock_id: str = "sim",
        state_path: Path | str | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.profile = profile
        self.lock_id = lock_id
        self.clock = clock
        self.state_path = Path(state_path) if state_path is not None else None
        self.faults = faults if faults is not None else FaultPlan()
        self.boot_count = 0
        self._slots: dict[int, StoredCode] = {}
        self._clock_offset = timedelta(0)
        self._guard = KeypadGuard(profile)
        self._offline = OfflinePins()
        self._subscribers: list[EventCallback] = []
        self._deferring = False
        self._dirty = False
        self._flush_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        if self.state_path is not None and self.state_path.exists():
            self._restore(read_state(self.state_path))

    def __repr__(self) -> str:
        return f"LockFirmware({self.profile.name!r}, lock_id={self.lock_id!r})"

    # ------------------------------------------------------------------ capabilities

    def info(self) -> LockInfo:
        return self.profile.info(self.lock_id)

    def pair_offline(self, host_public: bytes) -> bytes:
        """Agree the offline-PIN secret with a gateway (X25519, salt: the serial number);
        returns the lock's public key. A new pairing replaces the old secret."""
        if not self.profile.offline_pins:
            raise NotSupported("this lock has no offline PINs")
        public = self._offline.pair(host_public, self.info().serial_number)
        self._persist()
        return public

    @property
    def offline(self) -> OfflinePins:
        """The lock's offline PIN keys and verifier (read-only use: tests, front-ends)."""
        return self._offline

    @property
    def occupied(self) -> int:
        """How many slots hold a code."""
        return len(self._slots)

    def stored(self, index: int) -> StoredCode | None:
        """The real content of a slot, for front-ends that must encode it (never log it)."""
        self._check_index(index)
        return self._slots.get(index)

    # ------------------------------------------------------------------ slot table

    def _check_index(self, index: int) -> None:
        if index not in self.profile.slot_range:
            rng = self.profile.slot_range
            raise SlotNotFound(
                f"slot {index} does not exist; this lock has slots {rng.start}..{rng.stop - 1}",
                slot=index,
            )

    def _view(self, index: int, confirmation: WriteConfirmation) -> Slot:
        stored = self._slots.get(index)
        if stored is None:
            return Slot(index=index, confirmation=confirmation)
        masked = not self.profile.codes_readable
        name = stored.name
        return Slot(
            index=index,
            status=SlotStatus.ENABLED if stored.enabled else SlotStatus.DISABLED,
            code=None if masked else stored.code,
            code_masked=masked,
            name=None if name is None else name.name,
            first_name=None if name is None else name.first_name,
            last_name=None if name is None else name.last_name,
            schedule=stored.schedule,
            one_time=stored.one_time,
            confirmation=confirmation,
        )

    def read_slots(self) -> list[Slot]:
        return [self._view(i, WriteConfirmation.CONFIRMED) for i in self.profile.slot_range]

    def read_slot(self, index: int) -> Slot:
        self._check_index(index)
        return self._view(index, WriteConfirmation.CONFIRMED)

    def _prepare(
        self,
        index: int,
        code: str,
        name: str | None,
        *,
        schedule: Schedule | None = None,
        one_time: bool = False,
        enabled: bool = True,
    ) -> StoredCode:
        """What `index` would hold after the write, or the error the lock answers with."""
        self._check_index(index)
        profile = self.profile
        if schedule is not None:
            if not profile.native_schedules:
                raise NotSupported("this lock cannot enforce a schedule itself")
            if schedule.ends_at <= schedule.starts_at:
                raise SlotRejected(
                    "the schedule ends before it starts", code="invalid_schedule", slot=index
                )
        if one_time and not profile.one_time_codes:
            raise NotSupported("this lock has no one-time codes")
        others = {i: s for i, s in self._slots.items() if i != index}
        for other_index, other in others.items():
            if other.code == code:
                raise DuplicateCode(
                    f"slot {other_index} already holds this code",
                    slot=index,
                    existing_slot=other_index,
                )
        check_code(
            code,
            lengths=profile.code_lengths,
            alphabet=profile.alphabet,
            constraints=profile.constraints,
            others=[s.code for s in others.values()],
            slot=index,
        )
        if index not in self._slots and len(self._slots) >= profile.active_limit:
            raise NoFreeSlot(f"the lock holds {len(self._slots)} codes, its maximum", slot=index)
        fitted = None
        rules = profile.name_rules
        if rules is not None:
            fitted = fit_name(name, rules, slot=index)
            if fitted is not None and rules.unique:
                wanted = fitted.name.casefold()
                for other_index, other in others.items():
                    if other.name is not None and other.name.name.casefold() == wanted:
                        raise NameRejected(
                            f"slot {other_index} already has this name; names must be unique",
                            slot=index,
                        )
        return StoredCode(code, fitted, schedule, one_time, enabled)

    def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        """Program a slot as a controller would; returns what the slot now holds."""
        stored = self._prepare(
            index,
            entry.code,
            entry.name,
            schedule=entry.schedule,
            one_time=entry.one_time,
            enabled=entry.enabled,
        )
        if self._slots.get(index) == stored:
            return self._view(index, WriteConfirmation.NO_CHANGE)
        self._slots[index] = stored
        self._persist()
        return self._view(index, WriteConfirmation.CONFIRMED)

    def clear_slot(self, index: int) -> None:
        self._check_index(index)
        if self._slots.pop(index, None) is not None:
            self._persist()

    def clear_all(self) -> None:
        if self._slots:
            self._slots.clear()
            self._persist()

    def checksum(self) -> int:
        return user_code_checksum(self._slots)

    # ------------------------------------------------------------------ the lock's clock

    def set_clock(self, now: datetime) -> None:
        """Set the lock's clock; native schedules are judged against it."""
        if now.tzinfo is None:
            raise ValueError("the lock clock needs a timezone-aware time")
        self._clock_offset = now - self.clock.now()
        self._persist()

    def now(self) -> datetime:
        return self.clock.now() + self._clock_offset

    # ------------------------------------------------------------------ the keypad

    def _find(self, code: str) -> int | None:
        for index, stored in self._slots.items():
            if stored.enabled and stored.code == code:
                return index
        return None

    def enter(self, code: str, at: datetime | None = None) -> EntryResult:
        """Someone types `code` on the keypad (at the lock's time `at`, default now).

        The slot table is tried first, then the offline verifier of a paired offline-PIN
        lock; a refused offline code counts toward the lockout like an unknown one.
        """
        at = self.now() if at is None else at
        if self._guard.blocked(at):
            return self._deny(at, REASON_LOCKOUT, None)
        index = self._find(code)
        if index is None:
            verdict = self._offline.verify(code, at) if self.profile.offline_pins else None
            if verdict is not None:
                return self._enter_offline(verdict, at)
            return self._wrong(at, REASON_UNKNOWN)
        stored = self._slots[index]
        if stored.schedule is not None and not stored.schedule.contains(at):
            return self._deny(at, REASON_EXPIRED, index)
        self._right_code()
        self._emit(LockEventKind.KEYPAD_UNLOCK, at, slot=index)
        if stored.one_time:
            del self._slots[index]
            self._persist()
            self._emit(LockEventKind.ONE_TIME_CODE_USED, at, slot=index)
        return EntryResult(unlocked=True, slot=index)

    def _enter_offline(self, verdict: Verdict, at: datetime) -> EntryResult:
        """Outside its window (or a one-time code used before) is `expired_code`."""
        if not verdict.accepted:
            reason = REASON_UNKNOWN if verdict.reason == REASON_UNKNOWN else REASON_EXPIRED
            return self._wrong(at, reason, offline=True)
        self._guard.right()
        self._persist()  # the used-code table (or the generation) changed
        if verdict.cleared:
            self._emit(LockEventKind.ALL_CODES_DELETED, at, offline_code=True)
            return EntryResult(unlocked=False, reason=REASON_CLEARED)
        self._emit(LockEventKind.KEYPAD_UNLOCK, at, offline_code=True)
        return EntryResult(unlocked=True)

    def _wrong(self, at: datetime, reason: str, *, offline: bool = False) -> EntryResult:
        """A wrong entry: denied, and the keypad locks after a run of them (escalating)."""
        result = self._deny(at, reason, None, offline=offline)
        if self._guard.wrong(at):
            self._persist()  # the escalation step survives a reboot
            self._emit(LockEventKind.LOCKOUT, at)
        return result

    def _right_code(self) -> None:
        if self._guard.right():
            self._persist()

    def _deny(
        self, at: datetime, reason: str, slot: int | None, *, offline: bool = False
    ) -> EntryResult:
        self._emit(LockEventKind.ACCESS_DENIED, at, slot=slot, reason=reason, offline_code=offline)
        return EntryResult(unlocked=False, slot=slot, reason=reason)

    @property
    def locked_out_until(self) -> datetime | None:
        """When the keypad accepts codes again after a lockout (None: it does now)."""
        return self._guard.until(self.now())

    # ------------------------------------------------------------------ at the lock itself

    def manager_set(self, index: int, code: str, name: str | None = None) -> None:
        """A manager programs a code at the keypad; keyslot did not ask for it.

        The lock's rules apply as for any write; an existing name is kept when none is given.
        """
        existing = self._slots.get(index) if index in self.profile.slot_range else None
        if name is None and existing is not None and existing.name is not None:
            name = existing.name.name
        stored = self._prepare(index, code, name)
        self._slots[index] = stored
        self._persist()
        kind = LockEventKind.CODE_CHANGED if existing is not None else LockEventKind.CODE_ADDED
        self._emit(kind, self.now(), slot=index)

    def manager_delete(self, index: int) -> None:
        """A manager deletes a code at the keypad (nothing happens to an empty slot)."""
        self._check_index(index)
        if self._slots.pop(index, None) is not None:
            self._persist()
            self._emit(LockEventKind.CODE_DELETED, self.now(), slot=index)

    def reboot(self) -> None:
        """Power-cycle: the keypad forgets wrong attempts and an active lockout; codes, the
        clock, offline PIN keys and the lockout escalation step persist."""
        self._guard.power_cycle()
        self.boot_count += 1
        if self.state_path is not None and self.state_path.exists():
            self._restore(read_state(self.state_path))
        self._emit(LockEventKind.REBOOTED, self.now())

    # ------------------------------------------------------------------ events

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(
        self,
        kind: LockEventKind,
        at: datetime,
        *,
        slot: int | None = None,
        reason: str | None = None,
        offline_code: bool = False,
    ) -> None:
        event = LockEvent(kind=kind, at=at, slot=slot, reason=reason, offline_code=offline_code)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed on %s", kind.value)

    # ------------------------------------------------------------------ persistence

    def _persist(self) -> None:
        if self.state_path is None:
            return
        if self._deferring:
            self._dirty = True  # saved by `flush()`, which the caller awaits
        else:
            self.save()

    def _saved(self) -> bool:
        # a method, not `self._dirty` inline: `flush` reads it again after an await, where
        # another save may have cleared it (a type checker would narrow the attribute)
        return not self._dirty

    @contextlib.contextmanager
    def saves_deferred(self) -> Iterator[None]:
        """Changes made inside are saved by the next `flush()` instead of at once: an async
        front-end runs an operation, then awaits `flush()` (the file is written and synced
        in a thread, so the event loop does not wait for the disk) before it answers."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    async def flush(self) -> None:
        """Save what changed under `saves_deferred()` (nothing to do: returns at once).

        Saves of one lock run one at a time, each of the state as it is when it starts; a
        caller whose change an earlier save already holds returns without another write.
        """
        path = self.state_path
        if not self._dirty or path is None:
            return
        loop = asyncio.get_running_loop()
        if self._flush_lock is None or self._flush_lock[0] is not loop:
            self._flush_lock = (loop, asyncio.Lock())
        async with self._flush_lock[1]:
            if self._saved():  # an earlier save, awaited meanwhile, took this change
                return
            self._dirty = False
            try:
                blob = seal_state(path, self.to_state())
                await asyncio.to_thread(replace_state, path, blob)
            except BaseException:
                self._dirty = True  # the next flush writes it again
                raise

    def to_state(self) -> dict[str, Any]:
        return {
            "format": 1,
            "profile": self.profile.name,
            "lock_id": self.lock_id,
            "clock_offset": self._clock_offset.total_seconds(),
            "boot_count": self.boot_count,
            "slots": {str(i): s.to_dict() for i, s in sorted(self._slots.items())},
            "lockouts": self._guard.lockouts,
            "offline": self._offline.to_state(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state.get("profile") != self.profile.name:
            raise SimulatorStateError(
                f"the saved lock is a {state.get('profile')!r}, not a {self.profile.name!r}"
            )
        try:
            slots = {int(i): StoredCode.from_dict(s) for i, s in state["slots"].items()}
            offset = timedelta(seconds=float(state.get("clock_offset", 0.0)))
            lockouts = int(state.get("lockouts", 0))
            self._offline.restore(state.get("offline"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SimulatorStateError(f"the saved lock state is damaged: {exc}") from None
        bad = [i for i in slots if i not in self.profile.slot_range]
        if bad:
            raise SimulatorStateError(f"the saved lock state has slots {bad} out of range")
        self._slots = slots
        self._clock_offset = offset
        self._guard.lockouts = lockouts
        self.boot_count = max(self.boot_count, int(state.get("boot_count", 0)))

    def save(self, path: Path | str | None = None) -> None:
        """Write the state (encrypted) to `path` or the configured `state_path`."""
        if path is not None:
            self.state_path = Path(path)
        if self.state_path is None:
            raise SimulatorStateError("this simulated lock has no state file to save to")
        write_state(self.state_path, self.to_state())

    @classmethod
    def load(
        cls, path: Path | str, clock: Clock, *, faults: FaultPlan | None = None
    ) -> LockFirmware:
        """The simulated lock saved at `path` (its profile and id come from the file)."""
        path = Path(path)
        state = read_state(path)
        profile = get_profile(str(state.get("profile")))
        firmware = cls(
            profile, clock=clock, lock_id=str(state.get("lock_id", "sim")), faults=faults
        )
        firmware._restore(state)
        firmware.state_path = path
        return firmware

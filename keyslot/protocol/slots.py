"""THE slot-programming interface: every lock driver is a `SlotProgrammer`.

The reconciler sees only this module. Values here are frozen and transport-neutral; a
driver translates its wire format into them and wraps every foreign exception in the
`KeyslotError` hierarchy below (retryable vs final), which the retry policy keys off.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "AuthenticationFailed",
    "CodeRejected",
    "DuplicateCode",
    "FinalError",
    "KeyslotError",
    "LockEvent",
    "LockEventKind",
    "LockInfo",
    "LockTimeout",
    "LockUnavailable",
    "NameRejected",
    "NameRules",
    "NoFreeSlot",
    "NotPaired",
    "NotSupported",
    "ProtocolError",
    "RetryableError",
    "Schedule",
    "Slot",
    "SlotEntry",
    "SlotNotFound",
    "SlotProgrammer",
    "SlotProgrammerBase",
    "SlotRejected",
    "SlotStatus",
    "WriteConfirmation",
]

# --------------------------------------------------------------------------- errors


class KeyslotError(Exception):
    """Root of every error keyslot raises; `code` is a stable machine-readable reason."""

    code: str = "keyslot_error"
    retryable: bool = False

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class RetryableError(KeyslotError):
    """The operation may succeed if tried again later (link, timing, device busy)."""

    code = "retryable"
    retryable = True


class LockUnavailable(RetryableError):
    """The lock cannot be reached: offline, disconnected, asleep, gateway down."""

    code = "lock_unavailable"


class LockTimeout(RetryableError):
    """The lock did not answer in time; the operation may or may not have been applied."""

    code = "lock_timeout"


class ProtocolError(RetryableError):
    """The lock answered with something the driver could not understand (noise, corruption)."""

    code = "protocol_error"


class FinalError(KeyslotError):
    """Trying again with the same input will fail the same way."""

    code = "final"


class SlotRejected(FinalError):
    """The lock refused a slot operation."""

    code = "slot_rejected"

    def __init__(self, message: str = "", *, code: str | None = None, slot: int | None = None):
        super().__init__(message, code=code)
        self.slot = slot


class DuplicateCode(SlotRejected):
    """The code is already held by another slot of this lock."""

    code = "duplicate_code"

    def __init__(
        self, message: str = "", *, slot: int | None = None, existing_slot: int | None = None
    ) -> None:
        super().__init__(message, slot=slot)
        self.existing_slot = existing_slot


class CodeRejected(SlotRejected):
    """The code breaks the lock's code rules (length, alphabet, constraints)."""

    code = "code_rejected"

    def __init__(
        self, message: str = "", *, slot: int | None = None, constraint: str | None = None
    ) -> None:
        super().__init__(message, slot=slot)
        self.constraint = constraint


class NameRejected(SlotRejected):
    """The name breaks a rule the lock enforces rather than truncates (too short, not unique)."""

    code = "name_rejected"


class NoFreeSlot(SlotRejected):
    """The lock's slot table is full."""

    code = "no_free_slot"


class SlotNotFound(SlotRejected):
    """The slot index is outside the lock's numbering."""

    code = "slot_not_found"


class NotSupported(FinalError):
    """The lock or driver does not have this capability."""

    code = "not_supported"


class NotPaired(FinalError):
    """The lock needs pairing before it accepts this command."""

    code = "not_paired"


class AuthenticationFailed(FinalError):
    """The lock refused the command's authentication (wrong key, replay, stale challenge)."""

    code = "authentication_failed"


# --------------------------------------------------------------------------- values


class SlotStatus(enum.StrEnum):
    EMPTY = "empty"
    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class NameRules:
    """How a lock stores a name. Lengths in characters, or in encoded bytes when `unit` is bytes.

    `split` locks keep a first and a last name, each with its own limit. `truncate` says
    whether a long name is cut by the lock (True) or refused (False).
    """

    max_length: int
    min_length: int = 0
    unit: str = "chars"  # "chars" | "bytes"
    encoding: str = "utf-8"
    charset: str | None = None  # allowed characters; None = anything the encoding holds
    split: bool = False
    first_max: int | None = None
    last_max: int | None = None
    unique: bool = False
    truncate: bool = True


@dataclass(frozen=True, slots=True)
class Schedule:
    """A time window the lock enforces itself (native scheduling): [starts_at, ends_at)."""

    starts_at: datetime
    ends_at: datetime

    def contains(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class LockInfo:
    """A lock's capabilities, read once per session."""

    model: str
    vendor: str
    slot_count: int
    first_slot: int = 1
    code_lengths: tuple[int, ...] = (4, 5, 6, 7, 8)
    alphabet: str = "0123456789"
    constraints: tuple[str, ...] = ()
    name_rules: NameRules | None = None
    native_schedules: bool = False
    codes_readable: bool = True
    offline_pins: bool = False
    one_time_codes: bool = False
    checksum: bool = False
    firmware_version: str = ""
    serial_number: str = ""
    max_active_codes: int | None = None  # None: every slot can hold a code at once

    @property
    def slot_range(self) -> range:
        return range(self.first_slot, self.first_slot + self.slot_count)


@dataclass(frozen=True, slots=True)
class SlotEntry:
    """What to put into a slot. `name` is the owner's name; the lock may show less of it."""

    code: str
    name: str | None = None
    schedule: Schedule | None = None
    one_time: bool = False
    enabled: bool = True

    def __repr__(self) -> str:  # a PIN must never reach a log line through repr()
        return (
            f"SlotEntry(code=<{len(self.code)} digits>, name={self.name!r}, "
            f"schedule={self.schedule!r}, one_time={self.one_time}, enabled={self.enabled})"
        )


class WriteConfirmation(enum.StrEnum):
    """How sure a driver is that a write took effect (after lock_code_manager)."""

    CONFIRMED = "confirmed"  # read back from the lock
    OPTIMISTIC = "optimistic"  # accepted, but the lock cannot (yet) show it
    NO_CHANGE = "no_change"  # the slot already held exactly this


@dataclass(frozen=True, slots=True)
class Slot:
    """One slot as the lock reports it.

    `code` is None when the slot is empty or the lock masks codes (`code_masked`): a masked
    read is unreadable, never a mismatch. `name`, `first_name`, `last_name` are exactly what
    the lock shows.
    """

    index: int
    status: SlotStatus = SlotStatus.EMPTY
    code: str | None = None
    code_masked: bool = False
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    schedule: Schedule | None = None
    one_time: bool = False
    confirmation: WriteConfirmation = WriteConfirmation.CONFIRMED

    @property
    def occupied(self) -> bool:
        return self.status is not SlotStatus.EMPTY

    def __repr__(self) -> str:
        code = "masked" if self.code_masked else ("none" if self.code is None else "<set>")
        return (
            f"Slot(index={self.index}, status={self.status.value}, code={code}, "
            f"name={self.name!r}, schedule={self.schedule!r}, one_time={self.one_time})"
        )


class LockEventKind(enum.StrEnum):
    KEYPAD_UNLOCK = "keypad_unlock"  # slot set: the code in that slot opened the lock
    ACCESS_DENIED = "access_denied"  # reason: unknown_code | expired_code | too_many_attempts
    CODE_ADDED = "code_added"  # at the keypad, by a manager (external modification)
    CODE_CHANGED = "code_changed"
    CODE_DELETED = "code_deleted"
    ALL_CODES_DELETED = "all_codes_deleted"
    ONE_TIME_CODE_USED = "one_time_code_used"
    LOCKOUT = "keypad_lockout"
    MANUAL_UNLOCK = "manual_unlock"
    ONLINE = "online"
    OFFLINE = "offline"
    REBOOTED = "rebooted"


@dataclass(frozen=True, slots=True)
class LockEvent:
    kind: LockEventKind
    at: datetime
    slot: int | None = None
    reason: str | None = None
    offline_code: bool = False


# --------------------------------------------------------------------------- the interface


@runtime_checkable
class SlotProgrammer(Protocol):
    """What every lock driver offers. Implementations must wrap foreign errors."""

    async def info(self) -> LockInfo: ...

    async def read_slots(self) -> Sequence[Slot]:
        """Every slot of the lock (empty ones included), cheapest path first."""
        ...

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        """Program a slot; returns what the lock now holds (name as the lock shows it)."""
        ...

    async def clear_slot(self, index: int) -> None: ...

    def events(self) -> AsyncIterator[LockEvent]:
        """Keypad use, changes at the keypad and link status, as they happen."""
        ...

    async def set_clock(self, now: datetime) -> None:
        """Tell the lock the time (native schedules depend on it). May raise NotSupported."""
        ...

    async def slots_checksum(self) -> int | None:
        """A checksum of the slot table, or None when the lock has none (read in full)."""
        ...

    async def pair_offline_pins(self, host_public_key: bytes) -> bytes:
        """X25519 key agreement for offline PINs: send the host's 32-byte public key, get the
        lock's. Both sides then derive `OfflinePinKeys.derive(shared, info.serial_number)`.
        May raise NotSupported."""
        ...

    async def aclose(self) -> None: ...


class SlotProgrammerBase:
    """Defaults for optional capabilities, so the interface grows without breaking drivers."""

    async def set_clock(self, now: datetime) -> None:
        raise NotSupported("this lock keeps no clock that keyslot can set")

    async def slots_checksum(self) -> int | None:
        return None

    async def pair_offline_pins(self, host_public_key: bytes) -> bytes:
        raise NotSupported("this lock has no offline PINs, or its driver cannot pair them")

"""Vendor profiles: how a lock model behaves, as data, so one firmware core plays every model.

A profile describes the slot table, the code rules, how names are stored, and keypad
behaviour (lockout, one-time codes, native schedules). Values follow the vendors' public
documentation where it exists; where a vendor publishes nothing (lockout timings), the
values are typical of the product class and say so in a comment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from keyslot.protocol.slots import FinalError, LockInfo, NameRules

__all__ = [
    "KNOWN_CONSTRAINTS",
    "PROFILES",
    "Profile",
    "UnknownProfile",
    "get_profile",
    "profile_names",
]

# Seam's `constraint_type` names that the simulator enforces (see simulator.rules).
KNOWN_CONSTRAINTS: frozenset[str] = frozenset(
    {
        "no_zeros",
        "cannot_start_with_12",
        "no_triple_consecutive_ints",
        "no_ascending_or_descending_sequence",
        "at_least_three_unique_digits",
        "cannot_contain_089",
        "cannot_contain_0789",
        "unique_first_four_digits",
        "no_all_same_digits",
    }
)


class UnknownProfile(FinalError):
    """No simulator profile has that name."""

    code = "unknown_profile"


@dataclass(frozen=True, slots=True)
class Profile:
    """One lock model's behaviour.

    `max_active_codes` caps how many slots may be occupied at once (None: every slot);
    writing a new code beyond it is refused with NoFreeSlot. `lockout_attempts` wrong codes
    in a row disable the keypad for `lockout_seconds` of the lock's clock; each further
    lockout before a right code takes the next of `lockout_escalation` (the last one repeats).
    `code_mask` is what the wire shows for a code when `codes_readable` is False.
    """

    name: str
    vendor: str
    model: str
    slot_count: int
    first_slot: int = 1
    code_lengths: tuple[int, ...] = (4, 5, 6, 7, 8)
    alphabet: str = "0123456789"
    constraints: tuple[str, ...] = ()
    name_rules: NameRules | None = None
    native_schedules: bool = False
    codes_readable: bool = True
    code_mask: str = "**********"
    one_time_codes: bool = False
    offline_pins: bool = False
    checksum: bool = False
    max_active_codes: int | None = None
    lockout_attempts: int = 5
    lockout_seconds: float = 60.0
    lockout_escalation: tuple[float, ...] = ()
    firmware_version: str = "1.0.0"
    serial_prefix: str = "SIM"

    def __post_init__(self) -> None:
        unknown = set(self.constraints) - KNOWN_CONSTRAINTS
        if unknown:
            raise ValueError(f"profile {self.name}: unknown constraints {sorted(unknown)}")
        if self.slot_count < 1 or not self.code_lengths:
            raise ValueError(f"profile {self.name}: needs slots and code lengths")
        if self.max_active_codes is not None and not 0 < self.max_active_codes <= self.slot_count:
            raise ValueError(f"profile {self.name}: max_active_codes must be 1..slot_count")
        if self.lockout_attempts < 1 or self.lockout_seconds < 0:
            raise ValueError(f"profile {self.name}: bad lockout parameters")
        if any(s < 0 for s in self.lockout_escalation):
            raise ValueError(f"profile {self.name}: bad lockout escalation")

    @property
    def slot_range(self) -> range:
        return range(self.first_slot, self.first_slot + self.slot_count)

    @property
    def active_limit(self) -> int:
        """How many slots may be occupied at once."""
        return self.slot_count if self.max_active_codes is None else self.max_active_codes

    def lockout_duration(self, earlier_lockouts: int) -> float:
        """Seconds the keypad stays disabled after `earlier_lockouts` lockouts in a row."""
        steps = (self.lockout_seconds, *self.lockout_escalation)
        return steps[min(max(earlier_lockouts, 0), len(steps) - 1)]

    def serial_number(self, lock_id: str) -> str:
        """A stable serial number per simulated lock, so two sims of one model differ."""
        digest = hashlib.sha256(f"{self.name}:{lock_id}".encode()).hexdigest()[:8].upper()
        return f"{self.serial_prefix}{digest}"

    def info(self, lock_id: str = "sim") -> LockInfo:
        return LockInfo(
            model=self.model,
            vendor=self.vendor,
            slot_count=self.slot_count,
            first_slot=self.first_slot,
            code_lengths=self.code_lengths,
            alphabet=self.alphabet,
            constraints=self.constraints,
            name_rules=self.name_rules,
            native_schedules=self.native_schedules,
            codes_readable=self.codes_readable,
            offline_pins=self.offline_pins,
            one_time_codes=self.one_time_codes,
            checksum=self.checksum,
            firmware_version=self.firmware_version,
            serial_number=self.serial_number(lock_id),
            max_active_codes=self.max_active_codes,
        )


# Kwikset's Halo keypads: names of 2-14 characters, cut by the lock when longer (Seam keeps
# the full name). Five wrong codes disable the keypad for a minute.
KWIKSET = Profile(
    name="kwikset",
    vendor="Kwikset",
    model="Halo Touchscreen Wi-Fi Smart Lock",
    slot_count=30,
    code_lengths=(4, 5, 6, 7, 8),
    name_rules=NameRules(max_length=14, min_length=2, unit="chars", truncate=True),
    lockout_attempts=5,
    lockout_seconds=60.0,
    firmware_version="3.1.9",
    serial_prefix="KW",
)

# Nuki Keypad 2.0: six-digit codes of the digits 1-9 that may not begin with "12", names
# of at most 20 bytes of UTF-8. The simulated configuration has 20 code ids of which at
# most 10 may be in use at once, small enough for a suite to fill it cheaply. The keypad
# blocks itself for a minute after three wrong codes.
NUKI = Profile(
    name="nuki",
    vendor="Nuki",
    model="Keypad 2.0 (Smart Lock 4th gen)",
    slot_count=20,
    code_lengths=(6,),
    constraints=("no_zeros", "cannot_start_with_12"),
    name_rules=NameRules(max_length=20, min_length=1, unit="bytes", encoding="utf-8"),
    max_active_codes=10,
    lockout_attempts=3,
    lockout_seconds=60.0,
    firmware_version="4.2.6",
    serial_prefix="NK",
)

# Schlage Connect (Z-Wave Plus): 30 user codes of 4-10 digits, no names, a code reads back
# as asterisks, the User Code v2 checksum is supported. Codes may not share their first
# four digits (Seam's `unique_first_four_digits` for Schlage). Five wrong codes: 60 s.
SCHLAGE = Profile(
    name="schlage",
    vendor="Schlage",
    model="Connect Smart Deadbolt BE469ZP",
    slot_count=30,
    code_lengths=(4, 5, 6, 7, 8, 9, 10),
    constraints=("unique_first_four_digits",),
    name_rules=None,
    codes_readable=False,
    code_mask="**********",
    checksum=True,
    lockout_attempts=5,
    lockout_seconds=60.0,
    firmware_version="10.8",
    serial_prefix="SC",
)

# A rental-oriented keypad that keeps users as first and last name (10 characters each),
# enforces time windows itself, and supports one-time codes. Names must be unique.
SPLIT = Profile(
    name="split",
    vendor="Yale",
    model="Assure Lock 2 Keypad YRD420",
    slot_count=25,
    code_lengths=(4, 5, 6, 7, 8),
    constraints=("no_all_same_digits",),
    name_rules=NameRules(
        max_length=21,
        min_length=1,
        unit="chars",
        split=True,
        first_max=10,
        last_max=10,
        unique=True,
        truncate=True,
    ),
    native_schedules=True,
    one_time_codes=True,
    lockout_attempts=5,
    lockout_seconds=180.0,
    firmware_version="1.4.12",
    serial_prefix="YL",
)

# An igloohome-style Bluetooth keypad deadbolt with algorithmic offline PINs (algoPIN):
# online codes of 4-8 digits programmed over the air, and offline codes the gateway
# computes and the lock checks by itself - 10 digits, 12 for the clear-all code (see
# hardware/offline-pins.md). PIN names live in the owner's app, not on the lock. The real
# lock holds up to 199 PINs; the simulated one keeps 50 online slots, enough to be
# realistic and small enough for a suite to fill. Lockout escalates because an offline
# entry is a guess at a 10-digit space with several live windows: five wrong entries
# (static or offline alike) disable the keypad for 2 minutes, the next five for 5 minutes,
# then 15 minutes, then an hour each time until a right code is entered. The vendor
# publishes no timings; these are typical of the product class.
ALGOPIN = Profile(
    name="algopin",
    vendor="igloohome",
    model="Smart Deadbolt 2S",
    slot_count=50,
    code_lengths=(4, 5, 6, 7, 8),
    name_rules=None,
    offline_pins=True,
    lockout_attempts=5,
    lockout_seconds=120.0,
    lockout_escalation=(300.0, 900.0, 3600.0),
    firmware_version="2.3.1",
    serial_prefix="IG",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (KWIKSET, NUKI, SCHLAGE, SPLIT, ALGOPIN)}


def profile_names() -> tuple[str, ...]:
    return tuple(PROFILES)


def get_profile(name: str) -> Profile:
    """The profile called `name`; UnknownProfile names the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise UnknownProfile(f"no lock profile {name!r}; known profiles: {known}") from None

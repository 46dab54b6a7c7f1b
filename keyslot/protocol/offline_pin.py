"""Algorithmic offline PINs: issued by the gateway, verified by the lock with no connection.

A PIN is FF1(radix 10) over one mixed-radix integer: a 5-digit tag and the fields
(kind, sequence within the start slot, start mod 48, duration class). The tag is RFC 4226
dynamic truncation of HMAC-SHA256 over the *absolute* start, the fields and the key
generation, so the lock recovers the start from its clock and rejects forged or revoked
codes. FF1 is a permutation: two different issued codes never share a PIN. Clear-all codes
are 12 digits with a 7-digit tag in their own FF1 domain. See hardware/offline-pins.md.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyslot.protocol.ff1 import FF1

__all__ = [
    "ACTIVATION_WINDOW",
    "CLEAR_ALL_DIGITS",
    "CODES_PER_START_SLOT",
    "DAILY_DURATIONS",
    "HOURLY_DURATIONS",
    "OFFLINE_PIN_DIGITS",
    "ONE_TIME_ACTIVATION_WINDOW",
    "IssuedOfflinePin",
    "OfflinePinError",
    "OfflinePinIssuer",
    "OfflinePinKeys",
    "OfflinePinKind",
    "OfflinePinVerifier",
    "Verdict",
    "duration_class",
    "start_slot",
]

OFFLINE_PIN_DIGITS = 10
CLEAR_ALL_DIGITS = 12
TAG_DIGITS = 5
CLEAR_TAG_DIGITS = 7
CODES_PER_START_SLOT = 3
START_MODULUS = 48  # start hour (or day) mod 48: the lock picks the latest match
DURATION_CLASSES = 128
ACTIVATION_WINDOW = timedelta(hours=24)  # first use within 24 h of the start
ONE_TIME_ACTIVATION_WINDOW = timedelta(hours=6)
CLOCK_SKEW = timedelta(hours=1)  # a lock clock up to an hour behind still accepts a code
USED_TABLE_SIZE = 64

# Duration classes (index = class): hourly codes 1..72 h, then 96..672 h in whole days;
# daily codes 1..60 days, then 65..367 days in 5-day steps (the last class is 367).
HOURLY_DURATIONS: tuple[int, ...] = tuple(range(1, 73)) + tuple(range(96, 673, 24))
DAILY_DURATIONS: tuple[int, ...] = tuple(range(1, 61)) + tuple(
    min(60 + 5 * i, 367) for i in range(1, 63)
)


class OfflinePinError(ValueError):
    """A request the offline scheme cannot satisfy (duration, slot exhausted, rounding)."""


class OfflinePinKind(enum.IntEnum):
    HOURLY = 0  # whole-hour window
    DAILY = 1  # whole-day window (UTC days)
    ONE_TIME = 2  # whole-hour start, one use within the activation window
    CLEAR_ALL = 3  # revokes every earlier code (12 digits, own domain)


@dataclass(frozen=True, slots=True)
class OfflinePinKeys:
    """The secrets the gateway and the lock share, derived once at pairing."""

    fpe_key: bytes
    mac_key: bytes

    @classmethod
    def derive(cls, shared_secret: bytes, lock_id: str) -> OfflinePinKeys:
        okm = HKDF(
            algorithm=hashes.SHA256(),
            length=48,
            salt=lock_id.encode(),
            info=b"offline-pin/v1",
        ).derive(shared_secret)
        return cls(fpe_key=okm[:16], mac_key=okm[16:])


@dataclass(frozen=True, slots=True)
class IssuedOfflinePin:
    """An issued code with the window it really grants (rounded to whole hours or days)."""

    code: str
    kind: OfflinePinKind
    starts_at: datetime
    ends_at: datetime
    sequence: int
    generation: int

    def __repr__(self) -> str:
        return (
            f"IssuedOfflinePin(kind={self.kind.name}, starts_at={self.starts_at.isoformat()}, "
            f"ends_at={self.ends_at.isoformat()}, sequence={self.sequence}, "
            f"generation={self.generation})"
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    reason: str | None = None  # unknown_code | expired_code | not_yet_active | already_used
    kind: OfflinePinKind | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    cleared: bool = False  # a clear-all code took effect


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _hours(at: datetime) -> int:
    return int((at - _EPOCH).total_seconds() // 3600)


def _days(at: datetime) -> int:
    return int((at - _EPOCH).total_seconds() // 86400)


def start_slot(kind: OfflinePinKind, at: datetime) -> int:
    """The start slot `at` falls in: its UTC day for daily codes, else its UTC hour (both
    counted from the epoch). At most `CODES_PER_START_SLOT` codes of a kind share one."""
    return _days(at) if kind is OfflinePinKind.DAILY else _hours(at)


def duration_class(kind: OfflinePinKind, units: int) -> int:
    """The smallest class that covers `units` hours (hourly, one-time) or days (daily)."""
    table = DAILY_DURATIONS if kind is OfflinePinKind.DAILY else HOURLY_DURATIONS
    for index, length in enumerate(table):
        if length >= units:
            return index
    unit = "days" if kind is OfflinePinKind.DAILY else "hours"
    raise OfflinePinError(f"an offline code lasts at most {table[-1]} {unit}")


def _truncate(mac: bytes, digits: int) -> int:
    """RFC 4226 dynamic truncation of a MAC to `digits` decimal digits."""
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFF_FFFF
    return value % int(10**digits)


class _Codec:
    """Shared by issuer and verifier: packing fields into a PIN and the MAC tag."""

    def __init__(self, keys: OfflinePinKeys) -> None:
        self._keys = keys
        self._ff1 = FF1(keys.fpe_key)

    def tag(self, *fields: int, digits: int = TAG_DIGITS) -> int:
        msg = b"".join(f.to_bytes(8, "big", signed=False) for f in fields)
        return _truncate(hmac.new(self._keys.mac_key, msg, hashlib.sha256).digest(), digits)

    @staticmethod
    def pack(kind: int, seq: int, start_mod: int, dclass: int, tag: int) -> int:
        meta = (kind * CODES_PER_START_SLOT + seq) * START_MODULUS + start_mod
        return (meta * DURATION_CLASSES + dclass) * int(10**TAG_DIGITS) + tag

    @staticmethod
    def unpack(value: int) -> tuple[int, int, int, int, int]:
        meta, tag = divmod(value, 10**TAG_DIGITS)
        meta, dclass = divmod(meta, DURATION_CLASSES)
        meta, start_mod = divmod(meta, START_MODULUS)
        kind, seq = divmod(meta, CODES_PER_START_SLOT)
        return kind, seq, start_mod, dclass, tag

    def fingerprint(self, code: str) -> str:
        """A keyed digest of a code: the used-code table never holds a PIN."""
        return hmac.new(self._keys.mac_key, b"used:" + code.encode(), hashlib.sha256).hexdigest()

    def seal(self, value: int, digits: int, domain: bytes) -> str:
        return self._ff1.encrypt(str(value).zfill(digits), domain)

    def open(self, code: str, domain: bytes) -> int:
        return int(self._ff1.decrypt(code, domain))


_PIN_DOMAIN = b"keyslot-offline-pin"
_CLEAR_DOMAIN = b"keyslot-offline-clear"


def _window(kind: OfflinePinKind, start_unit: int, dclass: int) -> tuple[datetime, datetime]:
    if kind is OfflinePinKind.DAILY:
        start = _EPOCH + timedelta(days=start_unit)
        return start, start + timedelta(days=DAILY_DURATIONS[dclass])
    start = _EPOCH + timedelta(hours=start_unit)
    return start, start + timedelta(hours=HOURLY_DURATIONS[dclass])


class OfflinePinIssuer:
    """The gateway's side: turns a request into a PIN, at most three per start slot and kind."""

    def __init__(self, keys: OfflinePinKeys, generation: int = 0) -> None:
        self._codec = _Codec(keys)
        self.generation = generation
        self._issued: dict[tuple[int, int, int], int] = {}  # (generation, kind, start) -> count

    def note_issued(self, kind: OfflinePinKind, start_unit: int, count: int) -> None:
        """Restore how many codes a start slot already has (the gateway persists this)."""
        self._issued[(self.generation, int(kind), start_unit)] = count

    def issue(
        self,
        kind: OfflinePinKind,
        starts_at: datetime,
        ends_at: datetime | None = None,
        *,
        sequence: int | None = None,
    ) -> IssuedOfflinePin:
        """A PIN for [starts_at, ends_at) rounded outward to whole hours or days."""
        if kind is OfflinePinKind.CLEAR_ALL:
            raise OfflinePinError("use issue_clear_all() for a clear-all code")
        start_unit = start_slot(kind, starts_at)
        if kind is OfflinePinKind.DAILY:
            end_unit = -(-int((_aware(ends_at or starts_at) - _EPOCH).total_seconds()) // 86400)
        else:
            end_unit = -(-int((_aware(ends_at or starts_at) - _EPOCH).total_seconds()) // 3600)
        units = max(1, end_unit - start_unit)
        dclass = duration_class(kind, units)
        slot_key = (self.generation, int(kind), start_unit)
        seq = self._issued.get(slot_key, 0) if sequence is None else sequence
        if seq >= CODES_PER_START_SLOT:
            raise OfflinePinError(
                f"at most {CODES_PER_START_SLOT} offline codes of this kind may start in the "
                "same hour (or day); choose another start"
            )
        tag = self._codec.tag(kind, seq, start_unit, dclass, self.generation)
        value = self._codec.pack(kind, seq, start_unit % START_MODULUS, dclass, tag)
        code = self._codec.seal(value, OFFLINE_PIN_DIGITS, _PIN_DOMAIN)
        self._issued[slot_key] = max(self._issued.get(slot_key, 0), seq + 1)
        start, end = _window(kind, start_unit, dclass)
        return IssuedOfflinePin(code, kind, start, end, seq, self.generation)

    def issue_clear_all(self, at: datetime) -> IssuedOfflinePin:
        """A 12-digit code that revokes the current generation; later codes use the next one."""
        hour = _hours(at)
        new_generation = self.generation + 1
        tag = self._codec.tag(
            int(OfflinePinKind.CLEAR_ALL), new_generation, digits=CLEAR_TAG_DIGITS
        )
        value = (new_generation % 10**5) * 10**CLEAR_TAG_DIGITS + tag
        code = self._codec.seal(value, CLEAR_ALL_DIGITS, _CLEAR_DOMAIN)
        self.generation = new_generation
        start = _EPOCH + timedelta(hours=hour)
        return IssuedOfflinePin(
            code, OfflinePinKind.CLEAR_ALL, start, start + ACTIVATION_WINDOW, 0, new_generation
        )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(slots=True)
class _Used:
    kind: OfflinePinKind
    starts_at: datetime
    ends_at: datetime
    first_used: datetime
    one_time: bool


class OfflinePinVerifier:
    """The lock's side: checks an entered PIN against its clock, generation and used-code table.

    The used table holds at most `USED_TABLE_SIZE` codes; when full, codes whose window has
    ended go first, then the one first used longest ago. An evicted multi-use code would
    need its activation window again, so a code still in use is evicted only last.
    """

    def __init__(self, keys: OfflinePinKeys, generation: int = 0) -> None:
        self._codec = _Codec(keys)
        self.generation = generation
        self._used: OrderedDict[str, _Used] = OrderedDict()

    def verify(self, code: str, now: datetime) -> Verdict:
        if not code.isdigit():
            return Verdict(False, "unknown_code")
        if len(code) == CLEAR_ALL_DIGITS:
            return self._verify_clear(code)
        if len(code) != OFFLINE_PIN_DIGITS:
            return Verdict(False, "unknown_code")
        key = self._codec.fingerprint(code)
        used = self._used.get(key)
        if used is not None:  # a code in use keeps its start, even after 48 h
            if used.one_time:
                return Verdict(False, "already_used", used.kind, used.starts_at, used.ends_at)
            if now >= used.ends_at:
                return Verdict(False, "expired_code", used.kind, used.starts_at, used.ends_at)
            self._used.move_to_end(key)
            return Verdict(True, None, used.kind, used.starts_at, used.ends_at)
        decoded = self._decode(code, now)
        if decoded is None:
            return Verdict(False, "unknown_code")
        kind, starts_at, ends_at = decoded
        if now >= ends_at:
            return Verdict(False, "expired_code", kind, starts_at, ends_at)
        if now + CLOCK_SKEW < starts_at:
            return Verdict(False, "not_yet_active", kind, starts_at, ends_at)
        window = ACTIVATION_WINDOW
        if kind is OfflinePinKind.ONE_TIME:
            window = ONE_TIME_ACTIVATION_WINDOW
        if now >= starts_at + window:
            return Verdict(False, "expired_code", kind, starts_at, ends_at)
        self._remember(
            key, _Used(kind, starts_at, ends_at, now, kind is OfflinePinKind.ONE_TIME), now
        )
        return Verdict(True, None, kind, starts_at, ends_at)

    def _decode(self, code: str, now: datetime) -> tuple[OfflinePinKind, datetime, datetime] | None:
        """Fields of a genuine code: the start is the latest matching one, or the next one."""
        kind_n, seq, start_mod, dclass, tag = self._codec.unpack(
            self._codec.open(code, _PIN_DOMAIN)
        )
        if kind_n > int(OfflinePinKind.ONE_TIME):
            return None
        kind = OfflinePinKind(kind_n)
        table = DAILY_DURATIONS if kind is OfflinePinKind.DAILY else HOURLY_DURATIONS
        if dclass >= len(table):
            return None
        probe = now + CLOCK_SKEW
        current = _days(probe) if kind is OfflinePinKind.DAILY else _hours(probe)
        latest = current - ((current - start_mod) % START_MODULUS)
        for start_unit in (latest, latest + START_MODULUS):
            # Only the current generation: letting a 5-digit tag advance the generation would
            # make random guesses a way to revoke every code (the clear-all code has 7 digits).
            expected = self._codec.tag(kind, seq, start_unit, dclass, self.generation)
            if hmac.compare_digest(str(expected), str(tag)):
                starts_at, ends_at = _window(kind, start_unit, dclass)
                return kind, starts_at, ends_at
        return None

    def _verify_clear(self, code: str) -> Verdict:
        value = self._codec.open(code, _CLEAR_DOMAIN)
        gen_low, tag = divmod(value, 10**CLEAR_TAG_DIGITS)
        target = self.generation + 1
        if gen_low != target % 10**5:
            return Verdict(False, "unknown_code")
        expected = self._codec.tag(int(OfflinePinKind.CLEAR_ALL), target, digits=CLEAR_TAG_DIGITS)
        if not hmac.compare_digest(str(expected), str(tag)):
            return Verdict(False, "unknown_code")
        self._advance_generation(target)
        return Verdict(True, None, OfflinePinKind.CLEAR_ALL, cleared=True)

    def _advance_generation(self, generation: int) -> None:
        self.generation = generation
        self._used.clear()

    def _remember(self, key: str, entry: _Used, now: datetime) -> None:
        if len(self._used) >= USED_TABLE_SIZE:
            expired = [k for k, u in self._used.items() if u.ends_at <= now]
            if expired:
                victim = expired[0]
            else:
                victim = min(self._used, key=lambda k: self._used[k].first_used)
            del self._used[victim]
        self._used[key] = entry

    @property
    def used_count(self) -> int:
        return len(self._used)

    def export_state(self) -> dict[str, object]:
        """What the lock keeps across a reboot; used codes only as keyed digests, never PINs."""
        return {
            "generation": self.generation,
            "used": [
                [
                    k,
                    int(u.kind),
                    u.starts_at.isoformat(),
                    u.ends_at.isoformat(),
                    u.first_used.isoformat(),
                    u.one_time,
                ]
                for k, u in self._used.items()
            ],
        }

    def import_state(self, state: dict[str, object]) -> None:
        generation = state.get("generation", 0)
        used = state.get("used", [])
        if not isinstance(generation, int) or not isinstance(used, list):
            raise TypeError("malformed offline PIN state")
        self.generation = generation
        self._used.clear()
        for key, kind, starts_at, ends_at, first_used, one_time in used:
            self._used[str(key)] = _Used(
                OfflinePinKind(kind),
                datetime.fromisoformat(starts_at),
                datetime.fromisoformat(ends_at),
                datetime.fromisoformat(first_used),
                bool(one_time),
            )

"""Offline access codes: computed by the gateway, checked by the lock with no device operation.

Seam's rules for offline codes: no custom code, no sharing through `common_code_key`, both
`starts_at` and `ends_at`, no update, and no delete through the API (keyslot lets a code
whose window has ended be dropped from its records: nothing on the lock is left to revoke).
`max_time_rounding` `1h`/`1hour` (the default) makes an hourly code, `1d`/`1day` a daily one;
`is_one_time_use` a one-time code (whole-hour start, one use within 6 hours of it). The
window is rounded outward to what the code really grants, and that is what the access code
shows. At most three codes of a kind may start in one hour (day): the fourth is refused.
A clear-all code (not a Seam call) revokes at the lock every offline code issued before it.

What the gateway keeps per lock: the secret agreed at pairing, sealed in the store's pairing
keys under `offline-pin:<device_id>`, and - in the device's settings - the key generation,
how many codes each start slot already has, so a restart never reissues a sequence number,
and whether the clear-all code of the generation is still the newest code issued (never a
PIN: a clear-all code is derived again from the keys and the generation).
See hardware/offline-pins.md for the scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from keyslot.model import (
    AccessCode,
    AccessCodeStatus,
    ActionAttempt,
    ActionType,
    EventType,
    InvalidInput,
    new_id,
)
from keyslot.protocol.offline_pin import (
    ACTIVATION_WINDOW,
    CODES_PER_START_SLOT,
    ONE_TIME_ACTIVATION_WINDOW,
    IssuedOfflinePin,
    OfflinePinError,
    OfflinePinIssuer,
    OfflinePinKeys,
    OfflinePinKind,
    start_slot,
)
from keyslot.service_base import DeviceRules, ServiceBase
from keyslot.store import CodeOptions, CodeRecord, DeviceRecord, Store, StoreCorrupt

__all__ = [
    "OFFLINE_KEY_PREFIX",
    "ClearAllCode",
    "OfflineCodes",
    "OfflinePairing",
    "forget_offline_pairing",
    "load_offline_pairing",
    "offline_kind",
    "save_offline_pairing",
]

OFFLINE_KEY_PREFIX = "offline-pin:"
_SETTINGS_KEY = "offline_pins"
_FORMAT = b"\x01"
_SECRET_BYTES = 32
# Start slots older than this can take no new code (a start must be within its activation
# window), so their counts are dropped.
_KEEP_COUNTS = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class OfflinePairing:
    """The gateway's half of a pairing: the X25519 secret and the lock id it was salted with."""

    secret: bytes
    lock_id: str

    def __repr__(self) -> str:
        return f"OfflinePairing(lock_id={self.lock_id!r})"

    def keys(self) -> OfflinePinKeys:
        return OfflinePinKeys.derive(self.secret, self.lock_id)

    def encode(self) -> bytes:
        return _FORMAT + self.secret + self.lock_id.encode("utf-8")

    @classmethod
    def decode(cls, blob: bytes) -> OfflinePairing:
        if blob[:1] != _FORMAT or len(blob) < 1 + _SECRET_BYTES:
            raise StoreCorrupt("an offline PIN pairing record is malformed")
        try:
            lock_id = blob[1 + _SECRET_BYTES :].decode("utf-8")
        except UnicodeDecodeError:
            raise StoreCorrupt("an offline PIN pairing record is malformed") from None
        return cls(blob[1 : 1 + _SECRET_BYTES], lock_id)


def _key_name(device_id: str) -> str:
    return OFFLINE_KEY_PREFIX + device_id


def save_offline_pairing(store: Store, device_id: str, secret: bytes, lock_id: str) -> None:
    """Keep a new pairing. New keys start a new history: generation 0, no codes issued."""
    if len(secret) != _SECRET_BYTES:
        raise ValueError("an offline PIN secret is 32 bytes")
    with store.transaction():
        store.devices.update(
            device_id,
            lambda r: replace(
                r, settings={k: v for k, v in r.settings.items() if k != _SETTINGS_KEY}
            ),
        )
        store.pairing_keys.save_key(_key_name(device_id), OfflinePairing(secret, lock_id).encode())


def load_offline_pairing(store: Store, device_id: str) -> OfflinePairing | None:
    blob = store.pairing_keys.load_key(_key_name(device_id))
    return None if blob is None else OfflinePairing.decode(blob)


def forget_offline_pairing(store: Store, device_id: str) -> None:
    store.pairing_keys.delete_key(_key_name(device_id))


@dataclass(frozen=True, slots=True)
class ClearAllCode:
    """A clear-all code of a lock paired for offline PINs, and the generation it starts."""

    device_id: str
    code: str = field(repr=False)
    generation: int

    def to_dict(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "code": self.code, "generation": self.generation}


@dataclass(slots=True)
class _IssuedCounts:
    """The issuer's memory kept in the device settings: generation, per-slot counts, and
    whether the generation's clear-all code is the newest code issued."""

    generation: int
    counts: dict[str, int]  # "generation:kind:start slot" -> codes issued
    clear_is_newest: bool = False

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> _IssuedCounts:
        raw = settings.get(_SETTINGS_KEY) or {}
        try:
            generation = int(raw.get("generation", 0))
            counts = {str(k): int(v) for k, v in dict(raw.get("counts") or {}).items()}
            clear_is_newest = raw.get("clear_is_newest", False)
        except (AttributeError, TypeError, ValueError):
            raise StoreCorrupt("the offline PIN counters of a device are damaged") from None
        # a clear-all code starts a generation: there is none before generation 1
        if not isinstance(clear_is_newest, bool) or generation < int(clear_is_newest):
            raise StoreCorrupt("the offline PIN counters of a device are damaged")
        return cls(generation, counts, clear_is_newest)

    @staticmethod
    def key(generation: int, kind: OfflinePinKind, unit: int) -> str:
        return f"{generation}:{int(kind)}:{unit}"

    def to_settings(self, now: datetime) -> dict[str, Any]:
        keep: dict[str, int] = {}
        for key, count in self.counts.items():
            generation, kind, unit = (int(p) for p in key.split(":"))
            oldest = start_slot(OfflinePinKind(kind), now - _KEEP_COUNTS)
            if generation == self.generation and unit >= oldest:
                keep[key] = count
        return {
            "generation": self.generation,
            "counts": keep,
            "clear_is_newest": self.clear_is_newest,
        }

    def save(self, store: Store, device_id: str, now: datetime) -> None:
        """Write the counters into the device's settings (inside the caller's transaction)."""
        book = self.to_settings(now)
        store.devices.update(
            device_id, lambda r: replace(r, settings={**r.settings, _SETTINGS_KEY: book})
        )


def offline_kind(one_time: bool, rounding: str | None) -> OfflinePinKind:
    """The kind of offline code a request asks for."""
    if one_time:
        if rounding == "1day":
            raise InvalidInput.for_field(
                "max_time_rounding", "a one-time offline code starts on a whole hour; use 1hour"
            )
        return OfflinePinKind.ONE_TIME
    return OfflinePinKind.DAILY if rounding == "1day" else OfflinePinKind.HOURLY


class OfflineCodes(ServiceBase):
    """Issuing offline access codes, and Seam's refusals to change them."""

    def insert_offline_code(
        self,
        device: DeviceRecord,
        *,
        rules: DeviceRules,
        name: str | None,
        code: str | None,
        starts_at: datetime | None,
        ends_at: datetime | None,
        one_time: bool,
        allow_external: bool,
        options: CodeOptions,
    ) -> tuple[CodeRecord, ActionAttempt]:
        """Issue an offline code: it is `set` at once, with no device operation.

        Runs inside the caller's transaction, so the slot count read is the one written.
        """
        pairing = self._offline_pairing(device, rules, "is_offline_access_code")
        if code is not None:
            raise InvalidInput.for_field(
                "code", "an offline access code cannot have a custom code; the gateway makes it"
            )
        if starts_at is None or ends_at is None:
            field = "starts_at" if starts_at is None else "ends_at"
            raise InvalidInput.for_field(
                field, "an offline access code needs starts_at and ends_at"
            )
        now = self.now()
        kind = offline_kind(one_time, options.max_time_rounding)
        issued = self._issue(device, pairing, kind, (starts_at, ends_at), now)
        access_code = AccessCode(
            access_code_id=new_id(),
            device_id=device.device_id,
            workspace_id=self.store.workspace_id,
            created_at=now,
            name=name,
            code=issued.code,
            starts_at=issued.starts_at,
            ends_at=issued.ends_at,
            status=AccessCodeStatus.SET,
            is_external_modification_allowed=allow_external,
            is_offline_access_code=True,
            is_one_time_use=one_time,
            is_scheduled_on_device=True,  # the lock itself enforces the window
        )
        record = self.store.access_codes.put(
            CodeRecord(access_code, options=options), expected_revision=0
        )
        code_id = access_code.access_code_id
        self.event(
            EventType.ACCESS_CODE_CREATED, device_id=device.device_id, access_code_id=code_id
        )
        self.event(
            EventType.ACCESS_CODE_SET_ON_DEVICE,
            device_id=device.device_id,
            access_code_id=code_id,
            data={"code": issued.code},
        )
        attempt = self.store.action_attempts.put(
            ActionAttempt.pending(ActionType.CREATE_ACCESS_CODE).succeeded({}),
            access_code_id=code_id,
        )
        return record, attempt

    def create_offline_clear_all_code(self, *, device_id: str) -> ClearAllCode:
        """A 12-digit code that, typed at the lock, revokes every offline code issued before
        it; the codes issued after it work once it has been typed.

        Not a Seam call. A lock takes clear-all codes in the order they were issued. Asked
        again before any new offline code was issued, the gateway answers the same code: it
        still revokes everything, and an answer lost on its way costs nothing.
        """
        with self.store.transaction():
            device = self.device_record(device_id)
            pairing = self._offline_pairing(device, DeviceRules.of(device), "device_id")
            book = _IssuedCounts.of(device.settings)
            now = self.now()
            if not book.clear_is_newest:  # else nothing was issued since: the same code again
                book.generation += 1
                book.clear_is_newest = True
                book.save(self.store, device.device_id, now)
            issued = OfflinePinIssuer(pairing.keys(), book.generation - 1).issue_clear_all(now)
        return ClearAllCode(device.device_id, issued.code, issued.generation)

    def _offline_pairing(
        self, device: DeviceRecord, rules: DeviceRules, param: str
    ) -> OfflinePairing:
        """The device's pairing for offline codes; `InvalidInput` on `param` without one."""
        if not rules.offline_pins:
            raise InvalidInput.for_field(param, "offline codes are not supported by this device")
        pairing = load_offline_pairing(self.store, device.device_id)
        if pairing is None:
            raise InvalidInput.for_field(
                param,
                "this device has not been paired for offline codes yet; the gateway pairs it "
                "when it starts and can reach the lock",
            )
        return pairing

    def _issue(
        self,
        device: DeviceRecord,
        pairing: OfflinePairing,
        kind: OfflinePinKind,
        window: tuple[datetime, datetime],
        now: datetime,
    ) -> IssuedOfflinePin:
        starts_at, ends_at = window
        book = _IssuedCounts.of(device.settings)
        unit = start_slot(kind, starts_at)
        slot_key = _IssuedCounts.key(book.generation, kind, unit)
        already = book.counts.get(slot_key, 0)
        if already >= CODES_PER_START_SLOT:
            span = "day" if kind is OfflinePinKind.DAILY else "hour"
            raise InvalidInput.for_field(
                "starts_at",
                f"at most {CODES_PER_START_SLOT} offline codes of this kind may start in the "
                f"same {span}; choose another start",
            )
        issuer = OfflinePinIssuer(pairing.keys(), book.generation)
        issuer.note_issued(kind, unit, already)
        try:
            issued = issuer.issue(kind, starts_at, ends_at)
        except OfflinePinError as exc:
            raise InvalidInput.for_field("ends_at", str(exc)) from None
        first_use = (
            ONE_TIME_ACTIVATION_WINDOW if kind is OfflinePinKind.ONE_TIME else ACTIVATION_WINDOW
        )
        if issued.starts_at + first_use <= now:
            raise InvalidInput.for_field(
                "starts_at",
                f"an offline code must first be used within {first_use.total_seconds() / 3600:g}"
                " hours of its start, and that time has passed",
            )
        book.counts[slot_key] = issued.sequence + 1
        book.clear_is_newest = False
        book.save(self.store, device.device_id, now)
        return issued

    # -- what Seam refuses --------------------------------------------------------------

    @staticmethod
    def refuse_offline_update(current: AccessCode) -> None:
        if current.is_offline_access_code:
            raise InvalidInput(
                "an offline access code cannot be updated: the lock checks it without a "
                "connection; create a new one instead",
                validation_errors={"access_code_id": ["is an offline access code"]},
            )

    def delete_offline_code(self, record: CodeRecord) -> ActionAttempt:
        """Drop an offline code that has ended; refuse one that may still open the lock."""
        current = record.access_code
        now = self.now()
        if current.ends_at is None or now < current.ends_at:
            raise InvalidInput(
                "an offline access code cannot be deleted before it ends: the lock checks it "
                "without a connection",
                validation_errors={"access_code_id": ["is an offline access code in use"]},
            )
        self.event(
            EventType.ACCESS_CODE_DELETED,
            device_id=current.device_id,
            access_code_id=current.access_code_id,
            data={"code": current.code},
        )
        self.store.access_codes.delete(current.access_code_id)
        attempt = ActionAttempt.pending(ActionType.DELETE_ACCESS_CODE).succeeded({})
        self.store.action_attempts.put(attempt, access_code_id=current.access_code_id)
        return attempt

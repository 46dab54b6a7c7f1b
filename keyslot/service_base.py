"""What every part of the service shares: the store, the clock, waking the reconciler, and
the device rules a request is checked against."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyslot.model import (
    AccessCode,
    DeviceNotFound,
    Event,
    EventType,
    InvalidInput,
    parse_time,
)
from keyslot.model.timing import Timing
from keyslot.protocol.clock import Clock
from keyslot.protocol.slots import LockInfo, NameRules
from keyslot.service_inuse import CodesInUse
from keyslot.store import Desired, DeviceRecord, Store

__all__ = ["DeviceRules", "Scheduling", "ServiceBase", "Wake", "as_bool", "as_int", "pagination"]

# Tells the reconciler that a device has work; called after the change is committed.
Wake = Callable[[str], None]

# Seam's API accepts codes of 4-12 digits; a lock never read yet is checked against that.
API_CODE_LENGTHS: tuple[int, ...] = tuple(range(4, 13))
DEFAULT_LIMIT = 55000


# The service's name for the timing policy it shares with the reconciler.
Scheduling = Timing


@dataclass(frozen=True, slots=True)
class DeviceRules:
    """The code and name rules a device is known to enforce."""

    lengths: tuple[int, ...]
    constraints: tuple[str, ...]
    alphabet: str
    name_rules: NameRules | None
    native_schedules: bool
    offline_pins: bool
    one_time_codes: bool
    known: bool  # False until the lock has been reached once

    @classmethod
    def of(cls, device: DeviceRecord) -> DeviceRules:
        info = device.lock_info
        reported = device.settings.get("reported_code_lengths")
        if info is None:
            lengths = tuple(reported) if reported else API_CODE_LENGTHS
            return cls(lengths, (), "0123456789", None, False, False, False, known=False)
        return cls(
            lengths=tuple(reported) if reported else tuple(info.code_lengths),
            constraints=tuple(info.constraints),
            alphabet=info.alphabet,
            name_rules=info.name_rules,
            native_schedules=info.native_schedules,
            offline_pins=info.offline_pins,
            one_time_codes=info.one_time_codes,
            known=True,
        )

    @property
    def generation_lengths(self) -> tuple[int, ...]:
        """Lengths to generate from: an unread lock gets the common 4-8 digits."""
        return (
            self.lengths if self.known else LockInfo(model="", vendor="", slot_count=0).code_lengths
        )


def as_bool(value: object, field: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise InvalidInput.for_field(field, "must be true or false")


def as_int(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise InvalidInput.for_field(field, "must be a whole number")
    return int(value)


def as_str(value: object, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput.for_field(field, "must be a string")


def as_time(value: object, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field)


def pagination(next_cursor: str | None) -> dict[str, Any]:
    """Seam's `pagination` object (the gateway fills `next_page_url`)."""
    return {
        "has_next_page": next_cursor is not None,
        "next_page_cursor": next_cursor,
        "next_page_url": None,
    }


def check_limit(limit: object) -> int:
    value = as_int(limit, "limit")
    if value is None:
        return DEFAULT_LIMIT
    if value < 1:
        raise InvalidInput.for_field("limit", "must be at least 1")
    return value


class ServiceBase:
    """State and helpers shared by the service's parts."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        wake: Wake | None = None,
        scheduling: Scheduling | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or store.clock
        self.scheduling = scheduling or Scheduling()
        self._wake = wake

    def set_wake(self, wake: Wake | None) -> None:
        """Connect (or disconnect) the reconciler after construction."""
        self._wake = wake

    # -- time ---------------------------------------------------------------------------

    def now(self) -> datetime:
        """The current time at Seam's resolution (milliseconds), so stored times round-trip."""
        at = self.clock.now()
        return at.replace(microsecond=at.microsecond // 1000 * 1000)

    # -- devices ------------------------------------------------------------------------

    def device_record(self, device_id: object) -> DeviceRecord:
        if not isinstance(device_id, str) or not device_id:
            raise InvalidInput.for_field("device_id", "is required")
        record = self.store.devices.get(device_id)
        if record is None:
            raise DeviceNotFound(f"device {device_id} not found")
        return record

    # -- after a commit -----------------------------------------------------------------

    def wake_after_commit(self, device_ids: Collection[str]) -> None:
        """Wake the reconciler for each device once the current transaction has committed."""
        wake = self._wake
        if wake is None:
            return
        for device_id in dict.fromkeys(device_ids):
            self.store.after_commit(functools.partial(wake, device_id))

    def event(
        self,
        event_type: EventType,
        *,
        device_id: str | None = None,
        access_code_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        """Append an event now (inside the caller's transaction); `data` is its own fields."""
        event = Event.new(
            event_type,
            workspace_id=self.store.workspace_id,
            at=self.now(),
            device_id=device_id,
            access_code_id=access_code_id,
            **dict(data or {}),
        )
        self.store.events.append(event)
        return event

    def present_codes(self, device_id: str, *, excluding: str | None = None) -> list[AccessCode]:
        """The managed codes that stay on a device (not being deleted), but `excluding`."""
        return [
            r.access_code
            for r in self.store.access_codes.for_device(device_id)
            if r.desired is Desired.PRESENT and r.access_code_id != excluding
        ]

    def codes_in_use(self, device_id: str, *, excluding: str | None = None) -> CodesInUse:
        """Every known PIN on a device: managed codes that stay, and unmanaged codes.

        Membership is an index look-up by fingerprint; only iterating reads every code.
        """
        return CodesInUse(self.store, device_id, excluding=excluding)

    def names_in_use(self, device_id: str, *, excluding: str | None = None) -> list[str | None]:
        """The names of the managed codes that stay on a device, but `excluding`."""
        return self.store.access_codes.names(device_id, excluding=excluding)


def as_str_list(value: object, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidInput.for_field(field, "must be a list of strings")


def unknown_keys(params: Mapping[str, Any], known: Collection[str]) -> None:
    extra = sorted(set(params) - set(known))
    if extra:
        raise InvalidInput(
            f"unknown parameters: {', '.join(extra)}",
            validation_errors={k: ["is not a parameter of this call"] for k in extra},
        )

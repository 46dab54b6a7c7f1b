"""The application API used by the HTTP gateway and the CLI, named after Seam's routes.

Methods take Seam's parameter names as keyword arguments, check them (the CLI does not go
through the gateway's checks), and raise `keyslot.model.SeamApiError` subclasses with
Seam's error types. Calls are synchronous: each is a few short store transactions, fine to
run on the event loop. A change is committed before the call returns; then `wake(device_id)`
tells the reconciler (the service never imports it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from keyslot.drivers import LockUrlError
from keyslot.model import (
    ActionAttempt,
    ActionAttemptNotFound,
    Conflict,
    Device,
    DeviceNotFound,
    Event,
    InvalidInput,
    NotFound,
    new_id,
)
from keyslot.service_backup import BackupCodes
from keyslot.service_base import (
    DeviceRules,
    Scheduling,
    Wake,
    as_int,
    as_str,
    as_str_list,
    as_time,
    check_limit,
)
from keyslot.service_changes import ChangeCodes
from keyslot.service_codes import CreateCodes
from keyslot.service_offline import forget_offline_pairing
from keyslot.service_queries import QueryCodes
from keyslot.service_unmanaged import UnmanagedCodesService
from keyslot.store import DeviceRecord, StoreConflict
from keyslot.store.urls import redact_url, url_scheme

__all__ = ["DeviceRules", "Scheduling", "Service", "Wake"]

_MAX_REPORTED_LENGTH = 20
_MIN_REPORTED_LENGTH = 4


class Service(CreateCodes, QueryCodes, ChangeCodes, UnmanagedCodesService, BackupCodes):
    """Seam's access-code, device, event and action-attempt calls over one store."""

    # -- devices ------------------------------------------------------------------------

    def list_devices(
        self,
        *,
        device_ids: list[str] | None = None,
        device_id: str | None = None,
        device_type: str | None = None,
        device_types: list[str] | None = None,
        manufacturer: str | None = None,
        limit: int | None = None,
        created_before: str | datetime | None = None,
        **_ignored: Any,
    ) -> list[Device]:
        """Seam's `/devices/list` (and `/locks/list`); filters a gateway has no notion of
        (connected accounts, spaces, custom metadata) are accepted and ignored."""
        ids = as_str_list(device_ids, "device_ids")
        if device_id is not None:
            ids = [*(ids or []), device_id]
        types = as_str_list(device_types, "device_types") or []
        if device_type is not None:
            types.append(device_type)
        before = as_time(created_before, "created_before")
        count = check_limit(limit)
        workspace_id = self.store.workspace_id
        devices = [r.device(workspace_id) for r in self.store.devices.all(ids)]
        if types:
            devices = [d for d in devices if d.device_type in types]
        if manufacturer is not None:
            wanted = manufacturer.casefold()
            devices = [
                d
                for d in devices
                if d.properties.manufacturer_display_name.casefold().replace(" ", "_") == wanted
            ]
        if before is not None:
            devices = [d for d in devices if d.created_at < before]
        return devices[:count]

    def get_device(self, *, device_id: str | None = None, name: str | None = None) -> Device:
        """Seam's `/devices/get` (and `/locks/get`): by id or by name."""
        if device_id is not None:
            return self.device_record(device_id).device(self.store.workspace_id)
        if name is not None:
            for record in self.store.devices.all():
                if record.name == name:
                    return record.device(self.store.workspace_id)
            raise DeviceNotFound("no device with this name")
        raise InvalidInput.for_field("device_id", "is required unless name is given")

    def add_device(
        self, *, lock_url: str, name: str | None = None, device_id: str | None = None
    ) -> DeviceRecord:
        """Add a lock by URL (`sim://kwikset`, `serial:///dev/ttyUSB0`, ...)."""
        try:
            scheme = url_scheme(lock_url)
        except LockUrlError as exc:
            raise InvalidInput.for_field("lock_url", exc.message) from None
        record = DeviceRecord(
            device_id=device_id or new_id(),
            lock_url=lock_url,
            name=name or _default_name(lock_url),
            transport=scheme,
            created_at=self.now(),
        )
        try:
            stored = self.store.devices.put(record)
        except StoreConflict as exc:
            raise Conflict(exc.message, type="device_already_added") from None
        self.wake_after_commit([stored.device_id])
        return stored

    def remove_device(self, *, device_id: str) -> None:
        """Forget a lock with its codes and observed slots (the lock itself is not touched)."""
        self.device_record(device_id)
        with self.store.transaction():
            self.store.devices.delete(device_id)
            forget_offline_pairing(self.store, device_id)
        self.wake_after_commit([device_id])

    def report_device_constraints(
        self,
        *,
        device_id: str,
        supported_code_lengths: list[int] | None = None,
        min_code_length: int | None = None,
        max_code_length: int | None = None,
    ) -> None:
        """Seam's `/access_codes/report_device_constraints`: code lengths the lock takes,
        used instead of what its driver reported."""
        lengths = self._reported_lengths(supported_code_lengths, min_code_length, max_code_length)
        with self.store.transaction():
            self.device_record(device_id)
            self.store.devices.update(
                device_id,
                lambda r: replace(r, settings={**r.settings, "reported_code_lengths": lengths}),
            )

    @staticmethod
    def _reported_lengths(supported: object, min_length: object, max_length: object) -> list[int]:
        low = as_int(min_length, "min_code_length")
        high = as_int(max_length, "max_code_length")
        if supported is not None:
            if low is not None or high is not None:
                raise InvalidInput.for_field(
                    "supported_code_lengths", "give either it or min/max_code_length, not both"
                )
            if not isinstance(supported, list) or not supported:
                raise InvalidInput.for_field("supported_code_lengths", "must be a non-empty list")
            lengths = [as_int(v, "supported_code_lengths") for v in supported]
            values = sorted({v for v in lengths if v is not None})
        else:
            if low is None and high is None:
                raise InvalidInput(
                    "give supported_code_lengths, or min_code_length and/or max_code_length"
                )
            low = _MIN_REPORTED_LENGTH if low is None else low
            high = _MAX_REPORTED_LENGTH if high is None else high
            if low > high:
                raise InvalidInput.for_field("max_code_length", "must not be below min_code_length")
            values = list(range(low, high + 1))
        for value in values:
            if not _MIN_REPORTED_LENGTH <= value <= _MAX_REPORTED_LENGTH:
                raise InvalidInput.for_field("supported_code_lengths", "lengths must be 4 to 20")
        return values

    # -- action attempts and events -----------------------------------------------------

    def get_action_attempt(self, *, action_attempt_id: str) -> ActionAttempt:
        attempt = self.store.action_attempts.get(action_attempt_id)
        if attempt is None:
            raise ActionAttemptNotFound(f"action attempt {action_attempt_id} not found")
        return attempt

    def list_events(
        self,
        *,
        since: str | datetime | None = None,
        between: list[str] | None = None,
        device_id: str | None = None,
        device_ids: list[str] | None = None,
        access_code_id: str | None = None,
        access_code_ids: list[str] | None = None,
        event_type: str | None = None,
        event_types: list[str] | None = None,
        event_ids: list[str] | None = None,
        limit: int | None = None,
        unstable_offset: int | None = None,
        **_ignored: Any,
    ) -> list[Event]:
        """Seam's `/events/list`, newest first; filters of systems a gateway lacks are ignored."""
        start = as_time(since, "since")
        end = None
        if between is not None:
            if not isinstance(between, list) or len(between) != 2:
                raise InvalidInput.for_field("between", "must be two times")
            start, end = as_time(between[0], "between"), as_time(between[1], "between")

        def merged(one: str | None, many: object, field: str) -> list[str] | None:
            values = as_str_list(many, field)
            if one is not None:
                values = [*(values or []), one]
            return values

        count = check_limit(limit) if limit is not None else 500
        offset = as_int(unstable_offset, "unstable_offset") or 0
        stored = self.store.events.query(
            device_ids=merged(device_id, device_ids, "device_ids"),
            access_code_ids=merged(access_code_id, access_code_ids, "access_code_ids"),
            event_types=merged(event_type, event_types, "event_types"),
            event_ids=as_str_list(event_ids, "event_ids"),
            since=start,
            until=end,
            newest_first=True,
            limit=count + offset,
        )
        return [s.event for s in stored[offset:]]

    def get_event(self, *, event_id: str) -> Event:
        stored = self.store.events.get(as_str(event_id, "event_id") or "")
        if stored is None:
            raise NotFound(f"event {event_id} not found", type="event_not_found")
        return stored.event


def _default_name(lock_url: str) -> str:
    """A lock's name when none is given: its `id` option, else its URL without secrets."""
    _, _, query = lock_url.partition("?")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "id" and value:
            return value
    return redact_url(lock_url)

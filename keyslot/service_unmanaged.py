"""Unmanaged access codes: codes found on a lock that keyslot did not put there.

The reconciler records them as it reads slot tables; here they are listed, deleted (the
reconciler clears the slot, then drops the row) or taken over as managed codes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyslot.model import (
    AccessCode,
    AccessCodeNotFound,
    AccessCodeStatus,
    ActionAttempt,
    ActionType,
    EventType,
    InvalidInput,
    UnmanagedAccessCode,
    new_id,
)
from keyslot.service_base import DeviceRules, ServiceBase, as_bool, as_str, check_limit, pagination
from keyslot.service_rules import check_new_code, code_param, external_flag
from keyslot.store import CodeRecord, Desired, UnmanagedRecord

__all__ = ["UnmanagedCodesService"]


class UnmanagedCodesService(ServiceBase):
    """Seam's `/access_codes/unmanaged/*` and `simulate/create_unmanaged_access_code`."""

    def _unmanaged(self, access_code_id: object) -> UnmanagedRecord:
        if not isinstance(access_code_id, str) or not access_code_id:
            raise InvalidInput.for_field("access_code_id", "is required")
        record = self.store.unmanaged.get(access_code_id)
        if record is None or record.desired is Desired.ABSENT:
            raise AccessCodeNotFound(f"unmanaged access code {access_code_id} not found")
        return record

    def list_unmanaged_access_codes(
        self,
        *,
        device_id: str,
        limit: int | None = None,
        page_cursor: str | None = None,
        user_identifier_key: str | None = None,
        search: str | None = None,
    ) -> tuple[list[UnmanagedAccessCode], dict[str, Any]]:
        """Codes found on a device, oldest first, paged."""
        self.device_record(device_id)
        count = check_limit(limit)
        if user_identifier_key is not None:  # no user owns a code found on a lock
            return [], pagination(None)
        needle = as_str(search, "search")
        if needle is not None:
            found = [
                r.access_code
                for r in self.store.unmanaged.for_device(device_id)
                if r.desired is Desired.PRESENT
                and (
                    needle.casefold() in (r.access_code.name or "").casefold()
                    or needle in (r.access_code.code or "")
                    or needle in r.access_code_id
                )
            ]
            return found[:count], pagination(None)
        records, cursor = self.store.unmanaged.page(
            device_id=device_id, cursor=page_cursor, limit=count
        )
        return [r.access_code for r in records], pagination(cursor)

    def get_unmanaged_access_code(
        self,
        *,
        access_code_id: str | None = None,
        device_id: str | None = None,
        code: str | None = None,
    ) -> UnmanagedAccessCode:
        if access_code_id is not None:
            record = self._unmanaged(access_code_id)
            if device_id is not None and record.device_id != device_id:
                raise AccessCodeNotFound(f"unmanaged access code {access_code_id} not found")
            return record.access_code
        if device_id is not None and code is not None:
            self.device_record(device_id)
            for record in self.store.unmanaged.with_code(device_id, code):
                if record.desired is Desired.PRESENT:
                    return record.access_code
            raise AccessCodeNotFound("no unmanaged access code with this code on the device")
        raise InvalidInput.for_field("access_code_id", "is required unless device_id and code are")

    def delete_unmanaged_access_code(
        self, *, access_code_id: str, sync: bool | None = None
    ) -> ActionAttempt:
        """Clear the code from its lock: the reconciler empties the slot, then drops the row."""
        as_bool(sync, "sync", False)
        with self.store.transaction():
            record = self._unmanaged(access_code_id)
            attempt = ActionAttempt.pending(ActionType.DELETE_ACCESS_CODE)
            if record.slot is None:  # never seen in a slot: nothing to clear on the lock
                self.store.unmanaged.delete(access_code_id)
                attempt = attempt.succeeded({})
            else:
                self.store.unmanaged.put(replace(record, desired=Desired.ABSENT))
                self.wake_after_commit([record.device_id])
            self.event(
                EventType.ACCESS_CODE_UNMANAGED_REMOVED,
                device_id=record.device_id,
                access_code_id=access_code_id,
            )
            self.store.action_attempts.put(attempt, access_code_id=access_code_id)
        return attempt

    def update_unmanaged_access_code(
        self,
        *,
        access_code_id: str,
        is_managed: bool,
        allow_external_modification: bool | None = None,
        is_external_modification_allowed: bool | None = None,
        force: bool | None = None,
    ) -> None:
        """Seam's `/access_codes/unmanaged/update`: `is_managed: true` takes the code over."""
        if as_bool(is_managed, "is_managed", False):
            self.convert_to_managed(
                access_code_id=access_code_id,
                allow_external_modification=allow_external_modification,
                is_external_modification_allowed=is_external_modification_allowed,
                force=force,
            )
        else:
            self._unmanaged(access_code_id)

    def convert_to_managed(
        self,
        *,
        access_code_id: str,
        allow_external_modification: bool | None = None,
        is_external_modification_allowed: bool | None = None,
        force: bool | None = None,
        sync: bool | None = None,
    ) -> AccessCode:
        """Manage a code found on the lock from now on; it keeps its id, slot, PIN and name.

        A lock that masks its codes never told keyslot the PIN, so such a code cannot be
        managed (keyslot could not re-set it after a change at the keypad).
        """
        as_bool(sync, "sync", False)
        as_bool(force, "force", False)
        external = bool(
            external_flag(is_external_modification_allowed, allow_external_modification)
        )
        with self.store.transaction():
            record = self._unmanaged(access_code_id)
            found = record.access_code
            if found.code is None:
                raise InvalidInput.for_field(
                    "access_code_id",
                    "this lock does not reveal the code, so keyslot cannot manage it",
                )
            managed = AccessCode(
                access_code_id=found.access_code_id,
                device_id=found.device_id,
                workspace_id=found.workspace_id,
                created_at=found.created_at,
                name=found.name,
                code=found.code,
                starts_at=found.starts_at,
                ends_at=found.ends_at,
                status=AccessCodeStatus.SET if record.slot is not None else AccessCodeStatus.UNSET,
                appearance=found.appearance,
                is_external_modification_allowed=external,
            )
            self.store.unmanaged.delete(access_code_id)
            self.store.access_codes.put(CodeRecord(managed, slot=record.slot), expected_revision=0)
            self.event(
                EventType.ACCESS_CODE_UNMANAGED_CONVERTED_TO_MANAGED,
                device_id=found.device_id,
                access_code_id=access_code_id,
            )
            self.wake_after_commit([found.device_id])
        return managed

    def simulate_create_unmanaged_access_code(
        self, *, device_id: str, name: str, code: str
    ) -> UnmanagedAccessCode:
        """Seam's sandbox call: record a code as if it had been found on the lock.

        The code is not written to the lock; the next full read of the lock's slots
        replaces what is recorded here with what the lock really holds.
        """
        pin = code_param(code)
        if pin is None:
            raise InvalidInput.for_field("code", "is required")
        label = as_str(name, "name")
        with self.store.transaction():
            device = self.device_record(device_id)
            check_new_code(
                DeviceRules.of(device),
                pin,
                self.codes_in_use(device.device_id),
                starts_at=None,
                now=self.now(),
            )
            found = UnmanagedAccessCode(
                access_code_id=new_id(),
                device_id=device.device_id,
                workspace_id=self.store.workspace_id,
                created_at=self.now(),
                name=label,
                code=pin,
            )
            self.store.unmanaged.put(UnmanagedRecord(found))
            self.event(
                EventType.ACCESS_CODE_UNMANAGED_CREATED,
                device_id=device.device_id,
                access_code_id=found.access_code_id,
            )
        return found

"""Updating and deleting managed access codes.

Every accepted change is one store transaction (the code with its status and pending
mutations, events, an action attempt), committed before the call returns; only then is
the reconciler woken for the device.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from keyslot.model import (
    AccessCode,
    AccessCodeErrorCode,
    AccessCodeNotFound,
    AccessCodeStatus,
    AccessCodeWarning,
    AccessCodeWarningCode,
    ActionAttempt,
    ActionType,
    DeletingMutation,
    EventType,
    InvalidInput,
    MutationCode,
    UpdatingCodeMutation,
    UpdatingNameMutation,
    UpdatingTimeFrameMutation,
    format_time_or_none,
)
from keyslot.service_base import (
    DeviceRules,
    as_bool,
    as_int,
    as_str,
)
from keyslot.service_offline import OfflineCodes
from keyslot.service_rules import (
    check_name,
    check_new_code,
    code_param,
    external_flag,
    initial_state,
    rounding,
    time_frame,
)
from keyslot.store import CodeRecord, Desired

__all__ = ["ChangeCodes"]


class ChangeCodes(OfflineCodes):
    """Updating and deleting managed access codes (offline ones: Seam refuses both)."""

    # -- update -------------------------------------------------------------------------

    def update_access_code(
        self,
        *,
        access_code_id: str,
        name: str | None = None,
        code: str | None = None,
        starts_at: str | datetime | None = None,
        ends_at: str | datetime | None = None,
        type: str | None = None,  # noqa: A002 - Seam's parameter name
        device_id: str | None = None,
        is_managed: bool | None = None,
        is_external_modification_allowed: bool | None = None,
        allow_external_modification: bool | None = None,
        attempt_for_offline_device: bool | None = None,
        prefer_native_scheduling: bool | None = None,
        max_time_rounding: str | None = None,
        use_backup_access_code_pool: bool | None = None,
        is_offline_access_code: bool | None = None,
        use_offline_access_code: bool | None = None,
        is_one_time_use: bool | None = None,
        preferred_code_length: int | None = None,
        sync: bool | None = None,
    ) -> ActionAttempt:
        """Seam's `/access_codes/update`. A parameter left out (or null) keeps its value.

        Answers the action attempt (as Seam does); read the code back with `get_access_code`.
        """
        as_bool(sync, "sync", False)
        as_int(preferred_code_length, "preferred_code_length")
        if as_bool(is_managed, "is_managed", True) is False:
            raise InvalidInput.for_field(
                "is_managed", "a managed access code cannot be made unmanaged here"
            )
        if type not in (None, "ongoing", "time_bound"):
            raise InvalidInput.for_field("type", "must be ongoing or time_bound")
        for flag, field in (
            (is_offline_access_code, "is_offline_access_code"),
            (use_offline_access_code, "use_offline_access_code"),
            (use_backup_access_code_pool, "use_backup_access_code_pool"),
        ):
            if as_bool(flag, field, False):
                raise InvalidInput.for_field(field, "cannot be turned on for an existing code")
        new_name = as_str(name, "name")
        new_code = code_param(code)
        external = external_flag(is_external_modification_allowed, allow_external_modification)
        with self.store.transaction():
            record = self.store.access_codes.get(access_code_id)
            if record is None or record.desired is Desired.ABSENT:
                raise AccessCodeNotFound(f"access code {access_code_id} not found")
            if device_id is not None and device_id != record.device_id:
                raise InvalidInput.for_field(
                    "device_id", "an access code cannot move to another device"
                )
            current = record.access_code
            self.refuse_offline_update(current)
            one_time = as_bool(is_one_time_use, "is_one_time_use", current.is_one_time_use)
            if one_time != current.is_one_time_use:
                raise InvalidInput.for_field("is_one_time_use", "cannot change after creation")
            start, end = self._new_frame(current, type, starts_at, ends_at)
            options = replace(
                record.options,
                prefer_native_scheduling=as_bool(
                    prefer_native_scheduling,
                    "prefer_native_scheduling",
                    record.options.prefer_native_scheduling,
                ),
                attempt_for_offline_device=as_bool(
                    attempt_for_offline_device,
                    "attempt_for_offline_device",
                    record.options.attempt_for_offline_device,
                ),
                max_time_rounding=rounding(max_time_rounding) or record.options.max_time_rounding,
            )
            changed, lock_work = self._apply_update(
                record=record, name=new_name, code=new_code, start=start, end=end, external=external
            )
            self.store.access_codes.put(
                replace(record, access_code=changed, options=options),
                expected_revision=record.revision,
            )
            attempt = ActionAttempt.pending(ActionType.UPDATE_ACCESS_CODE)
            if lock_work:
                self.wake_after_commit([record.device_id])
            else:
                attempt = attempt.succeeded({})
            self.store.action_attempts.put(attempt, access_code_id=access_code_id)
        return attempt

    def _new_frame(
        self, current: AccessCode, kind: str | None, starts_at: object, ends_at: object
    ) -> tuple[datetime | None, datetime | None]:
        if kind == "ongoing":
            if starts_at is not None or ends_at is not None:
                raise InvalidInput.for_field("type", "an ongoing code has no starts_at or ends_at")
            return None, None
        if starts_at is None and ends_at is None:
            if kind == "time_bound" and current.starts_at is None:
                raise InvalidInput.for_field(
                    "starts_at", "a time-bound code needs both starts_at and ends_at"
                )
            return current.starts_at, current.ends_at
        return time_frame(
            current.starts_at if starts_at is None else starts_at,
            current.ends_at if ends_at is None else ends_at,
            self.now(),
        )

    def _apply_update(
        self,
        *,
        record: CodeRecord,
        name: str | None,
        code: str | None,
        start: datetime | None,
        end: datetime | None,
        external: bool | None,
    ) -> tuple[AccessCode, bool]:
        """The updated code with its pending mutations and events; and whether the lock
        must change."""
        now = self.now()
        current = record.access_code
        device = self.device_record(record.device_id)
        rules = DeviceRules.of(device)
        updated = current
        lock_work = False
        ids: dict[str, Any] = {
            "device_id": current.device_id,
            "access_code_id": current.access_code_id,
        }
        if name is not None and name != current.name:
            check_name(
                rules,
                name,
                lambda: self.names_in_use(device.device_id, excluding=current.access_code_id),
            )
            updated = replace(updated, name=name).with_mutation(
                UpdatingNameMutation(now, current.name, name)
            )
            self.event(
                EventType.ACCESS_CODE_NAME_CHANGED,
                **ids,
                data={"from": {"name": current.name}, "to": {"name": name}},
            )
            lock_work = True
        if code is not None and code != current.code:
            if current.common_code_key is not None:
                raise InvalidInput.for_field(
                    "code",
                    "this code shares its PIN through common_code_key; it cannot change alone",
                )
            in_use = self.codes_in_use(device.device_id, excluding=current.access_code_id)
            check_new_code(rules, code, in_use, starts_at=start, now=now)
            updated = (
                replace(updated, code=code)
                .with_mutation(UpdatingCodeMutation(now, current.code, code))
                .without_error(AccessCodeErrorCode.CODE_CONSTRAINTS_VIOLATED)
                .without_error(AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE)
            )
            self.event(
                EventType.ACCESS_CODE_CODE_CHANGED,
                **ids,
                data={"from": {"code": current.code}, "to": {"code": code}},
            )
            lock_work = True
        if (start, end) != (current.starts_at, current.ends_at):
            updated = replace(updated, starts_at=start, ends_at=end).with_mutation(
                UpdatingTimeFrameMutation(now, current.starts_at, current.ends_at, start, end)
            )
            updated = self._reschedule(updated, record, rules, now)
            self.event(
                EventType.ACCESS_CODE_TIME_FRAME_CHANGED,
                **ids,
                data={
                    "from": {
                        "starts_at": format_time_or_none(current.starts_at),
                        "ends_at": format_time_or_none(current.ends_at),
                    },
                    "to": {
                        "starts_at": format_time_or_none(start),
                        "ends_at": format_time_or_none(end),
                    },
                },
            )
            lock_work = True
        if external is not None and external != current.is_external_modification_allowed:
            updated = replace(updated, is_external_modification_allowed=external)
            lock_work = True  # a change made at the keypad may now be kept, or must be undone
        if updated != current:
            self.event(EventType.ACCESS_CODE_CHANGED, **ids)
        return updated, lock_work

    def _reschedule(
        self, code: AccessCode, record: CodeRecord, rules: DeviceRules, now: datetime
    ) -> AccessCode:
        """A code not sent yet gets its creation re-planned for its new time frame."""
        waiting = {m.mutation_code for m in code.pending_mutations} & {
            MutationCode.CREATING,
            MutationCode.DEFERRING_CREATION,
        }
        if not waiting or record.ever_sent:
            return code
        native = (
            code.starts_at is not None
            and rules.native_schedules
            and record.options.prefer_native_scheduling
        )
        status, creation = initial_state(now, code.starts_at, native, self.scheduling)
        kept = tuple(
            m
            for m in code.pending_mutations
            if m.mutation_code
            not in (
                MutationCode.CREATING,
                MutationCode.DEFERRING_CREATION,
                MutationCode.UPDATING_TIME_FRAME,
            )
        )
        return replace(code, status=status, pending_mutations=(*kept, *creation))

    def update_multiple_access_codes(
        self,
        *,
        common_code_key: str,
        name: str | None = None,
        starts_at: str | datetime | None = None,
        ends_at: str | datetime | None = None,
    ) -> None:
        """Seam's `/access_codes/update_multiple`: the same change to every code sharing a key."""
        if not isinstance(common_code_key, str) or not common_code_key:
            raise InvalidInput.for_field("common_code_key", "is required")
        with self.store.transaction():
            for record in self.store.access_codes.with_common_key(common_code_key):
                if record.desired is Desired.PRESENT:
                    self.update_access_code(
                        access_code_id=record.access_code_id,
                        name=name,
                        starts_at=starts_at,
                        ends_at=ends_at,
                    )

    # -- delete -------------------------------------------------------------------------

    def delete_access_code(
        self, *, access_code_id: str, device_id: str | None = None, sync: bool | None = None
    ) -> ActionAttempt:
        """Seam's `/access_codes/delete`: `removing` until the lock lets go of it; a code
        that never reached its lock is gone at once."""
        as_bool(sync, "sync", False)
        with self.store.transaction():
            record = self.store.access_codes.get(access_code_id)
            if record is None or (device_id is not None and record.device_id != device_id):
                raise AccessCodeNotFound(f"access code {access_code_id} not found")
            if record.desired is Desired.ABSENT:  # asked again (a retried DELETE)
                for pending in self.store.action_attempts.pending_for_code(access_code_id):
                    if pending.action_type is ActionType.DELETE_ACCESS_CODE:
                        return pending
            if record.access_code.is_offline_access_code:
                return self.delete_offline_code(record)
            now = self.now()
            current = record.access_code
            self.event(
                EventType.ACCESS_CODE_DELETED,
                device_id=current.device_id,
                access_code_id=access_code_id,
                data={"code": current.code},
            )
            attempt = ActionAttempt.pending(ActionType.DELETE_ACCESS_CODE)
            if not record.ever_sent:
                self.store.access_codes.delete(access_code_id)
                for pending in self.store.action_attempts.pending_for_code(access_code_id):
                    self.store.action_attempts.put(
                        pending.failed(
                            "access_code_deleted", "the access code was deleted before it was set"
                        )
                    )
                attempt = attempt.succeeded({})
                self.store.action_attempts.put(attempt, access_code_id=access_code_id)
                return attempt
            removing = replace(
                current,
                status=AccessCodeStatus.REMOVING,
                pending_mutations=(DeletingMutation(now),),
            ).with_warning(
                AccessCodeWarning(
                    AccessCodeWarningCode.BEING_DELETED, "The access code is being deleted.", now
                )
            )
            self.store.access_codes.put(
                replace(record, access_code=removing, desired=Desired.ABSENT),
                expected_revision=record.revision,
            )
            self.store.action_attempts.put(attempt, access_code_id=access_code_id)
            self.wake_after_commit([record.device_id])
        return attempt

"""Between the store and the planner: a stored code as planner input, and every outcome of the
lock as a change to the stored code (status, slot, appearance, pending mutations, errors,
warnings) plus the events it causes. Pure: the worker commits what these functions return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from keyslot.model import (
    AccessCode,
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeWarning,
    AccessCodeWarningCode,
    Appearance,
    ChangeType,
    CreatingMutation,
    DeviceErrorCode,
    Event,
    EventType,
    ModifiedField,
    MutationCode,
    UnmanagedAccessCode,
)
from keyslot.protocol.slots import LockInfo, Slot
from keyslot.reconciler.planner import External, Operation
from keyslot.reconciler.state import (
    CodeSpec,
    Fingerprint,
    Phase,
    Shown,
    SlotRecord,
    SlotState,
    SlotStateError,
    shown_of,
)
from keyslot.reconciler.timing import Timing, settled_status, target_content
from keyslot.store import CodeRecord, Desired

__all__ = ["Ledger", "Outcome", "appearance_of", "content_key", "spec_of"]

_UPDATES = frozenset(
    {
        MutationCode.CREATING,
        MutationCode.UPDATING_CODE,
        MutationCode.UPDATING_NAME,
        MutationCode.UPDATING_TIME_FRAME,
    }
)
# Problems that end once the code is on the lock as wanted.
_SET_CLEARS_ERRORS = (
    AccessCodeErrorCode.FAILED_TO_SET_ON_DEVICE,
    AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE,
    AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
    AccessCodeErrorCode.CODE_CONSTRAINTS_VIOLATED,
    AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
)
# ... and once it is off the lock as wanted.
_OFF_CLEARS_ERRORS = (
    AccessCodeErrorCode.FAILED_TO_REMOVE_FROM_DEVICE,
    AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE,
    AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
    AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
)


_KEYS_LIMIT = 4096
_keys: dict[tuple[str | None, str | None], str] = {}


def content_key(code: str | None, name: str | None, fingerprint: Fingerprint) -> str:
    """Names a code's content without its PIN, so a decision lapses when the content changes."""
    parts = (None if code is None else fingerprint(code), name)
    key = _keys.get(parts)
    if key is None:
        key = json.dumps(list(parts))  # the stored form: never change it
        if len(_keys) >= _KEYS_LIMIT:
            _keys.clear()
        _keys[parts] = key
    return key


class _StateJson(dict[str, Any]):
    """A slot state's stored JSON that still knows the `SlotState` it was made from, so the
    ledger does not parse back what it has just written (the store keeps a plain copy)."""

    __slots__ = ("state",)

    def __init__(self, data: dict[str, Any], state: SlotState) -> None:
        super().__init__(data)
        self.state = state


def _slot_state(record: CodeRecord, fingerprint: Fingerprint) -> SlotState:
    stored = record.slot_state
    if isinstance(stored, _StateJson):
        return stored.state
    code = record.access_code
    if record.slot_state is None and record.slot is not None:
        # Taken over from the lock (an unmanaged code made managed): it is there as found.
        appearance = code.appearance
        shown = None
        if appearance is not None:
            shown = Shown(appearance.name, appearance.first_name, appearance.last_name)
        found = code.status is AccessCodeStatus.SET
        return SlotState(
            SlotRecord(
                record.slot,
                Phase.SET if found else Phase.WRITING,
                fingerprint(code.code or ""),
                name=code.name,
                shown=shown,
            )
        )
    try:
        return SlotState.from_json(record.slot_state)
    except SlotStateError:
        if record.slot is None:
            return SlotState()
        # Unreadable: assume a write of the current content may have reached the slot, so
        # it is simply sent again (same slot: never a duplicate).
        return SlotState(SlotRecord(record.slot, Phase.WRITING, fingerprint(code.code or "")))


def spec_of(record: CodeRecord, fingerprint: Fingerprint) -> CodeSpec:
    """The planner's view of a stored code."""
    code = record.access_code
    state = _slot_state(record, fingerprint)
    key = content_key(code.code, code.name, fingerprint)
    return CodeSpec(
        access_code_id=code.access_code_id,
        code=code.code,
        name=code.name,
        starts_at=code.starts_at,
        ends_at=code.ends_at,
        removing=record.desired is Desired.ABSENT,
        prefer_native_scheduling=record.options.prefer_native_scheduling,
        allow_external_modification=code.is_external_modification_allowed,
        hold=state.refused == key,
        removal_accepted=state.removal_accepted == key,
        record=state.record,
        one_time=code.is_one_time_use,
        spent=state.spent,
    )


def appearance_of(shown: Shown | None) -> Appearance | None:
    if shown is None or shown.empty:
        return None
    name = shown.name
    if name is None:
        name = " ".join(p for p in (shown.first_name, shown.last_name) if p)
    return Appearance(name, shown.first_name, shown.last_name)


@dataclass(slots=True)
class Outcome:
    """A stored code after an outcome (None: drop the row) and the events to append with it.

    `settled`: the code reached what was asked (pending attempts succeed); `failed`: the lock
    refused it for good (pending attempts fail with that error).
    """

    record: CodeRecord | None
    events: list[Event] = field(default_factory=list)
    settled: bool = False
    failed: AccessCodeError | None = None


@dataclass(frozen=True, slots=True)
class Ledger:
    """Turns lock outcomes into stored changes for one device, at one moment."""

    device_id: str
    workspace_id: str
    lock: LockInfo
    timing: Timing
    fingerprint: Fingerprint
    now: datetime

    # -- helpers -----------------------------------------------------------------------

    def event(
        self, kind: EventType, subject: AccessCode | UnmanagedAccessCode | None = None, **data: Any
    ) -> Event:
        return Event.new(
            kind,
            workspace_id=self.workspace_id,
            at=self.now,
            device_id=self.device_id,
            access_code_id=None if subject is None else subject.access_code_id,
            **data,
        )

    def with_state(self, record: CodeRecord, state: SlotState) -> CodeRecord:
        slot = None if state.record is None else state.record.index
        data = state.to_json()
        return replace(
            record, slot=slot, slot_state=None if data is None else _StateJson(data, state)
        )

    def _error(self, code: AccessCodeErrorCode | DeviceErrorCode, message: str) -> AccessCodeError:
        return AccessCodeError(code, message, self.now)

    # -- the status a record implies ---------------------------------------------------

    def settle(self, record: CodeRecord, *, was: AccessCode | None = None) -> Outcome:
        """Status, appearance, pending mutations and issues that follow from the slot state.

        `was` is the code before the change (default: as stored), for transition events.
        """
        before = was or record.access_code
        spec = spec_of(record, self.fingerprint)
        code = record.access_code
        target = target_content(spec, self.now, self.lock, self.timing)
        rec = spec.record
        status = AccessCodeStatus(
            settled_status(spec, self.now, self.lock, self.timing, self.fingerprint).value
        )
        in_place = (
            rec is not None
            and rec.phase is Phase.SET
            and target is not None
            and rec.holds(target, self.fingerprint)
        )
        off_lock = rec is None and target is None and not spec.hold
        if code.status is AccessCodeStatus.UNKNOWN and status is AccessCodeStatus.SET:
            status = AccessCodeStatus.UNKNOWN  # until the lock answers again (`online`)
        mutations = code.pending_mutations
        errors, warnings = code.errors, code.warnings
        if target is not None and any(
            m.mutation_code is MutationCode.DEFERRING_CREATION for m in mutations
        ):
            kept = tuple(
                m for m in mutations if m.mutation_code is not MutationCode.DEFERRING_CREATION
            )
            mutations = (*kept, CreatingMutation(self.now))
        settled = (in_place or off_lock) and not spec.removing
        if settled:
            ended = _SET_CLEARS_ERRORS if in_place else _OFF_CLEARS_ERRORS
            warned = (
                AccessCodeWarningCode.DELAY_IN_SETTING_ON_DEVICE
                if in_place
                else AccessCodeWarningCode.DELAY_IN_REMOVING_FROM_DEVICE
            )
            mutations = tuple(m for m in mutations if m.mutation_code not in _UPDATES)
            errors = tuple(e for e in errors if e.error_code not in ended)
            warnings = tuple(w for w in warnings if w.warning_code is not warned)
        scheduled = in_place and rec is not None and rec.schedule is not None
        # What the lock shows until a write replaces it (a fresh write has shown nothing yet).
        appearance = appearance_of(rec.shown) if rec is not None else None
        if (
            status is not code.status
            or scheduled != code.is_scheduled_on_device
            or appearance != code.appearance
            or mutations != code.pending_mutations
            or errors != code.errors
            or warnings != code.warnings
        ):
            code = replace(
                code,
                status=status,
                is_scheduled_on_device=scheduled,
                appearance=appearance,
                pending_mutations=mutations,
                errors=errors,
                warnings=warnings,
            )
            record = replace(record, access_code=code)
        outcome = Outcome(record, settled=settled and in_place)
        if code.is_scheduled_on_device and not before.is_scheduled_on_device:
            outcome.events.append(
                self.event(EventType.ACCESS_CODE_SCHEDULED_ON_DEVICE, code, code=code.code)
            )
        if status is AccessCodeStatus.SET and before.status not in (
            AccessCodeStatus.SET,
            AccessCodeStatus.UNKNOWN,  # it was set before the lock went quiet
        ):
            outcome.events.append(
                self.event(EventType.ACCESS_CODE_SET_ON_DEVICE, code, code=code.code)
            )
        return outcome

    # -- before an operation -----------------------------------------------------------

    def intent(self, record: CodeRecord, op: Operation) -> CodeRecord:
        """The record committed before `op` is sent: the slot is reserved, the write is open."""
        state = _slot_state(record, self.fingerprint)
        prev = state.record
        if op.content is None:
            if prev is None:
                return record
            intent = replace(prev, phase=Phase.CLEARING)
        else:
            keep_shown = prev is not None and prev.index == op.index and not op.fresh
            intent = SlotRecord(
                index=op.index,
                phase=Phase.WRITING,
                code_fp=self.fingerprint(op.content.code),
                name=op.content.name,
                schedule=op.content.schedule,
                shown=prev.shown if keep_shown and prev is not None else None,
                fresh=op.fresh,
            )
        changed = self.with_state(record, replace(state, record=intent))
        return self.settle(changed).record or changed

    # -- after an operation ------------------------------------------------------------

    def written(self, record: CodeRecord, op: Operation, slot: Slot) -> Outcome:
        """The lock took the write and now shows `slot`."""
        if op.content is None:
            raise ValueError("only a write has a written outcome")
        done = SlotRecord(
            index=op.index,
            phase=Phase.SET,
            code_fp=self.fingerprint(op.content.code),
            name=op.content.name,
            schedule=op.content.schedule,
            shown=shown_of(slot),
        )
        changed = self.with_state(record, SlotState(record=done))
        return self.settle(changed, was=record.access_code)

    def landed(self, record: CodeRecord, slot: Slot) -> Outcome:
        """A write or clear started before was found done on the lock (`Adopt`/`Keep`)."""
        state = _slot_state(record, self.fingerprint)
        if state.record is None:
            return Outcome(record)
        done = replace(state.record, phase=Phase.SET, shown=shown_of(slot), fresh=False)
        changed = self.with_state(record, replace(state, record=done))
        return self.settle(changed, was=record.access_code)

    def released(self, record: CodeRecord) -> Outcome:
        """The code holds no slot any more (cleared, or found empty)."""
        code = record.access_code
        had = _slot_state(record, self.fingerprint)
        was_on = had.record is not None and had.record.phase is not Phase.WRITING
        if record.desired is Desired.ABSENT:
            outcome = Outcome(None)
            if was_on:
                outcome.events.append(self.event(EventType.ACCESS_CODE_REMOVED_FROM_DEVICE, code))
            return outcome
        changed = self.with_state(record, replace(had, record=None))
        outcome = self.settle(changed)
        if was_on:
            outcome.events.append(self.event(EventType.ACCESS_CODE_REMOVED_FROM_DEVICE, code))
        return outcome

    def refused(
        self, record: CodeRecord, op: Operation, error: AccessCodeError, *, hold: bool
    ) -> Outcome:
        """The lock refused `op` for good. The slot keeps what it held before the attempt.

        `hold`: the same content is not sent again until the owner changes it.
        """
        code = record.access_code
        state = _slot_state(record, self.fingerprint)
        prev = state.record
        if op.content is not None and op.fresh:
            prev = None  # a refused write into an empty slot leaves it empty
        elif op.content is None and prev is not None:
            prev = replace(prev, phase=Phase.SET)
        key = content_key(code.code, code.name, self.fingerprint) if hold else state.refused
        changed = self.with_state(record, replace(state, record=prev, refused=key))
        changed = replace(changed, access_code=changed.access_code.with_error(error))
        outcome = self.settle(changed)
        outcome.failed = error
        kind = (
            EventType.ACCESS_CODE_FAILED_TO_SET_ON_DEVICE
            if op.content is not None
            else EventType.ACCESS_CODE_FAILED_TO_REMOVE_FROM_DEVICE
        )
        if not any(e.error_code == error.error_code for e in code.errors):
            outcome.events.append(self.event(kind, code))
        return outcome

    # -- findings ----------------------------------------------------------------------

    def external(self, record: CodeRecord, finding: External) -> Outcome:
        """A change made at the keypad: set it again (error) or accept it (warning)."""
        code = record.access_code
        change = ChangeType(finding.change_type)
        fields = tuple(ModifiedField(f, None, None) for f in finding.fields)
        kind = (
            EventType.ACCESS_CODE_DELETED_EXTERNAL_TO_SEAM
            if change is ChangeType.REMOVED
            else EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM
        )
        event = self.event(kind, code)
        if not finding.accepted:
            error = AccessCodeError(
                AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
                "the code was changed at the lock; keyslot is setting it again",
                self.now,
                change_type=change,
                modified_fields=fields,
            )
            changed = replace(record, access_code=code.with_error(error))
            return Outcome(changed, [event])
        warning = AccessCodeWarning(
            AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT,
            "the code was changed at the lock and the change is kept",
            self.now,
            change_type=change,
            modified_fields=fields,
        )
        code = code.with_warning(warning)
        state = _slot_state(record, self.fingerprint)
        if change is ChangeType.REMOVED:
            key = content_key(code.code, code.name, self.fingerprint)
            state = replace(state, record=None, removal_accepted=key)
        elif state.record is not None:
            slot = finding.slot
            if slot.code is not None:
                code = replace(code, code=slot.code)
            accepted = replace(
                state.record,
                code_fp=self.fingerprint(code.code or ""),
                schedule=slot.schedule if self.lock.native_schedules else state.record.schedule,
                shown=shown_of(slot) if state.record.shown is not None else None,
                tampered=False,
            )
            state = replace(state, record=accepted)
        changed = self.with_state(replace(record, access_code=code), state)
        outcome = self.settle(changed, was=record.access_code)
        outcome.events.insert(0, event)
        return outcome

    def issue(self, record: CodeRecord, error: AccessCodeError) -> Outcome:
        """An error found without touching the lock (no space, duplicate); reported once."""
        code = record.access_code
        if any(e.error_code == error.error_code for e in code.errors):
            return Outcome(record)
        changed = replace(record, access_code=code.with_error(error))
        event = self.event(EventType.ACCESS_CODE_FAILED_TO_SET_ON_DEVICE, code)
        return Outcome(changed, [event])

    def used(self, record: CodeRecord, *, gone: bool = False) -> Outcome:
        """A one-time code opened the lock: it is spent and comes off the lock for good.

        `gone`: its slot was found empty already (the lock removed it by itself).
        """
        state = _slot_state(record, self.fingerprint)
        if state.spent and not gone:
            return Outcome(record)
        was_on = gone and state.record is not None and state.record.phase is not Phase.WRITING
        if gone:
            state = replace(state, record=None)
        changed = self.with_state(record, replace(state, spent=True))
        outcome = self.settle(changed, was=record.access_code)
        if was_on:
            code = record.access_code
            outcome.events.append(self.event(EventType.ACCESS_CODE_REMOVED_FROM_DEVICE, code))
        return outcome

    # -- the lock's health -------------------------------------------------------------

    def delayed(self, record: CodeRecord) -> Outcome:
        """The lock has not answered for a while: warn the codes waiting on it (once)."""
        code = record.access_code
        if code.status is AccessCodeStatus.REMOVING:
            warning_code = AccessCodeWarningCode.DELAY_IN_REMOVING_FROM_DEVICE
            kind = EventType.ACCESS_CODE_DELAY_IN_REMOVING_FROM_DEVICE
        elif code.status is AccessCodeStatus.SETTING:
            warning_code = AccessCodeWarningCode.DELAY_IN_SETTING_ON_DEVICE
            kind = EventType.ACCESS_CODE_DELAY_IN_SETTING_ON_DEVICE
        else:
            return Outcome(record)
        if any(w.warning_code is warning_code for w in code.warnings):
            return Outcome(record)
        warning = AccessCodeWarning(warning_code, "the lock has not answered yet", self.now)
        changed = replace(record, access_code=code.with_warning(warning))
        return Outcome(changed, [self.event(kind, code)])

    def offline(self, record: CodeRecord) -> Outcome:
        """The lock is unreachable: `device_offline`, and a set code's state is unknown."""
        code = record.access_code
        if any(e.error_code is DeviceErrorCode.DEVICE_OFFLINE for e in code.errors):
            return Outcome(record)
        error = self._error(DeviceErrorCode.DEVICE_OFFLINE, "the lock is offline")
        code = code.with_error(error)
        if code.status is AccessCodeStatus.SET:
            code = replace(code, status=AccessCodeStatus.UNKNOWN)
        return Outcome(replace(record, access_code=code))

    def online(self, record: CodeRecord) -> Outcome:
        """The lock answers again: the device error goes and the status is known again."""
        code = record.access_code.without_error(DeviceErrorCode.DEVICE_OFFLINE)
        if code.status is AccessCodeStatus.UNKNOWN:
            code = replace(code, status=AccessCodeStatus.SETTING)
        return self.settle(replace(record, access_code=code), was=record.access_code)

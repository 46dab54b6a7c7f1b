"""Every model object's JSON fits Seam's OpenAPI schemas (the shared subset).

The simulator's profiles provide real LockInfo values for the device contract.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyslot.model import (
    AccessCode,
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeWarning,
    AccessCodeWarningCode,
    ActionAttempt,
    ActionType,
    Appearance,
    ChangeType,
    CreatingMutation,
    DeferringCreationMutation,
    DeletingMutation,
    Device,
    DeviceError,
    DeviceErrorCode,
    DeviceWarning,
    DeviceWarningCode,
    Event,
    EventType,
    ModifiedField,
    PendingMutation,
    UnmanagedAccessCode,
    UpdatingCodeMutation,
    UpdatingNameMutation,
    UpdatingTimeFrameMutation,
    new_id,
)
from keyslot.simulator.profiles import get_profile, profile_names
from tests import contract
from tests.contract import schema_errors, validate, validate_response

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
WORKSPACE = new_id()


def access_code(**changes: Any) -> AccessCode:
    code = AccessCode(new_id(), new_id(), WORKSPACE, T0, name="Guest", code="482913")
    return replace(code, **changes)


MUTATIONS: list[PendingMutation] = [
    CreatingMutation(T0),
    DeferringCreationMutation(T0, T1),
    DeletingMutation(T0),
    UpdatingCodeMutation(T0, "1111", "2222"),
    UpdatingCodeMutation(T0, None, "2222"),
    UpdatingNameMutation(T0, None, "New"),
    UpdatingTimeFrameMutation(T0, None, None, T0, T1),
]


# --------------------------------------------------------------------------- access codes


@pytest.mark.parametrize("status", list(AccessCodeStatus))
def test_access_code_in_every_status(status: AccessCodeStatus) -> None:
    validate(access_code(status=status).to_dict(), "access_code")


def test_time_bound_waiting_and_flagged_code() -> None:
    code = access_code(
        code=None,
        name=None,
        starts_at=T0,
        ends_at=T1,
        is_waiting_for_code_assignment=True,
        is_scheduled_on_device=True,
        is_one_time_use=True,
        is_offline_access_code=True,
        is_external_modification_allowed=True,
        is_backup_access_code_available=True,
        common_code_key="family",
        pulled_backup_access_code_id=new_id(),
        appearance=Appearance("Guest", first_name="Guest"),
    )
    validate(code.to_dict(), "access_code")


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.mutation_code.value)
def test_every_pending_mutation(mutation: PendingMutation) -> None:
    validate(access_code(pending_mutations=(mutation,)).to_dict(), "access_code")


@pytest.mark.parametrize("code", [*AccessCodeErrorCode, *DeviceErrorCode], ids=str)
def test_every_error_code(code: AccessCodeErrorCode | DeviceErrorCode) -> None:
    error = AccessCodeError(code, "message", T0)
    validate(access_code(errors=(error,)).to_dict(), "access_code")
    found = UnmanagedAccessCode(new_id(), new_id(), WORKSPACE, T0, errors=(error,))
    validate(found.to_dict(), "unmanaged_access_code")


def test_errors_with_their_extra_fields() -> None:
    errors = (
        AccessCodeError(
            AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
            "dup",
            T0,
            unmanaged_access_code_id=new_id(),
            managed_access_code_id=new_id(),
        ),
        AccessCodeError(
            AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
            "changed",
            T0,
            change_type=ChangeType.MODIFIED,
            modified_fields=(ModifiedField("code", "1", "2"), ModifiedField("name", None, "x")),
        ),
    )
    validate(access_code(errors=errors).to_dict(), "access_code")


@pytest.mark.parametrize("code", list(AccessCodeWarningCode), ids=str)
def test_every_warning_code(code: AccessCodeWarningCode) -> None:
    warning = AccessCodeWarning(code, "message", T0)
    if code is AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT:
        warning = replace(
            warning,
            change_type=ChangeType.REMOVED,
            modified_fields=(ModifiedField("code", "1", None),),
        )
    validate(access_code(warnings=(warning,)).to_dict(), "access_code")


@pytest.mark.parametrize("status", [AccessCodeStatus.SET, AccessCodeStatus.UNSET])
def test_unmanaged_access_code(status: AccessCodeStatus) -> None:
    found = UnmanagedAccessCode(
        new_id(),
        new_id(),
        WORKSPACE,
        T0,
        name="Cleaner",
        code="7777",
        starts_at=T0,
        ends_at=T1,
        status=status,
        warnings=(
            AccessCodeWarning(AccessCodeWarningCode.THIRD_PARTY_INTEGRATION_DETECTED, "w", T0),
        ),
    )
    validate(found.to_dict(), "unmanaged_access_code")


# A hypothesis-built access code of any shape must fit too.
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
texts = st.text(max_size=20)
errors = st.builds(
    AccessCodeError,
    st.sampled_from([*AccessCodeErrorCode, *DeviceErrorCode]),
    texts,
    times,
    change_type=st.none() | st.sampled_from(ChangeType),
    modified_fields=st.lists(
        st.builds(ModifiedField, texts, st.none() | texts, st.none() | texts), max_size=2
    ).map(tuple),
)
warnings = st.builds(AccessCodeWarning, st.sampled_from(AccessCodeWarningCode), texts, times)
mutations = st.one_of(
    st.builds(CreatingMutation, times, texts),
    st.builds(DeferringCreationMutation, times, times),
    st.builds(DeletingMutation, times),
    st.builds(UpdatingCodeMutation, times, st.none() | texts, st.none() | texts),
    st.builds(UpdatingNameMutation, times, st.none() | texts, st.none() | texts),
    st.builds(
        UpdatingTimeFrameMutation,
        times,
        st.none() | times,
        st.none() | times,
        st.none() | times,
        st.none() | times,
    ),
)


@settings(max_examples=100, deadline=None)
@given(
    name=st.none() | texts,
    code=st.none() | st.text("0123456789", min_size=4, max_size=10),
    frame=st.none() | st.tuples(times, times),
    status=st.sampled_from(AccessCodeStatus),
    errors=st.lists(errors, max_size=3).map(tuple),
    warnings=st.lists(warnings, max_size=3).map(tuple),
    mutations=st.lists(mutations, max_size=3).map(tuple),
    flags=st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_any_access_code_fits_the_schema(
    *,
    name: str | None,
    code: str | None,
    frame: tuple[datetime, datetime] | None,
    status: AccessCodeStatus,
    errors: tuple[AccessCodeError, ...],
    warnings: tuple[AccessCodeWarning, ...],
    mutations: tuple[PendingMutation, ...],
    flags: list[bool],
) -> None:
    built = access_code(
        name=name,
        code=code,
        starts_at=frame[0] if frame else None,
        ends_at=frame[1] if frame else None,
        status=status,
        errors=errors,
        warnings=warnings,
        pending_mutations=mutations,
        is_backup=flags[0],
        is_backup_access_code_available=flags[1],
        is_external_modification_allowed=flags[2],
        is_offline_access_code=flags[3],
        is_one_time_use=flags[4],
        is_scheduled_on_device=flags[5],
        is_waiting_for_code_assignment=flags[6],
    )
    validate(built.to_dict(), "access_code")
    assert AccessCode.from_dict(built.to_dict()).to_dict() == built.to_dict()


# --------------------------------------------------------------------------- other objects


@pytest.mark.parametrize("action_type", list(ActionType), ids=str)
def test_action_attempt_in_every_state(action_type: ActionType) -> None:
    pending = ActionAttempt.pending(action_type)
    validate(pending.to_dict(), "action_attempt")
    result = {"access_code": access_code().to_dict()} if "ACCESS_CODE" in action_type else {}
    if action_type is ActionType.UNLOCK_DOOR:
        result = {"was_confirmed_by_device": True}
    validate(pending.succeeded(result).to_dict(), "action_attempt")
    validate(pending.failed("lock_unavailable", "no answer").to_dict(), "action_attempt")


@pytest.mark.parametrize("profile_name", profile_names())
def test_device_for_every_simulated_profile(profile_name: str) -> None:
    info = get_profile(profile_name).info()
    device = Device.from_lock_info(
        new_id(),
        info,
        workspace_id=WORKSPACE,
        created_at=T0,
        errors=[DeviceError(DeviceErrorCode.DEVICE_DISCONNECTED, "gone", T0)],
        warnings=[
            DeviceWarning(
                DeviceWarningCode.MAX_ACCESS_CODES_REACHED,
                "full",
                T0,
                data={"active_access_code_count": 10, "max_active_access_code_count": 10},
            ),
            DeviceWarning(DeviceWarningCode.DEVICE_HAS_FLAKY_CONNECTION, "flaky", T0),
        ],
    )
    validate(device.to_dict(), "device")
    validate(replace(device, nickname="Front door").to_dict(), "device")


def test_every_device_warning_and_error_code() -> None:
    info = get_profile(profile_names()[0]).info()
    device = Device.from_lock_info(new_id(), info, workspace_id=WORKSPACE, created_at=T0)
    device = replace(
        device,
        errors=tuple(DeviceError(code, "e", T0) for code in DeviceErrorCode),
        warnings=tuple(
            DeviceWarning(
                code,
                "w",
                T0,
                data=(
                    {"active_access_code_count": 1, "max_active_access_code_count": 1}
                    if code is DeviceWarningCode.MAX_ACCESS_CODES_REACHED
                    else {}
                ),
            )
            for code in DeviceWarningCode
        ),
    )
    validate(device.to_dict(), "device")


EVENT_DATA: dict[EventType, dict[str, Any]] = {
    EventType.ACCESS_CODE_SCHEDULED_ON_DEVICE: {"code": "1234"},
    EventType.ACCESS_CODE_SET_ON_DEVICE: {"code": "1234"},
    EventType.ACCESS_CODE_DELETED: {"code": None},
    EventType.ACCESS_CODE_NAME_CHANGED: {"from": {"name": None}, "to": {"name": "b"}},
    EventType.ACCESS_CODE_CODE_CHANGED: {"from": {"code": "1"}, "to": {"code": "2"}},
    EventType.ACCESS_CODE_TIME_FRAME_CHANGED: {
        "from": {"starts_at": None, "ends_at": None},
        "to": {"starts_at": "2026-03-02T09:00:00.000Z", "ends_at": "2026-03-03T09:00:00.000Z"},
    },
    EventType.ACCESS_CODE_CHANGED: {
        "changed_properties": [{"property": "name", "from": "a", "to": "b"}]
    },
    EventType.ACCESS_CODE_BACKUP_ACCESS_CODE_PULLED: {"backup_access_code_id": new_id()},
    EventType.LOCK_LOCKED: {"method": "keycode"},
    EventType.LOCK_UNLOCKED: {"method": "keycode", "access_code_is_managed": True},
    EventType.LOCK_ACCESS_DENIED: {
        "reason": {"reason_code": "unknown_code", "message": "no such code"}
    },
}


@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_every_event_type(event_type: EventType) -> None:
    event = Event.new(
        event_type,
        workspace_id=WORKSPACE,
        at=T0,
        device_id=new_id(),
        access_code_id=new_id(),
        **EVENT_DATA.get(event_type, {}),
    )
    validate(event.to_dict(), "event")


def test_lock_events_without_an_access_code() -> None:
    for event_type in (EventType.LOCK_UNLOCKED, EventType.LOCK_ACCESS_DENIED):
        event = Event.new(
            event_type, workspace_id=WORKSPACE, at=T0, device_id=new_id(), **EVENT_DATA[event_type]
        )
        validate(event.to_dict(), "event")


def test_whole_answers_of_endpoints() -> None:
    code = access_code()
    attempt = ActionAttempt.pending(ActionType.CREATE_ACCESS_CODE)
    validate_response({"ok": True, "access_code": code.to_dict()}, "/access_codes/get", "get")
    validate_response(
        {"ok": True, "access_code": code.to_dict(), "action_attempt": attempt.to_dict()},
        "/access_codes/create",
        "post",
    )


# --------------------------------------------------------------------------- the helper


def test_the_validator_catches_what_is_wrong() -> None:
    good = access_code().to_dict()
    assert schema_errors(good, "access_code") == []
    missing = {k: v for k, v in good.items() if k != "pending_mutations"}
    assert any("pending_mutations" in p for p in schema_errors(missing, "access_code"))
    assert schema_errors({**good, "status": "flying"}, "access_code")
    assert schema_errors({**good, "is_managed": False}, "access_code")
    assert schema_errors({**good, "access_code_id": None}, "access_code")
    assert schema_errors({**good, "access_code_id": "not-a-uuid"}, "access_code")
    assert schema_errors({**good, "created_at": "yesterday"}, "access_code")
    assert schema_errors({**good, "created_at": "2026-03-02T09:00:00"}, "access_code")
    assert schema_errors({**good, "errors": [{"error_code": "lock_on_fire"}]}, "access_code")
    # nullable fields accept null
    assert schema_errors({**good, "code": None, "name": None}, "access_code") == []
    with pytest.raises(AssertionError, match="not a valid Seam access_code"):
        validate(missing, "access_code")


def test_unknown_schema_and_path_names_fail_clearly() -> None:
    with pytest.raises(KeyError, match="no schema"):
        validate({}, "lock_on_fire")
    with pytest.raises(KeyError, match="no path"):
        validate_response({}, "/nowhere", "get")


def test_the_openapi_file_is_the_copy_in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYSLOT_SEAM_OPENAPI", raising=False)
    path = contract.openapi_path()
    assert path == contract.VENDORED
    assert path.is_file()


def test_the_copy_matches_the_shared_reference() -> None:
    shared = contract.shared_openapi_path()
    if shared is None:
        pytest.skip("no shared/reference/ beside this checkout to compare with")
    assert shared.read_bytes() == contract.VENDORED.read_bytes()


def test_a_bad_override_fails_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEYSLOT_SEAM_OPENAPI", str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="KEYSLOT_SEAM_OPENAPI"):
        contract.openapi_path()

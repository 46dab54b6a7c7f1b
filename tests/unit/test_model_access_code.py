"""AccessCode and UnmanagedAccessCode: Seam's JSON, derived type, hidden PINs, round trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from keyslot.model import (
    AccessCode,
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeType,
    AccessCodeWarning,
    AccessCodeWarningCode,
    Appearance,
    ChangeType,
    CreatingMutation,
    DeletingMutation,
    DeviceErrorCode,
    ModelDecodeError,
    ModifiedField,
    MutationCode,
    UnmanagedAccessCode,
    UpdatingCodeMutation,
    new_id,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PIN = "482913"


def make_code(**changes: object) -> AccessCode:
    base = AccessCode(
        access_code_id=new_id(),
        device_id=new_id(),
        workspace_id=new_id(),
        created_at=T0,
        name="Guest room 4",
        code=PIN,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_ongoing_code_as_seam_json() -> None:
    code = make_code()
    body = code.to_dict()
    assert body["type"] == "ongoing"
    assert body["starts_at"] is None
    assert body["ends_at"] is None
    assert body["status"] == "setting"
    assert body["code"] == PIN
    assert body["is_managed"] is True
    assert body["created_at"] == "2026-03-02T09:00:00.000Z"
    assert body["appearance"] is None
    assert body["dormakaba_oracode_metadata"] is None
    assert body["errors"] == []
    assert body["warnings"] == []
    assert body["pending_mutations"] == []
    for flag in (
        "is_backup",
        "is_backup_access_code_available",
        "is_external_modification_allowed",
        "is_offline_access_code",
        "is_one_time_use",
        "is_scheduled_on_device",
        "is_waiting_for_code_assignment",
    ):
        assert body[flag] is False


def test_every_field_of_the_reference_table_is_present() -> None:
    expected = {
        "access_code_id",
        "device_id",
        "workspace_id",
        "name",
        "appearance",
        "code",
        "common_code_key",
        "type",
        "starts_at",
        "ends_at",
        "status",
        "created_at",
        "errors",
        "warnings",
        "pending_mutations",
        "is_managed",
        "is_backup",
        "is_backup_access_code_available",
        "pulled_backup_access_code_id",
        "is_external_modification_allowed",
        "is_offline_access_code",
        "is_one_time_use",
        "is_scheduled_on_device",
        "is_waiting_for_code_assignment",
        "dormakaba_oracode_metadata",
    }
    assert set(make_code().to_dict()) == expected


def test_a_time_frame_makes_the_code_time_bound() -> None:
    code = make_code(starts_at=T0, ends_at=T0 + timedelta(days=2))
    assert code.type is AccessCodeType.TIME_BOUND
    body = code.to_dict()
    assert body["type"] == "time_bound"
    assert body["starts_at"] == "2026-03-02T09:00:00.000Z"
    assert body["ends_at"] == "2026-03-04T09:00:00.000Z"
    assert make_code().type is AccessCodeType.ONGOING


def test_appearance_keeps_only_the_parts_a_lock_has() -> None:
    assert Appearance("Anna").to_dict() == {"name": "Anna"}
    split = Appearance("Anna Berg", first_name="Anna", last_name="Berg")
    assert split.to_dict() == {"name": "Anna Berg", "first_name": "Anna", "last_name": "Berg"}
    assert make_code(appearance=split).to_dict()["appearance"] == split.to_dict()


def test_repr_and_str_never_show_the_pin() -> None:
    code = make_code(
        pending_mutations=(UpdatingCodeMutation(T0, from_code="111999", to_code=PIN),),
        errors=(
            AccessCodeError(
                AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
                "changed at the keypad",
                T0,
                change_type=ChangeType.MODIFIED,
                modified_fields=(ModifiedField("code", "555000", PIN),),
            ),
        ),
    )
    for text in (repr(code), str(code), f"{code}", repr([code])):
        assert PIN not in text
        assert "111999" not in text
        assert "555000" not in text
    assert "<6 chars>" in repr(code)
    assert "Guest room 4" in repr(code)


def test_with_error_keeps_one_error_per_code() -> None:
    first = AccessCodeError(AccessCodeErrorCode.FAILED_TO_SET_ON_DEVICE, "first", T0)
    second = AccessCodeError(AccessCodeErrorCode.FAILED_TO_SET_ON_DEVICE, "second", T0)
    offline = AccessCodeError(DeviceErrorCode.DEVICE_OFFLINE, "offline", T0)
    code = make_code().with_error(first).with_error(offline).with_error(second)
    assert [e.message for e in code.errors] == ["offline", "second"]
    code = code.without_error(DeviceErrorCode.DEVICE_OFFLINE)
    assert [e.message for e in code.errors] == ["second"]


def test_with_warning_and_without_warning() -> None:
    warning = AccessCodeWarning(AccessCodeWarningCode.DELAY_IN_SETTING_ON_DEVICE, "slow", T0)
    code = make_code().with_warning(warning).with_warning(warning)
    assert code.warnings == (warning,)
    assert code.without_warning(AccessCodeWarningCode.DELAY_IN_SETTING_ON_DEVICE).warnings == ()


def test_with_mutation_replaces_the_same_kind() -> None:
    later = T0 + timedelta(minutes=1)
    code = make_code().with_mutation(CreatingMutation(T0)).with_mutation(DeletingMutation(T0))
    code = code.with_mutation(CreatingMutation(later))
    assert [m.mutation_code for m in code.pending_mutations] == [
        MutationCode.DELETING,
        MutationCode.CREATING,
    ]
    assert code.pending_mutations[-1].created_at == later
    code = code.without_mutation(MutationCode.DELETING)
    assert [m.mutation_code for m in code.pending_mutations] == [MutationCode.CREATING]


def test_round_trip_through_json() -> None:
    code = make_code(
        starts_at=T0,
        ends_at=T0 + timedelta(hours=5),
        status=AccessCodeStatus.SET,
        appearance=Appearance("Guest room", first_name="Guest", last_name="room"),
        common_code_key="family",
        is_one_time_use=True,
        errors=(
            AccessCodeError(
                AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
                "dup",
                T0,
                unmanaged_access_code_id=new_id(),
            ),
        ),
        warnings=(AccessCodeWarning(AccessCodeWarningCode.BEING_DELETED, "bye", T0),),
        pending_mutations=(CreatingMutation(T0),),
    )
    assert AccessCode.from_dict(code.to_dict()) == code


def test_from_dict_refuses_unmanaged_and_corrupt_data() -> None:
    body = make_code().to_dict()
    with pytest.raises(ModelDecodeError, match="unmanaged"):
        AccessCode.from_dict({**body, "is_managed": False})
    with pytest.raises(ModelDecodeError, match="status"):
        AccessCode.from_dict({**body, "status": "flying"})
    with pytest.raises(ModelDecodeError, match="access_code_id"):
        AccessCode.from_dict({**body, "access_code_id": None})
    with pytest.raises(ModelDecodeError, match="code"):
        AccessCode.from_dict({**body, "code": 1234})
    with pytest.raises(ModelDecodeError, match="created_at"):
        AccessCode.from_dict({**body, "created_at": "soon"})
    with pytest.raises(ModelDecodeError, match="appearance"):
        AccessCode.from_dict({**body, "appearance": {"first_name": "x"}})


def test_unmanaged_code_json_and_status_rule() -> None:
    found = UnmanagedAccessCode(new_id(), new_id(), new_id(), T0, name="Cleaner", code="7777")
    body = found.to_dict()
    assert body["is_managed"] is False
    assert body["status"] == "set"
    assert body["type"] == "ongoing"
    assert "7777" not in repr(found)
    assert UnmanagedAccessCode.from_dict(body) == found
    with pytest.raises(ValueError, match="set or unset"):
        UnmanagedAccessCode(new_id(), new_id(), new_id(), T0, status=AccessCodeStatus.SETTING)
    with pytest.raises(ModelDecodeError):
        UnmanagedAccessCode.from_dict({**body, "status": "removing"})

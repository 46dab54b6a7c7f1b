"""Access code errors and warnings: every code from the reference, extra fields, decoding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyslot.model import (
    LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM,
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeWarning,
    AccessCodeWarningCode,
    ChangeType,
    DeviceErrorCode,
    ModelDecodeError,
    ModifiedField,
    new_id,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

REFERENCE_ERRORS = {
    "failed_to_set_on_device",
    "failed_to_remove_from_device",
    "duplicate_code_on_device",
    "no_space_for_access_code_on_device",
    "conflicting_external_modification",
    "access_code_inactive",
    "code_constraints_violated",
    "provider_issue",
}
REFERENCE_DEVICE_ERRORS = {
    "device_offline",
    "device_removed",
    "device_disconnected",
    "hub_disconnected",
    "bridge_disconnected",
    "empty_backup_access_code_pool",
}
REFERENCE_WARNINGS = {
    "delay_in_setting_on_device",
    "delay_in_removing_from_device",
    "external_modification_in_effect",
    "code_rotates_periodically",
    "time_frame_adjusted_for_unknown_time_zone",
    "third_party_integration_detected",
    "management_transferred",
    "using_backup_access_code",
    "being_deleted",
    "unknown_issue_with_access_code",
}


def test_every_reference_code_has_a_constant() -> None:
    assert {c.value for c in AccessCodeErrorCode} == REFERENCE_ERRORS
    assert {c.value for c in DeviceErrorCode} == REFERENCE_DEVICE_ERRORS
    assert {c.value for c in AccessCodeWarningCode} == REFERENCE_WARNINGS


@pytest.mark.parametrize("code", list(AccessCodeErrorCode))
def test_access_code_errors_are_marked_as_such(code: AccessCodeErrorCode) -> None:
    body = AccessCodeError(code, "message", T0).to_dict()
    assert body == {
        "error_code": code.value,
        "message": "message",
        "created_at": "2026-03-02T09:00:00.000Z",
        "is_access_code_error": True,
    }


@pytest.mark.parametrize("code", list(DeviceErrorCode))
def test_device_errors_are_marked_as_device_errors(code: DeviceErrorCode) -> None:
    error = AccessCodeError(code, "message", T0)
    assert error.is_device_error
    body = error.to_dict()
    assert body["is_device_error"] is True
    assert "is_access_code_error" not in body


def test_duplicate_code_names_the_other_codes() -> None:
    unmanaged, managed = new_id(), new_id()
    body = AccessCodeError(
        AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE,
        "dup",
        T0,
        unmanaged_access_code_id=unmanaged,
        managed_access_code_id=managed,
    ).to_dict()
    assert body["unmanaged_access_code_id"] == unmanaged
    assert body["managed_access_code_id"] == managed


def test_external_modification_carries_change_and_fields() -> None:
    error = AccessCodeError(
        AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
        "changed at the keypad",
        T0,
        change_type=ChangeType.MODIFIED,
        modified_fields=(ModifiedField("name", "Ann", "Bob"), ModifiedField("code", "1", "2")),
    )
    body = error.to_dict()
    assert body["change_type"] == "modified"
    assert body["modified_fields"] == [
        {"field": "name", "from": "Ann", "to": "Bob"},
        {"field": "code", "from": "1", "to": "2"},
    ]
    warning = AccessCodeWarning(
        AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT,
        "accepted",
        T0,
        change_type=ChangeType.REMOVED,
    )
    assert warning.to_dict()["change_type"] == "removed"
    assert "modified_fields" not in warning.to_dict()


def test_modified_field_repr_hides_a_changed_pin_only() -> None:
    assert "938271" not in repr(ModifiedField("code", "938271", "111"))
    assert "Ann" in repr(ModifiedField("name", "Ann", "Bob"))


def test_errors_and_warnings_round_trip() -> None:
    error = AccessCodeError(
        AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
        "x",
        T0,
        change_type=ChangeType.MODIFIED,
        modified_fields=(ModifiedField("name", None, "Bob"),),
    )
    assert AccessCodeError.from_dict(error.to_dict()) == error
    device = AccessCodeError(DeviceErrorCode.HUB_DISCONNECTED, "hub", T0)
    assert AccessCodeError.from_dict(device.to_dict()) == device
    warning = AccessCodeWarning(AccessCodeWarningCode.MANAGEMENT_TRANSFERRED, "w", T0)
    assert AccessCodeWarning.from_dict(warning.to_dict()) == warning


def test_the_legacy_external_modification_name_is_read_as_the_new_ones() -> None:
    raw = {"message": "m", "created_at": "2026-03-02T09:00:00.000Z"}
    error = AccessCodeError.from_dict({**raw, "error_code": LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM})
    assert error.error_code is AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION
    warning = AccessCodeWarning.from_dict(
        {**raw, "warning_code": LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM}
    )
    assert warning.warning_code is AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT


def test_unknown_codes_are_refused() -> None:
    raw = {"message": "m", "created_at": "2026-03-02T09:00:00.000Z"}
    with pytest.raises(ModelDecodeError):
        AccessCodeError.from_dict({**raw, "error_code": "lock_on_fire"})
    with pytest.raises(ModelDecodeError):
        AccessCodeWarning.from_dict({**raw, "warning_code": "lock_on_fire"})
    with pytest.raises(ModelDecodeError):
        AccessCodeError.from_dict(
            {**raw, "error_code": "provider_issue", "change_type": "exploded"}
        )
    with pytest.raises(ModelDecodeError):
        AccessCodeError.from_dict(
            {**raw, "error_code": "provider_issue", "modified_fields": [{"from": "a"}]}
        )

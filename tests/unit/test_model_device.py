"""Device: Seam's device JSON built from a driver's LockInfo."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from keyslot.model import (
    GENERIC_LOCK_DEVICE_TYPE,
    CodeConstraint,
    CodeConstraintType,
    Device,
    DeviceError,
    DeviceErrorCode,
    DeviceWarning,
    DeviceWarningCode,
    NameConstraintType,
    device_type_for_vendor,
    new_id,
)
from keyslot.protocol.slots import LockInfo, NameRules

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORKSPACE = new_id()

NUKI = LockInfo(
    model="Keypad 2.0",
    vendor="Nuki",
    slot_count=20,
    code_lengths=(6,),
    constraints=("no_zeros", "cannot_start_with_12"),
    name_rules=NameRules(max_length=20, min_length=1, unit="bytes"),
    serial_number="NK-0001",
)


def build(info: LockInfo, **kw: object) -> Device:
    return Device.from_lock_info(
        new_id(),
        info,
        workspace_id=WORKSPACE,
        created_at=T0,
        **kw,  # type: ignore[arg-type]
    )


def test_code_properties_come_from_lock_info() -> None:
    props = build(NUKI).to_dict()["properties"]
    assert props["supported_code_lengths"] == [6]
    assert props["max_active_codes_supported"] == 20
    assert props["code_constraints"] == [
        {"constraint_type": "no_zeros"},
        {"constraint_type": "cannot_start_with_12"},
        {"constraint_type": "name_length", "min_length": 1, "max_length": 20},
    ]
    assert props["model"]["display_name"] == "Keypad 2.0"
    assert props["model"]["manufacturer_display_name"] == "Nuki"
    assert props["manufacturer"] == "Nuki"
    assert props["serial_number"] == "NK-0001"
    assert props["online"] is True
    assert props["name"] == "Nuki Keypad 2.0"
    assert props["appearance"] == {"name": "Nuki Keypad 2.0"}
    assert props["has_native_entry_events"] is True
    assert props["supports_backup_access_code_pool"] is True  # a lock with slots
    assert props["backup_access_code_pool_enabled"] is False
    assert props["online_time_frame_options"] == []
    assert props["offline_time_frame_options"] == []


def test_top_level_fields_and_capabilities() -> None:
    device = build(NUKI, name="Front door", online=False)
    body = device.to_dict()
    assert body["device_type"] == "nuki_lock"
    assert body["display_name"] == "Front door"
    assert body["workspace_id"] == WORKSPACE
    assert body["connected_account_id"] == WORKSPACE
    assert body["created_at"] == "2026-03-02T09:00:00.000Z"
    assert body["is_managed"] is True
    assert body["capabilities_supported"] == ["access_code", "lock"]
    assert body["can_program_online_access_codes"] is True
    assert body["can_program_offline_access_codes"] is False
    assert body["can_unlock_with_code"] is True
    assert body["properties"]["online"] is False
    assert body["custom_metadata"] == {}
    assert body["space_ids"] == []


def test_offline_pins_make_offline_codes_programmable() -> None:
    info = LockInfo(model="M", vendor="Igloohome", slot_count=10, offline_pins=True)
    body = build(info, offline_time_frame_options=[{"display_name": "Daily"}]).to_dict()
    assert body["can_program_offline_access_codes"] is True
    assert body["properties"]["supports_offline_access_codes"] is True
    assert body["properties"]["offline_time_frame_options"] == [{"display_name": "Daily"}]


def test_unknown_constraints_are_left_out_and_name_rules_become_constraints() -> None:
    info = LockInfo(
        model="M",
        vendor="Yale",
        slot_count=25,
        constraints=("no_all_same_digits", "vendor_specific_rule"),
        name_rules=NameRules(max_length=21, split=True, first_max=10, last_max=10, unique=True),
    )
    constraints = build(info, max_active_codes_supported=10).properties.code_constraints
    assert [c.constraint_type for c in constraints] == [
        CodeConstraintType.NO_ALL_SAME_DIGITS,
        NameConstraintType.NAME_LENGTH,
        NameConstraintType.NAME_MUST_BE_UNIQUE,
    ]
    assert constraints[1].max_length == 21
    assert build(info, max_active_codes_supported=10).properties.max_active_codes_supported == 10


@pytest.mark.parametrize(
    ("vendor", "device_type"),
    [
        ("Kwikset", "kwikset_lock"),
        ("Schlage", "schlage_lock"),
        ("  NUKI ", "nuki_lock"),
        ("TTLock", "ttlock_lock"),
        ("Acme Locks", GENERIC_LOCK_DEVICE_TYPE),
        ("", GENERIC_LOCK_DEVICE_TYPE),
    ],
)
def test_device_type_for_vendor(vendor: str, device_type: str) -> None:
    assert device_type_for_vendor(vendor) == device_type


def test_explicit_device_type_wins() -> None:
    assert build(NUKI, device_type="yale_lock").device_type == "yale_lock"


def test_code_constraint_parse() -> None:
    assert CodeConstraint.parse("no_zeros") == CodeConstraint(CodeConstraintType.NO_ZEROS)
    assert CodeConstraint.parse(
        {"constraint_type": "name_length", "max_length": 12}
    ) == CodeConstraint(NameConstraintType.NAME_LENGTH, max_length=12)
    assert CodeConstraint.parse("made_up") is None
    assert CodeConstraint.parse({"min_length": 1}) is None


def test_device_errors_and_warnings() -> None:
    device = build(
        NUKI,
        errors=[DeviceError(DeviceErrorCode.DEVICE_OFFLINE, "offline", T0)],
        warnings=[
            DeviceWarning(
                DeviceWarningCode.MAX_ACCESS_CODES_REACHED,
                "full",
                T0,
                data={"active_access_code_count": 10, "max_active_access_code_count": 10},
            )
        ],
    )
    body = device.to_dict()
    assert body["errors"] == [
        {
            "error_code": "device_offline",
            "message": "offline",
            "is_device_error": True,
            "created_at": "2026-03-02T09:00:00.000Z",
        }
    ]
    assert body["warnings"][0]["warning_code"] == "max_access_codes_reached"
    assert body["warnings"][0]["active_access_code_count"] == 10


def test_nickname_is_the_display_name() -> None:
    device = build(NUKI)
    assert device.display_name == "Nuki Keypad 2.0"
    renamed = replace(device, nickname="Back gate")
    assert renamed.to_dict()["display_name"] == "Back gate"
    assert renamed.to_dict()["nickname"] == "Back gate"

"""Errors and warnings attached to an access code, with Seam's codes and extra fields."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyslot.model.common import (
    ModelDecodeError,
    decode_enum,
    decode_time,
    format_time,
    masked_repr,
)

__all__ = [
    "LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM",
    "AccessCodeError",
    "AccessCodeErrorCode",
    "AccessCodeWarning",
    "AccessCodeWarningCode",
    "ChangeType",
    "DeviceErrorCode",
    "ModifiedField",
]

# Older Seam name, since split into the error CONFLICTING_EXTERNAL_MODIFICATION and the
# warning EXTERNAL_MODIFICATION_IN_EFFECT; accepted on input, never written.
LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM = "code_modified_external_to_seam"


class AccessCodeErrorCode(enum.StrEnum):
    FAILED_TO_SET_ON_DEVICE = "failed_to_set_on_device"
    FAILED_TO_REMOVE_FROM_DEVICE = "failed_to_remove_from_device"
    DUPLICATE_CODE_ON_DEVICE = "duplicate_code_on_device"
    NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE = "no_space_for_access_code_on_device"
    CONFLICTING_EXTERNAL_MODIFICATION = "conflicting_external_modification"
    ACCESS_CODE_INACTIVE = "access_code_inactive"
    # Not retried until the code changes: the same code would be refused again.
    CODE_CONSTRAINTS_VIOLATED = "code_constraints_violated"
    PROVIDER_ISSUE = "provider_issue"


class DeviceErrorCode(enum.StrEnum):
    """Device-level errors; in an access code's list they carry `is_device_error: true`."""

    DEVICE_OFFLINE = "device_offline"
    DEVICE_REMOVED = "device_removed"
    DEVICE_DISCONNECTED = "device_disconnected"
    HUB_DISCONNECTED = "hub_disconnected"
    BRIDGE_DISCONNECTED = "bridge_disconnected"
    EMPTY_BACKUP_ACCESS_CODE_POOL = "empty_backup_access_code_pool"


class AccessCodeWarningCode(enum.StrEnum):
    DELAY_IN_SETTING_ON_DEVICE = "delay_in_setting_on_device"
    DELAY_IN_REMOVING_FROM_DEVICE = "delay_in_removing_from_device"
    EXTERNAL_MODIFICATION_IN_EFFECT = "external_modification_in_effect"
    CODE_ROTATES_PERIODICALLY = "code_rotates_periodically"
    TIME_FRAME_ADJUSTED_FOR_UNKNOWN_TIME_ZONE = "time_frame_adjusted_for_unknown_time_zone"
    THIRD_PARTY_INTEGRATION_DETECTED = "third_party_integration_detected"
    MANAGEMENT_TRANSFERRED = "management_transferred"
    USING_BACKUP_ACCESS_CODE = "using_backup_access_code"
    BEING_DELETED = "being_deleted"
    UNKNOWN_ISSUE_WITH_ACCESS_CODE = "unknown_issue_with_access_code"


class ChangeType(enum.StrEnum):
    """What a change made at the keypad did to a managed code."""

    MODIFIED = "modified"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class ModifiedField:
    """One field changed outside keyslot: `{field, from, to}` (values as strings)."""

    field: str
    from_value: str | None
    to_value: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "from": self.from_value, "to": self.to_value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModifiedField:
        try:
            return cls(str(data["field"]), data.get("from"), data.get("to"))
        except (KeyError, TypeError) as exc:
            raise ModelDecodeError(f"bad modified_fields entry: {exc}") from None

    def __repr__(self) -> str:
        # A changed PIN is a modified field too: never show its values.
        if self.field == "code":
            return masked_repr(self, masked=("from_value", "to_value"))
        return masked_repr(self)


def _extra_to_dict(
    change_type: ChangeType | None, modified_fields: tuple[ModifiedField, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if change_type is not None:
        out["change_type"] = change_type.value
    if modified_fields:
        out["modified_fields"] = [m.to_dict() for m in modified_fields]
    return out


def _decode_change(data: Mapping[str, Any]) -> tuple[ChangeType | None, tuple[ModifiedField, ...]]:
    change = data.get("change_type")
    change_type = None if change is None else decode_enum(ChangeType, change, "change_type")
    fields = tuple(ModifiedField.from_dict(m) for m in data.get("modified_fields") or ())
    return change_type, fields


@dataclass(frozen=True, slots=True)
class AccessCodeError:
    """An error on an access code; device-level codes mark it `is_device_error`."""

    error_code: AccessCodeErrorCode | DeviceErrorCode
    message: str
    created_at: datetime
    change_type: ChangeType | None = None
    modified_fields: tuple[ModifiedField, ...] = ()
    unmanaged_access_code_id: str | None = None
    managed_access_code_id: str | None = None

    @property
    def is_device_error(self) -> bool:
        return isinstance(self.error_code, DeviceErrorCode)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "error_code": self.error_code.value,
            "message": self.message,
            "created_at": format_time(self.created_at),
        }
        if self.is_device_error:
            out["is_device_error"] = True
        else:
            out["is_access_code_error"] = True
        out.update(_extra_to_dict(self.change_type, self.modified_fields))
        if self.unmanaged_access_code_id is not None:
            out["unmanaged_access_code_id"] = self.unmanaged_access_code_id
        if self.managed_access_code_id is not None:
            out["managed_access_code_id"] = self.managed_access_code_id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessCodeError:
        raw = data.get("error_code")
        if raw == LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM:
            raw = AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION.value
        code: AccessCodeErrorCode | DeviceErrorCode
        if raw in DeviceErrorCode.__members__.values():
            code = decode_enum(DeviceErrorCode, raw, "device error_code")
        else:
            code = decode_enum(AccessCodeErrorCode, raw, "access code error_code")
        change_type, fields = _decode_change(data)
        return cls(
            error_code=code,
            message=str(data.get("message", "")),
            created_at=decode_time(data.get("created_at"), "created_at"),
            change_type=change_type,
            modified_fields=fields,
            unmanaged_access_code_id=data.get("unmanaged_access_code_id"),
            managed_access_code_id=data.get("managed_access_code_id"),
        )


@dataclass(frozen=True, slots=True)
class AccessCodeWarning:
    """A warning on an access code: something to know, nothing failed (yet)."""

    warning_code: AccessCodeWarningCode
    message: str
    created_at: datetime
    change_type: ChangeType | None = None
    modified_fields: tuple[ModifiedField, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "warning_code": self.warning_code.value,
            "message": self.message,
            "created_at": format_time(self.created_at),
        }
        out.update(_extra_to_dict(self.change_type, self.modified_fields))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessCodeWarning:
        raw = data.get("warning_code")
        if raw == LEGACY_CODE_MODIFIED_EXTERNAL_TO_SEAM:
            raw = AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT.value
        code = decode_enum(AccessCodeWarningCode, raw, "access code warning_code")
        change_type, fields = _decode_change(data)
        return cls(
            warning_code=code,
            message=str(data.get("message", "")),
            created_at=decode_time(data.get("created_at"), "created_at"),
            change_type=change_type,
            modified_fields=fields,
        )

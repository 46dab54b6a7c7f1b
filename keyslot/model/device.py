"""A lock as Seam's `device` object, built from what its driver reports (`LockInfo`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyslot.model.common import format_time
from keyslot.model.issues import DeviceErrorCode
from keyslot.protocol.offline_pin import (
    DAILY_DURATIONS,
    HOURLY_DURATIONS,
    ONE_TIME_ACTIVATION_WINDOW,
)
from keyslot.protocol.slots import LockInfo

__all__ = [
    "GENERIC_LOCK_DEVICE_TYPE",
    "OFFLINE_TIME_FRAME_OPTIONS",
    "CodeConstraint",
    "CodeConstraintType",
    "Device",
    "DeviceError",
    "DeviceProperties",
    "DeviceWarning",
    "DeviceWarningCode",
    "NameConstraintType",
    "device_type_for_vendor",
]


class CodeConstraintType(enum.StrEnum):
    """Seam's code `constraint_type` values; `keyslot.codes` says what each one means."""

    NO_ZEROS = "no_zeros"
    CANNOT_START_WITH_12 = "cannot_start_with_12"
    NO_TRIPLE_CONSECUTIVE_INTS = "no_triple_consecutive_ints"
    CANNOT_SPECIFY_PIN_CODE = "cannot_specify_pin_code"
    PIN_CODE_MATCHES_EXISTING_SET = "pin_code_matches_existing_set"
    START_DATE_IN_FUTURE = "start_date_in_future"
    NO_ASCENDING_OR_DESCENDING_SEQUENCE = "no_ascending_or_descending_sequence"
    AT_LEAST_THREE_UNIQUE_DIGITS = "at_least_three_unique_digits"
    CANNOT_CONTAIN_089 = "cannot_contain_089"
    CANNOT_CONTAIN_0789 = "cannot_contain_0789"
    UNIQUE_FIRST_FOUR_DIGITS = "unique_first_four_digits"
    NO_ALL_SAME_DIGITS = "no_all_same_digits"


class NameConstraintType(enum.StrEnum):
    NAME_LENGTH = "name_length"
    NAME_MUST_BE_UNIQUE = "name_must_be_unique"


_CODE_CONSTRAINTS = frozenset(c.value for c in CodeConstraintType)
_NAME_CONSTRAINTS = frozenset(c.value for c in NameConstraintType)


@dataclass(frozen=True, slots=True)
class CodeConstraint:
    """One entry of `device.properties.code_constraints`."""

    constraint_type: CodeConstraintType | NameConstraintType
    min_length: int | None = None
    max_length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"constraint_type": self.constraint_type.value}
        if self.min_length is not None:
            out["min_length"] = self.min_length
        if self.max_length is not None:
            out["max_length"] = self.max_length
        return out

    @classmethod
    def parse(cls, data: str | Mapping[str, Any]) -> CodeConstraint | None:
        """A constraint from a name or a dict; None for a type Seam does not define."""
        raw = data if isinstance(data, str) else data.get("constraint_type")
        kind: CodeConstraintType | NameConstraintType
        if raw in _CODE_CONSTRAINTS:
            kind = CodeConstraintType(str(raw))
        elif raw in _NAME_CONSTRAINTS:
            kind = NameConstraintType(str(raw))
        else:
            return None
        if isinstance(data, str):
            return cls(kind)
        return cls(kind, data.get("min_length"), data.get("max_length"))


class DeviceWarningCode(enum.StrEnum):
    THIRD_PARTY_INTEGRATION_DETECTED = "third_party_integration_detected"
    DEVICE_COMMUNICATION_DEGRADED = "device_communication_degraded"
    DEVICE_HAS_FLAKY_CONNECTION = "device_has_flaky_connection"
    TIME_ZONE_UNKNOWN = "time_zone_unknown"
    UNRELIABLE_ONLINE_STATUS = "unreliable_online_status"
    PROVIDER_ISSUE = "provider_issue"
    MAX_ACCESS_CODES_REACHED = "max_access_codes_reached"
    # fewer backup access codes are ready on the lock than its pool should hold
    PARTIAL_BACKUP_ACCESS_CODE_POOL = "partial_backup_access_code_pool"


@dataclass(frozen=True, slots=True)
class DeviceError:
    error_code: DeviceErrorCode
    message: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_code": self.error_code.value,
            "message": self.message,
            "is_device_error": True,
            "created_at": format_time(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class DeviceWarning:
    """`data` holds a warning's own fields (e.g. the counts of `max_access_codes_reached`)."""

    warning_code: DeviceWarningCode
    message: str
    created_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "warning_code": self.warning_code.value,
            "message": self.message,
            "created_at": format_time(self.created_at),
            **self.data,
        }


# Seam has no device type for a lock it does not know the make of. A keyslot gateway
# is a local hub driving the lock over a radio, which is what `smartthings_lock` is.
GENERIC_LOCK_DEVICE_TYPE = "smartthings_lock"
_LOCK_VENDORS = (
    "akuvox august doorking igloo linear lockly kwikset nuki salto schlage smartthings wyze "
    "yale ttlock igloohome tedee akiles ultraloq yacan keyincode omnitec kisi aqara"
)
_LOCK_DEVICE_TYPES = frozenset(f"{vendor}_lock" for vendor in _LOCK_VENDORS.split(" "))


def device_type_for_vendor(vendor: str) -> str:
    """Seam's `device_type` for a lock vendor (`Kwikset` -> `kwikset_lock`)."""
    candidate = f"{vendor.strip().lower().replace(' ', '_')}_lock"
    return candidate if candidate in _LOCK_DEVICE_TYPES else GENERIC_LOCK_DEVICE_TYPE


_ONE_TIME_HOURS = int(ONE_TIME_ACTIVATION_WINDOW.total_seconds() // 3600)

# The time frames keyslot's offline PINs can carry (hardware/offline-pins.md), in Seam's
# `offline_time_frame_options` shape; durations are ISO 8601. Windows are rounded outward
# to whole hours, or whole UTC days with `max_time_rounding: 1d`.
OFFLINE_TIME_FRAME_OPTIONS: tuple[Mapping[str, Any], ...] = (
    {
        "display_name": "Hourly",
        "min_duration": f"PT{HOURLY_DURATIONS[0]}H",
        "max_duration": f"PT{HOURLY_DURATIONS[-1]}H",
        "time_zone": "UTC",
    },
    {
        "display_name": "Daily",
        "min_duration": f"P{DAILY_DURATIONS[0]}D",
        "max_duration": f"P{DAILY_DURATIONS[-1]}D",
        "matching_start_end_time": True,
        "time_zone": "UTC",
    },
    {
        "display_name": f"One-time use (first use within {_ONE_TIME_HOURS} hours of the start)",
        "min_duration": f"PT{HOURLY_DURATIONS[0]}H",
        "max_duration": f"PT{HOURLY_DURATIONS[-1]}H",
        "time_zone": "UTC",
    },
)


@dataclass(frozen=True, slots=True)
class DeviceProperties:
    """The code-related `device.properties` of a lock."""

    name: str
    online: bool
    model_display_name: str
    manufacturer_display_name: str
    supported_code_lengths: tuple[int, ...]
    max_active_codes_supported: int
    code_constraints: tuple[CodeConstraint, ...] = ()
    supports_backup_access_code_pool: bool = False
    backup_access_code_pool_enabled: bool = False
    has_native_entry_events: bool = True
    supports_offline_access_codes: bool = False
    online_time_frame_options: tuple[Mapping[str, Any], ...] = ()
    offline_time_frame_options: tuple[Mapping[str, Any], ...] = ()
    serial_number: str = ""
    locked: bool | None = None
    door_open: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "appearance": {"name": self.name},
            "online": self.online,
            "manufacturer": self.manufacturer_display_name,
            "model": {
                "display_name": self.model_display_name,
                "manufacturer_display_name": self.manufacturer_display_name,
                "has_built_in_keypad": True,
                "can_connect_accessory_keypad": False,
            },
            "supported_code_lengths": list(self.supported_code_lengths),
            "max_active_codes_supported": self.max_active_codes_supported,
            "code_constraints": [c.to_dict() for c in self.code_constraints],
            "supports_backup_access_code_pool": self.supports_backup_access_code_pool,
            "backup_access_code_pool_enabled": self.backup_access_code_pool_enabled,
            "has_native_entry_events": self.has_native_entry_events,
            "online_access_codes_enabled": True,
            "supports_offline_access_codes": self.supports_offline_access_codes,
            "offline_access_codes_enabled": self.supports_offline_access_codes,
            "online_time_frame_options": [dict(o) for o in self.online_time_frame_options],
            "offline_time_frame_options": [dict(o) for o in self.offline_time_frame_options],
        }
        if self.serial_number:
            out["serial_number"] = self.serial_number
        if self.locked is not None:
            out["locked"] = self.locked
        if self.door_open is not None:
            out["door_open"] = self.door_open
        return out


@dataclass(frozen=True, slots=True)
class Device:
    """A lock in Seam's `device` shape. `connected_account_id` defaults to the workspace."""

    device_id: str
    workspace_id: str
    created_at: datetime
    properties: DeviceProperties
    device_type: str = GENERIC_LOCK_DEVICE_TYPE
    connected_account_id: str | None = None
    nickname: str | None = None
    errors: tuple[DeviceError, ...] = ()
    warnings: tuple[DeviceWarning, ...] = ()
    can_program_online_access_codes: bool = True
    can_program_offline_access_codes: bool = False
    can_unlock_with_code: bool = True
    can_remotely_unlock: bool = False
    can_remotely_lock: bool = False
    custom_metadata: Mapping[str, str | bool] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.nickname or self.properties.name

    @classmethod
    def from_lock_info(
        cls,
        device_id: str,
        info: LockInfo,
        *,
        workspace_id: str,
        created_at: datetime,
        name: str | None = None,
        online: bool = True,
        connected_account_id: str | None = None,
        device_type: str | None = None,
        max_active_codes_supported: int | None = None,
        has_native_entry_events: bool = True,
        online_time_frame_options: Sequence[Mapping[str, Any]] = (),
        offline_time_frame_options: Sequence[Mapping[str, Any]] = (),
        errors: Sequence[DeviceError] = (),
        warnings: Sequence[DeviceWarning] = (),
        backup_access_code_pool_enabled: bool = False,
    ) -> Device:
        """The device for a lock whose driver reported `info`.

        Constraint names Seam does not define are left out of `code_constraints` (keyslot
        still enforces them through the lock); name rules become `name_length` /
        `name_must_be_unique` constraints. A lock with offline PINs advertises keyslot's
        offline time frames unless others are given. A lock with slots can keep a backup
        access code pool (`keyslot.backup_codes`).
        """
        from keyslot.names import name_constraints

        constraints = [c for c in map(CodeConstraint.parse, info.constraints) if c is not None]
        if info.name_rules is not None:
            for raw in name_constraints(info.name_rules):
                parsed = CodeConstraint.parse(raw)
                if parsed is not None:
                    constraints.append(parsed)
        model = info.model or "Keypad lock"
        vendor = info.vendor or "Unknown"
        properties = DeviceProperties(
            name=name or f"{vendor} {model}".strip(),
            online=online,
            model_display_name=model,
            manufacturer_display_name=vendor,
            supported_code_lengths=tuple(sorted(set(info.code_lengths))),
            max_active_codes_supported=(
                (info.max_active_codes or info.slot_count)
                if max_active_codes_supported is None
                else max_active_codes_supported
            ),
            code_constraints=tuple(constraints),
            supports_backup_access_code_pool=info.slot_count > 0,
            backup_access_code_pool_enabled=backup_access_code_pool_enabled,
            has_native_entry_events=has_native_entry_events,
            supports_offline_access_codes=info.offline_pins,
            online_time_frame_options=tuple(online_time_frame_options),
            offline_time_frame_options=tuple(
                offline_time_frame_options
                or (OFFLINE_TIME_FRAME_OPTIONS if info.offline_pins else ())
            ),
            serial_number=info.serial_number,
        )
        return cls(
            device_id=device_id,
            workspace_id=workspace_id,
            created_at=created_at,
            properties=properties,
            device_type=device_type or device_type_for_vendor(vendor),
            connected_account_id=connected_account_id,
            errors=tuple(errors),
            warnings=tuple(warnings),
            can_program_offline_access_codes=info.offline_pins,
        )

    def to_dict(self) -> dict[str, Any]:
        """Seam's `device` object."""
        out: dict[str, Any] = {
            "device_id": self.device_id,
            "device_type": self.device_type,
            "display_name": self.display_name,
            "workspace_id": self.workspace_id,
            "connected_account_id": self.connected_account_id or self.workspace_id,
            "created_at": format_time(self.created_at),
            "is_managed": True,
            "capabilities_supported": ["access_code", "lock"],
            "properties": self.properties.to_dict(),
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
            "space_ids": [],
            "custom_metadata": dict(self.custom_metadata),
            "can_program_online_access_codes": self.can_program_online_access_codes,
            "can_program_offline_access_codes": self.can_program_offline_access_codes,
            "can_unlock_with_code": self.can_unlock_with_code,
            "can_remotely_unlock": self.can_remotely_unlock,
            "can_remotely_lock": self.can_remotely_lock,
        }
        if self.nickname is not None:
            out["nickname"] = self.nickname
        return out

"""The access code as Seam defines it, plus the unmanaged codes found on a lock."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from keyslot.model.common import (
    ModelDecodeError,
    decode_enum,
    decode_time,
    decode_time_or_none,
    format_time,
    format_time_or_none,
    masked_repr,
)
from keyslot.model.issues import (
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeWarning,
    AccessCodeWarningCode,
    DeviceErrorCode,
)
from keyslot.model.mutations import MutationCode, PendingMutation, pending_mutation_from_dict

__all__ = [
    "AccessCode",
    "AccessCodeStatus",
    "AccessCodeType",
    "Appearance",
    "UnmanagedAccessCode",
]


class AccessCodeStatus(enum.StrEnum):
    SETTING = "setting"
    SET = "set"
    UNSET = "unset"
    REMOVING = "removing"
    UNKNOWN = "unknown"  # the gateway cannot tell (lock unreachable for long, unreadable)


class AccessCodeType(enum.StrEnum):
    ONGOING = "ongoing"  # no starts_at / ends_at
    TIME_BOUND = "time_bound"


@dataclass(frozen=True, slots=True)
class Appearance:
    """The name exactly as the lock shows it (first/last only on locks that split names)."""

    name: str
    first_name: str | None = None
    last_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.first_name is not None:
            out["first_name"] = self.first_name
        if self.last_name is not None:
            out["last_name"] = self.last_name
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Appearance:
        name = data.get("name")
        if not isinstance(name, str):
            raise ModelDecodeError("appearance needs a string `name`")
        return cls(name, data.get("first_name"), data.get("last_name"))


def _time_type(starts_at: datetime | None, ends_at: datetime | None) -> AccessCodeType:
    if starts_at is None and ends_at is None:
        return AccessCodeType.ONGOING
    return AccessCodeType.TIME_BOUND


def _str_or_none(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ModelDecodeError(f"`{key}` must be a string or null")
    return value


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ModelDecodeError(f"`{key}` must be a string")
    return value


class _Identity(TypedDict):
    access_code_id: str
    device_id: str
    workspace_id: str
    created_at: datetime
    name: str | None
    code: str | None


class _Issues(TypedDict):
    errors: tuple[AccessCodeError, ...]
    warnings: tuple[AccessCodeWarning, ...]


def _decode_identity(data: Mapping[str, Any]) -> _Identity:
    """The fields managed and unmanaged codes share, decoded in the order Seam lists them."""
    return _Identity(
        access_code_id=_required_str(data, "access_code_id"),
        device_id=_required_str(data, "device_id"),
        workspace_id=_required_str(data, "workspace_id"),
        created_at=decode_time(data.get("created_at"), "created_at"),
        name=_str_or_none(data, "name"),
        code=_str_or_none(data, "code"),
    )


def _decode_issues(data: Mapping[str, Any]) -> _Issues:
    return _Issues(
        errors=tuple(AccessCodeError.from_dict(e) for e in data.get("errors") or ()),
        warnings=tuple(AccessCodeWarning.from_dict(w) for w in data.get("warnings") or ()),
    )


def _decode_appearance(data: Mapping[str, Any]) -> Appearance | None:
    appearance = data.get("appearance")
    return None if appearance is None else Appearance.from_dict(appearance)


def _identity_dict(code: AccessCode | UnmanagedAccessCode) -> dict[str, Any]:
    """The leading keys of Seam's managed and unmanaged code objects (same order in both)."""
    return {
        "access_code_id": code.access_code_id,
        "device_id": code.device_id,
        "workspace_id": code.workspace_id,
        "name": code.name,
        "appearance": None if code.appearance is None else code.appearance.to_dict(),
        "code": code.code,
    }


def _timing_dict(code: AccessCode | UnmanagedAccessCode) -> dict[str, Any]:
    """The time frame, status and issues of Seam's managed and unmanaged code objects."""
    return {
        "type": code.type.value,
        "starts_at": format_time_or_none(code.starts_at),
        "ends_at": format_time_or_none(code.ends_at),
        "status": code.status.value,
        "created_at": format_time(code.created_at),
        "errors": [e.to_dict() for e in code.errors],
        "warnings": [w.to_dict() for w in code.warnings],
    }


def _status(data: Mapping[str, Any]) -> AccessCodeStatus:
    return decode_enum(AccessCodeStatus, data.get("status"), "access code status")


@dataclass(frozen=True, slots=True)
class AccessCode:
    """A managed access code: what its owner asked for and how far the lock has got.

    `type` follows from the time frame: time-bound exactly when starts_at/ends_at are set.
    The PIN is kept (Seam returns it) but `repr` shows only its length.
    """

    access_code_id: str
    device_id: str
    workspace_id: str
    created_at: datetime
    name: str | None = None
    code: str | None = None
    common_code_key: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: AccessCodeStatus = AccessCodeStatus.SETTING
    errors: tuple[AccessCodeError, ...] = ()
    warnings: tuple[AccessCodeWarning, ...] = ()
    pending_mutations: tuple[PendingMutation, ...] = ()
    appearance: Appearance | None = None
    is_backup: bool = False
    is_backup_access_code_available: bool = False
    pulled_backup_access_code_id: str | None = None
    is_external_modification_allowed: bool = False
    is_offline_access_code: bool = False
    is_one_time_use: bool = False
    is_scheduled_on_device: bool = False
    is_waiting_for_code_assignment: bool = False

    def __repr__(self) -> str:
        return masked_repr(self, masked=("code",))

    @property
    def type(self) -> AccessCodeType:
        return _time_type(self.starts_at, self.ends_at)

    # -- small immutable updates the reconciler and service need ------------------------

    def with_error(self, error: AccessCodeError) -> AccessCode:
        """Add `error`, replacing an earlier error with the same code (one per code)."""
        kept = tuple(e for e in self.errors if e.error_code != error.error_code)
        return replace(self, errors=(*kept, error))

    def without_error(self, code: AccessCodeErrorCode | DeviceErrorCode) -> AccessCode:
        return replace(self, errors=tuple(e for e in self.errors if e.error_code != code))

    def with_warning(self, warning: AccessCodeWarning) -> AccessCode:
        kept = tuple(w for w in self.warnings if w.warning_code != warning.warning_code)
        return replace(self, warnings=(*kept, warning))

    def without_warning(self, code: AccessCodeWarningCode) -> AccessCode:
        return replace(self, warnings=tuple(w for w in self.warnings if w.warning_code != code))

    def with_mutation(self, mutation: PendingMutation) -> AccessCode:
        """Add `mutation`, replacing a pending one of the same kind (the latest wins)."""
        kept = tuple(m for m in self.pending_mutations if m.mutation_code != mutation.mutation_code)
        return replace(self, pending_mutations=(*kept, mutation))

    def without_mutation(self, code: MutationCode) -> AccessCode:
        kept = tuple(m for m in self.pending_mutations if m.mutation_code != code)
        return replace(self, pending_mutations=kept)

    # -- JSON ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Seam's `access_code` object (plus `appearance`, which SDKs ignore)."""
        return {
            **_identity_dict(self),
            "common_code_key": self.common_code_key,
            **_timing_dict(self),
            "pending_mutations": [m.to_dict() for m in self.pending_mutations],
            "is_managed": True,
            "is_backup": self.is_backup,
            "is_backup_access_code_available": self.is_backup_access_code_available,
            "pulled_backup_access_code_id": self.pulled_backup_access_code_id,
            "is_external_modification_allowed": self.is_external_modification_allowed,
            "is_offline_access_code": self.is_offline_access_code,
            "is_one_time_use": self.is_one_time_use,
            "is_scheduled_on_device": self.is_scheduled_on_device,
            "is_waiting_for_code_assignment": self.is_waiting_for_code_assignment,
            "dormakaba_oracode_metadata": None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessCode:
        """The inverse of `to_dict` (for stored JSON); raises `ModelDecodeError`."""
        if data.get("is_managed") is False:
            raise ModelDecodeError("an unmanaged access code is not an AccessCode")
        return cls(
            **_decode_identity(data),
            common_code_key=_str_or_none(data, "common_code_key"),
            starts_at=decode_time_or_none(data.get("starts_at"), "starts_at"),
            ends_at=decode_time_or_none(data.get("ends_at"), "ends_at"),
            status=_status(data),
            **_decode_issues(data),
            pending_mutations=tuple(
                pending_mutation_from_dict(m) for m in data.get("pending_mutations") or ()
            ),
            appearance=_decode_appearance(data),
            is_backup=bool(data.get("is_backup", False)),
            is_backup_access_code_available=bool(
                data.get("is_backup_access_code_available", False)
            ),
            pulled_backup_access_code_id=_str_or_none(data, "pulled_backup_access_code_id"),
            is_external_modification_allowed=bool(
                data.get("is_external_modification_allowed", False)
            ),
            is_offline_access_code=bool(data.get("is_offline_access_code", False)),
            is_one_time_use=bool(data.get("is_one_time_use", False)),
            is_scheduled_on_device=bool(data.get("is_scheduled_on_device", False)),
            is_waiting_for_code_assignment=bool(data.get("is_waiting_for_code_assignment", False)),
        )


@dataclass(frozen=True, slots=True)
class UnmanagedAccessCode:
    """A code found on the lock that keyslot did not put there (status `set` or `unset`)."""

    access_code_id: str
    device_id: str
    workspace_id: str
    created_at: datetime
    name: str | None = None
    code: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: AccessCodeStatus = AccessCodeStatus.SET
    errors: tuple[AccessCodeError, ...] = ()
    warnings: tuple[AccessCodeWarning, ...] = ()
    appearance: Appearance | None = None

    def __post_init__(self) -> None:
        if self.status not in (AccessCodeStatus.SET, AccessCodeStatus.UNSET):
            raise ValueError("an unmanaged access code is either set or unset")

    def __repr__(self) -> str:
        return masked_repr(self, masked=("code",))

    @property
    def type(self) -> AccessCodeType:
        return _time_type(self.starts_at, self.ends_at)

    def to_dict(self) -> dict[str, Any]:
        """Seam's `unmanaged_access_code` object."""
        return {
            **_identity_dict(self),
            **_timing_dict(self),
            "is_managed": False,
            "dormakaba_oracode_metadata": None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnmanagedAccessCode:
        status = _status(data)
        if status not in (AccessCodeStatus.SET, AccessCodeStatus.UNSET):
            raise ModelDecodeError(f"unmanaged access code status {status.value!r}")
        return cls(
            **_decode_identity(data),
            starts_at=decode_time_or_none(data.get("starts_at"), "starts_at"),
            ends_at=decode_time_or_none(data.get("ends_at"), "ends_at"),
            status=status,
            **_decode_issues(data),
            appearance=_decode_appearance(data),
        )

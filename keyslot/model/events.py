"""Events in Seam's shape: what happened to access codes and at the lock."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyslot.model.common import (
    ModelDecodeError,
    decode_enum,
    decode_time,
    format_time,
    masked_repr,
    new_id,
)

__all__ = ["AccessDeniedReason", "Event", "EventType", "UnlockMethod"]


class EventType(enum.StrEnum):
    ACCESS_CODE_CREATED = "access_code.created"
    ACCESS_CODE_CHANGED = "access_code.changed"
    ACCESS_CODE_NAME_CHANGED = "access_code.name_changed"
    ACCESS_CODE_CODE_CHANGED = "access_code.code_changed"
    ACCESS_CODE_TIME_FRAME_CHANGED = "access_code.time_frame_changed"
    ACCESS_CODE_SCHEDULED_ON_DEVICE = "access_code.scheduled_on_device"
    ACCESS_CODE_SET_ON_DEVICE = "access_code.set_on_device"
    ACCESS_CODE_REMOVED_FROM_DEVICE = "access_code.removed_from_device"
    ACCESS_CODE_DELAY_IN_SETTING_ON_DEVICE = "access_code.delay_in_setting_on_device"
    ACCESS_CODE_FAILED_TO_SET_ON_DEVICE = "access_code.failed_to_set_on_device"
    ACCESS_CODE_DELAY_IN_REMOVING_FROM_DEVICE = "access_code.delay_in_removing_from_device"
    ACCESS_CODE_FAILED_TO_REMOVE_FROM_DEVICE = "access_code.failed_to_remove_from_device"
    ACCESS_CODE_DELETED = "access_code.deleted"
    ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM = "access_code.modified_external_to_seam"
    ACCESS_CODE_DELETED_EXTERNAL_TO_SEAM = "access_code.deleted_external_to_seam"
    ACCESS_CODE_BACKUP_ACCESS_CODE_PULLED = "access_code.backup_access_code_pulled"
    ACCESS_CODE_UNMANAGED_CREATED = "access_code.unmanaged.created"
    ACCESS_CODE_UNMANAGED_REMOVED = "access_code.unmanaged.removed"
    ACCESS_CODE_UNMANAGED_CONVERTED_TO_MANAGED = "access_code.unmanaged.converted_to_managed"
    LOCK_LOCKED = "lock.locked"
    LOCK_UNLOCKED = "lock.unlocked"
    LOCK_ACCESS_DENIED = "lock.access_denied"


class UnlockMethod(enum.StrEnum):
    KEYCODE = "keycode"
    MANUAL = "manual"
    AUTOMATIC = "automatic"
    UNKNOWN = "unknown"
    REMOTE = "remote"
    CARD = "card"


class AccessDeniedReason(enum.StrEnum):
    """`reason.reason_code` of `lock.access_denied`."""

    UNKNOWN_CODE = "unknown_code"
    EXPIRED_CODE = "expired_code"
    BLOCKLISTED_CODE = "blocklisted_code"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    BLOCKED_BY_PRIVACY_MODE = "blocked_by_privacy_mode"
    CREDENTIAL_ERROR = "credential_error"


_BASE_KEYS = frozenset(
    {
        "event_id",
        "event_type",
        "workspace_id",
        "device_id",
        "access_code_id",
        "connected_account_id",
        "created_at",
        "occurred_at",
    }
)

# Events that report a problem carry every current error/warning list (empty by default).
_ISSUE_EVENTS = frozenset(
    {
        EventType.ACCESS_CODE_DELAY_IN_SETTING_ON_DEVICE,
        EventType.ACCESS_CODE_FAILED_TO_SET_ON_DEVICE,
        EventType.ACCESS_CODE_DELAY_IN_REMOVING_FROM_DEVICE,
        EventType.ACCESS_CODE_FAILED_TO_REMOVE_FROM_DEVICE,
    }
)
_ISSUE_LISTS = (
    "connected_account_errors",
    "connected_account_warnings",
    "device_errors",
    "device_warnings",
    "access_code_errors",
    "access_code_warnings",
)

# Fields Seam requires for a type beyond the base: the constructor insists on them.
_REQUIRED_DATA: dict[EventType, tuple[str, ...]] = {
    EventType.ACCESS_CODE_SCHEDULED_ON_DEVICE: ("code",),
    EventType.ACCESS_CODE_SET_ON_DEVICE: ("code",),
    EventType.ACCESS_CODE_DELETED: ("code",),
    EventType.ACCESS_CODE_NAME_CHANGED: ("from", "to"),
    EventType.ACCESS_CODE_CODE_CHANGED: ("from", "to"),
    EventType.ACCESS_CODE_TIME_FRAME_CHANGED: ("from", "to"),
    EventType.ACCESS_CODE_BACKUP_ACCESS_CODE_PULLED: ("backup_access_code_id",),
    EventType.LOCK_LOCKED: ("method",),
    EventType.LOCK_UNLOCKED: ("method",),
}
_DESCRIPTIONS: dict[EventType, str] = {
    EventType.ACCESS_CODE_NAME_CHANGED: "The name of the access code changed.",
    EventType.ACCESS_CODE_CODE_CHANGED: "The code of the access code changed.",
    EventType.ACCESS_CODE_TIME_FRAME_CHANGED: "The time frame of the access code changed.",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `data` holds the type's own fields (`method`, `reason`, `code`, `from`…).

    `connected_account_id` defaults to the workspace: one gateway is one account.
    """

    event_id: str
    event_type: EventType
    workspace_id: str
    created_at: datetime
    occurred_at: datetime
    device_id: str | None = None
    access_code_id: str | None = None
    connected_account_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in _REQUIRED_DATA.get(self.event_type, ()) if k not in self.data]
        if missing:
            raise ValueError(f"event {self.event_type.value} needs {', '.join(missing)}")
        clash = _BASE_KEYS.intersection(self.data)
        if clash:
            raise ValueError(f"event data must not repeat base fields: {sorted(clash)}")

    def __repr__(self) -> str:
        return masked_repr(self, redacted=("data",))

    @classmethod
    def new(
        cls,
        event_type: EventType,
        *,
        workspace_id: str,
        at: datetime,
        occurred_at: datetime | None = None,
        device_id: str | None = None,
        access_code_id: str | None = None,
        connected_account_id: str | None = None,
        **data: Any,
    ) -> Event:
        """A fresh event recorded `at`, for something that happened at `occurred_at`."""
        return cls(
            event_id=new_id(),
            event_type=event_type,
            workspace_id=workspace_id,
            created_at=at,
            occurred_at=occurred_at or at,
            device_id=device_id,
            access_code_id=access_code_id,
            connected_account_id=connected_account_id,
            data=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type.value,
            "workspace_id": self.workspace_id,
            "connected_account_id": self.connected_account_id or self.workspace_id,
            "created_at": format_time(self.created_at),
            "occurred_at": format_time(self.occurred_at),
        }
        if self.device_id is not None:
            out["device_id"] = self.device_id
        if self.access_code_id is not None:
            out["access_code_id"] = self.access_code_id
        if self.event_type in _ISSUE_EVENTS:
            out.update({key: [] for key in _ISSUE_LISTS})
        if self.event_type in _DESCRIPTIONS:
            out["description"] = _DESCRIPTIONS[self.event_type]
        out.update(self.data)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        event_type = decode_enum(EventType, data.get("event_type"), "event_type")
        ids = {key: data.get(key) for key in ("event_id", "workspace_id")}
        for key, value in ids.items():
            if not isinstance(value, str):
                raise ModelDecodeError(f"event needs a string `{key}`")
        extra = {k: v for k, v in data.items() if k not in _BASE_KEYS}
        if event_type in _ISSUE_EVENTS:
            extra = {k: v for k, v in extra.items() if k not in _ISSUE_LISTS or v}
        if event_type in _DESCRIPTIONS and extra.get("description") == _DESCRIPTIONS[event_type]:
            del extra["description"]
        try:
            return cls(
                event_id=str(ids["event_id"]),
                event_type=event_type,
                workspace_id=str(ids["workspace_id"]),
                created_at=decode_time(data.get("created_at"), "created_at"),
                occurred_at=decode_time(data.get("occurred_at"), "occurred_at"),
                device_id=data.get("device_id"),
                access_code_id=data.get("access_code_id"),
                connected_account_id=data.get("connected_account_id"),
                data=extra,
            )
        except ValueError as exc:
            raise ModelDecodeError(str(exc)) from None

"""Pending mutations: changes to an access code that are on their way to the lock."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from keyslot.model.common import (
    ModelDecodeError,
    decode_enum,
    decode_time,
    decode_time_or_none,
    format_time,
    format_time_or_none,
    masked_repr,
)

__all__ = [
    "CreatingMutation",
    "DeferringCreationMutation",
    "DeletingMutation",
    "MutationCode",
    "PendingMutation",
    "UpdatingCodeMutation",
    "UpdatingNameMutation",
    "UpdatingTimeFrameMutation",
    "pending_mutation_from_dict",
]


class MutationCode(enum.StrEnum):
    CREATING = "creating"
    DEFERRING_CREATION = "deferring_creation"
    DELETING = "deleting"
    UPDATING_CODE = "updating_code"
    UPDATING_NAME = "updating_name"
    UPDATING_TIME_FRAME = "updating_time_frame"


def _base(code: MutationCode, created_at: datetime, message: str) -> dict[str, Any]:
    return {"mutation_code": code.value, "created_at": format_time(created_at), "message": message}


@dataclass(frozen=True, slots=True)
class CreatingMutation:
    mutation_code: ClassVar[MutationCode] = MutationCode.CREATING
    created_at: datetime
    message: str = "Setting the access code on the device."

    def to_dict(self) -> dict[str, Any]:
        return _base(self.mutation_code, self.created_at, self.message)


@dataclass(frozen=True, slots=True)
class DeferringCreationMutation:
    """Creation waits until `scheduled_at` (a time-bound code programmed just in time)."""

    mutation_code: ClassVar[MutationCode] = MutationCode.DEFERRING_CREATION
    created_at: datetime
    scheduled_at: datetime
    message: str = "Setting the access code on the device is scheduled."

    def to_dict(self) -> dict[str, Any]:
        out = _base(self.mutation_code, self.created_at, self.message)
        out["scheduled_at"] = format_time(self.scheduled_at)
        return out


@dataclass(frozen=True, slots=True)
class DeletingMutation:
    mutation_code: ClassVar[MutationCode] = MutationCode.DELETING
    created_at: datetime
    message: str = "Removing the access code from the device."

    def to_dict(self) -> dict[str, Any]:
        return _base(self.mutation_code, self.created_at, self.message)


@dataclass(frozen=True, slots=True)
class UpdatingCodeMutation:
    """The PIN changes. Seam returns both codes, so they are kept; `repr` hides them."""

    mutation_code: ClassVar[MutationCode] = MutationCode.UPDATING_CODE
    created_at: datetime
    from_code: str | None
    to_code: str | None
    message: str = "Changing the code on the device."

    def to_dict(self) -> dict[str, Any]:
        out = _base(self.mutation_code, self.created_at, self.message)
        out["from"] = {"code": self.from_code}
        out["to"] = {"code": self.to_code}
        return out

    def __repr__(self) -> str:
        return masked_repr(self, masked=("from_code", "to_code"))


@dataclass(frozen=True, slots=True)
class UpdatingNameMutation:
    mutation_code: ClassVar[MutationCode] = MutationCode.UPDATING_NAME
    created_at: datetime
    from_name: str | None
    to_name: str | None
    message: str = "Changing the name on the device."

    def to_dict(self) -> dict[str, Any]:
        out = _base(self.mutation_code, self.created_at, self.message)
        out["from"] = {"name": self.from_name}
        out["to"] = {"name": self.to_name}
        return out


@dataclass(frozen=True, slots=True)
class UpdatingTimeFrameMutation:
    mutation_code: ClassVar[MutationCode] = MutationCode.UPDATING_TIME_FRAME
    created_at: datetime
    from_starts_at: datetime | None
    from_ends_at: datetime | None
    to_starts_at: datetime | None
    to_ends_at: datetime | None
    message: str = "Changing the time frame on the device."

    def to_dict(self) -> dict[str, Any]:
        out = _base(self.mutation_code, self.created_at, self.message)
        out["from"] = {
            "starts_at": format_time_or_none(self.from_starts_at),
            "ends_at": format_time_or_none(self.from_ends_at),
        }
        out["to"] = {
            "starts_at": format_time_or_none(self.to_starts_at),
            "ends_at": format_time_or_none(self.to_ends_at),
        }
        return out


PendingMutation = (
    CreatingMutation
    | DeferringCreationMutation
    | DeletingMutation
    | UpdatingCodeMutation
    | UpdatingNameMutation
    | UpdatingTimeFrameMutation
)


def _side(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    side = data.get(key)
    if not isinstance(side, Mapping):
        raise ModelDecodeError(f"pending mutation needs an object `{key}`")
    return side


def pending_mutation_from_dict(data: Mapping[str, Any]) -> PendingMutation:
    """Decode one `pending_mutations` entry (the inverse of its `to_dict`)."""
    code = decode_enum(MutationCode, data.get("mutation_code"), "mutation_code")
    created_at = decode_time(data.get("created_at"), "created_at")
    message = data.get("message")
    kw: dict[str, Any] = {} if message is None else {"message": str(message)}
    if code is MutationCode.CREATING:
        return CreatingMutation(created_at, **kw)
    if code is MutationCode.DELETING:
        return DeletingMutation(created_at, **kw)
    if code is MutationCode.DEFERRING_CREATION:
        scheduled_at = decode_time(data.get("scheduled_at"), "scheduled_at")
        return DeferringCreationMutation(created_at, scheduled_at, **kw)
    old, new = _side(data, "from"), _side(data, "to")
    if code is MutationCode.UPDATING_CODE:
        return UpdatingCodeMutation(created_at, old.get("code"), new.get("code"), **kw)
    if code is MutationCode.UPDATING_NAME:
        return UpdatingNameMutation(created_at, old.get("name"), new.get("name"), **kw)
    return UpdatingTimeFrameMutation(
        created_at,
        decode_time_or_none(old.get("starts_at"), "from.starts_at"),
        decode_time_or_none(old.get("ends_at"), "from.ends_at"),
        decode_time_or_none(new.get("starts_at"), "to.starts_at"),
        decode_time_or_none(new.get("ends_at"), "to.ends_at"),
        **kw,
    )

"""Action attempts: the handle Seam returns for work that finishes on the lock later."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from keyslot.model.common import ModelDecodeError, decode_enum, masked_repr, new_id

__all__ = ["ActionAttempt", "ActionAttemptError", "ActionAttemptStatus", "ActionType"]


class ActionType(enum.StrEnum):
    CREATE_ACCESS_CODE = "CREATE_ACCESS_CODE"
    UPDATE_ACCESS_CODE = "UPDATE_ACCESS_CODE"
    DELETE_ACCESS_CODE = "DELETE_ACCESS_CODE"
    SYNC_ACCESS_CODES = "SYNC_ACCESS_CODES"
    SIMULATE_KEYPAD_CODE_ENTRY = "SIMULATE_KEYPAD_CODE_ENTRY"
    LOCK_DOOR = "LOCK_DOOR"
    UNLOCK_DOOR = "UNLOCK_DOOR"


class ActionAttemptStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ActionAttemptError:
    type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True, slots=True)
class ActionAttempt:
    """`result` is set exactly on success, `error` exactly on error; a PIN in `result`
    (e.g. a created access code) is hidden from `repr`."""

    action_attempt_id: str
    action_type: ActionType
    status: ActionAttemptStatus = ActionAttemptStatus.PENDING
    result: Mapping[str, Any] | None = None
    error: ActionAttemptError | None = None

    def __post_init__(self) -> None:
        if (self.status is ActionAttemptStatus.SUCCESS) != (self.result is not None):
            raise ValueError("an action attempt has a result exactly when it succeeded")
        if (self.status is ActionAttemptStatus.ERROR) != (self.error is not None):
            raise ValueError("an action attempt has an error exactly when it failed")

    def __repr__(self) -> str:
        return masked_repr(self, redacted=("result",))

    @classmethod
    def pending(
        cls, action_type: ActionType, action_attempt_id: str | None = None
    ) -> ActionAttempt:
        return cls(action_attempt_id or new_id(), action_type)

    def succeeded(self, result: Mapping[str, Any] | None = None) -> ActionAttempt:
        return replace(
            self, status=ActionAttemptStatus.SUCCESS, result=dict(result or {}), error=None
        )

    def failed(self, error_type: str, message: str) -> ActionAttempt:
        return replace(
            self,
            status=ActionAttemptStatus.ERROR,
            result=None,
            error=ActionAttemptError(error_type, message),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action_attempt_id": self.action_attempt_id,
            "action_type": self.action_type.value,
            "status": self.status.value,
            "result": None if self.result is None else dict(self.result),
            "error": None if self.error is None else self.error.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionAttempt:
        action_type = decode_enum(ActionType, data.get("action_type"), "action_type")
        status = decode_enum(ActionAttemptStatus, data.get("status"), "action attempt status")
        attempt_id = data.get("action_attempt_id")
        if not isinstance(attempt_id, str):
            raise ModelDecodeError("action attempt needs a string `action_attempt_id`")
        raw_error = data.get("error")
        error = None
        if raw_error is not None:
            if not isinstance(raw_error, Mapping):
                raise ModelDecodeError("action attempt `error` must be an object")
            error = ActionAttemptError(str(raw_error.get("type")), str(raw_error.get("message")))
        result = data.get("result")
        if result is not None and not isinstance(result, Mapping):
            raise ModelDecodeError("action attempt `result` must be an object")
        try:
            return cls(attempt_id, action_type, status, result, error)
        except ValueError as exc:
            raise ModelDecodeError(str(exc)) from None

"""Errors the service and the HTTP gateway answer with, shaped like Seam's error bodies.

Messages name fields and ids, never a PIN: they travel into logs and HTTP answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from keyslot.protocol.slots import KeyslotError

__all__ = [
    "AccessCodeNotFound",
    "ActionAttemptNotFound",
    "Conflict",
    "DeviceNotFound",
    "DuplicateAccessCode",
    "InvalidInput",
    "NotFound",
    "SeamApiError",
    "Unauthorized",
    "ValidationErrors",
]

# Seam's shape: {"field": {"_errors": ["message", ...]}}
ValidationErrors = dict[str, dict[str, list[str]]]


class SeamApiError(KeyslotError):
    """An error answer of the Seam-compatible API: `type`, `message`, HTTP status."""

    default_type: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str = "",
        *,
        type: str | None = None,  # noqa: A002 - Seam's field name
        validation_errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.type: str = type or self.default_type
        super().__init__(message or self.type.replace("_", " "), code=self.type)
        self.validation_errors: ValidationErrors | None = (
            {field: {"_errors": list(errors)} for field, errors in validation_errors.items()}
            if validation_errors
            else None
        )

    def to_dict(self) -> dict[str, Any]:
        """The `error` object of the answer body `{"ok": false, "error": ...}`."""
        body: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.validation_errors is not None:
            body["validation_errors"] = self.validation_errors
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, message={self.message!r})"


class InvalidInput(SeamApiError, ValueError):
    """The request is malformed or breaks a rule (HTTP 400, type `invalid_input`)."""

    default_type = "invalid_input"
    http_status = 400

    @classmethod
    def for_field(cls, field: str, message: str) -> InvalidInput:
        """One field is wrong: the message is also the field's validation error."""
        return cls(f"{field}: {message}", validation_errors={field: [message]})


class Unauthorized(SeamApiError):
    """A missing or bad API key (HTTP 401)."""

    default_type = "unauthorized"
    http_status = 401


class NotFound(SeamApiError):
    """An unknown id (HTTP 404)."""

    default_type = "not_found"
    http_status = 404


class AccessCodeNotFound(NotFound):
    default_type = "access_code_not_found"


class DeviceNotFound(NotFound):
    default_type = "device_not_found"


class ActionAttemptNotFound(NotFound):
    default_type = "action_attempt_not_found"


class Conflict(SeamApiError):
    """The request contradicts the current state (HTTP 409)."""

    default_type = "conflict"
    http_status = 409


class DuplicateAccessCode(Conflict):
    """The code is already used by another access code of the same device."""

    default_type = "duplicate_access_code"

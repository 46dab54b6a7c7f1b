"""The API error types answer in Seam's error shape with the right HTTP status."""

from __future__ import annotations

import pytest

from keyslot.model import (
    AccessCodeNotFound,
    ActionAttemptNotFound,
    Conflict,
    DeviceNotFound,
    DuplicateAccessCode,
    InvalidInput,
    NotFound,
    SeamApiError,
    Unauthorized,
)
from keyslot.protocol.slots import KeyslotError


@pytest.mark.parametrize(
    ("cls", "status", "type_"),
    [
        (InvalidInput, 400, "invalid_input"),
        (Unauthorized, 401, "unauthorized"),
        (NotFound, 404, "not_found"),
        (AccessCodeNotFound, 404, "access_code_not_found"),
        (DeviceNotFound, 404, "device_not_found"),
        (ActionAttemptNotFound, 404, "action_attempt_not_found"),
        (Conflict, 409, "conflict"),
        (DuplicateAccessCode, 409, "duplicate_access_code"),
    ],
)
def test_each_error_has_its_status_and_default_type(
    cls: type[SeamApiError], status: int, type_: str
) -> None:
    error = cls("something went wrong")
    assert isinstance(error, KeyslotError)
    assert error.http_status == status
    assert error.type == type_
    assert error.code == type_
    assert error.message == "something went wrong"
    assert error.to_dict() == {"type": type_, "message": "something went wrong"}
    assert not error.retryable


def test_the_type_can_be_narrowed_at_the_raise_site() -> None:
    error = NotFound("no such code", type="access_code_not_found")
    assert error.type == "access_code_not_found"
    assert error.http_status == 404


def test_a_default_message_is_derived_from_the_type() -> None:
    assert DeviceNotFound().message == "device not found"


def test_validation_errors_use_seams_shape() -> None:
    error = InvalidInput(
        "bad request", validation_errors={"code": ["too short"], "ends_at": ["in the past"]}
    )
    assert error.to_dict() == {
        "type": "invalid_input",
        "message": "bad request",
        "validation_errors": {
            "code": {"_errors": ["too short"]},
            "ends_at": {"_errors": ["in the past"]},
        },
    }


def test_invalid_input_for_one_field() -> None:
    error = InvalidInput.for_field("starts_at", "must be before ends_at")
    assert error.message == "starts_at: must be before ends_at"
    assert error.validation_errors == {"starts_at": {"_errors": ["must be before ends_at"]}}
    assert isinstance(error, ValueError)


def test_repr_names_type_and_message() -> None:
    assert repr(Conflict("taken")) == "Conflict(type='conflict', message='taken')"

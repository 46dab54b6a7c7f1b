"""Action attempts: pending -> success | error, consistent fields, hidden PINs."""

from __future__ import annotations

import pytest

from keyslot.model import (
    ActionAttempt,
    ActionAttemptError,
    ActionAttemptStatus,
    ActionType,
    ModelDecodeError,
)


def test_pending_then_success() -> None:
    pending = ActionAttempt.pending(ActionType.CREATE_ACCESS_CODE)
    assert pending.to_dict() == {
        "action_attempt_id": pending.action_attempt_id,
        "action_type": "CREATE_ACCESS_CODE",
        "status": "pending",
        "result": None,
        "error": None,
    }
    done = pending.succeeded({"access_code": {"code": "918273"}})
    assert done.status is ActionAttemptStatus.SUCCESS
    assert done.action_attempt_id == pending.action_attempt_id
    assert done.to_dict()["result"] == {"access_code": {"code": "918273"}}
    assert "918273" not in repr(done)


def test_success_without_a_result_has_an_empty_one() -> None:
    done = ActionAttempt.pending(ActionType.DELETE_ACCESS_CODE).succeeded()
    assert done.to_dict()["result"] == {}


def test_failure() -> None:
    failed = ActionAttempt.pending(ActionType.UPDATE_ACCESS_CODE, "fixed-id").failed(
        "lock_unavailable", "the lock did not answer"
    )
    assert failed.to_dict() == {
        "action_attempt_id": "fixed-id",
        "action_type": "UPDATE_ACCESS_CODE",
        "status": "error",
        "result": None,
        "error": {"type": "lock_unavailable", "message": "the lock did not answer"},
    }


def test_inconsistent_attempts_are_refused() -> None:
    with pytest.raises(ValueError, match="result"):
        ActionAttempt("a", ActionType.LOCK_DOOR, ActionAttemptStatus.SUCCESS)
    with pytest.raises(ValueError, match="error"):
        ActionAttempt("a", ActionType.LOCK_DOOR, ActionAttemptStatus.ERROR, None, None)
    with pytest.raises(ValueError, match="error"):
        ActionAttempt(
            "a",
            ActionType.LOCK_DOOR,
            ActionAttemptStatus.PENDING,
            None,
            ActionAttemptError("x", "y"),
        )


def test_round_trip_and_bad_input() -> None:
    for attempt in (
        ActionAttempt.pending(ActionType.SYNC_ACCESS_CODES),
        ActionAttempt.pending(ActionType.SIMULATE_KEYPAD_CODE_ENTRY).succeeded(),
        ActionAttempt.pending(ActionType.UNLOCK_DOOR).failed("t", "m"),
    ):
        assert ActionAttempt.from_dict(attempt.to_dict()) == attempt
    body = ActionAttempt.pending(ActionType.LOCK_DOOR).to_dict()
    with pytest.raises(ModelDecodeError):
        ActionAttempt.from_dict({**body, "status": "success"})
    with pytest.raises(ModelDecodeError):
        ActionAttempt.from_dict({**body, "action_type": "FLY"})
    with pytest.raises(ModelDecodeError):
        ActionAttempt.from_dict({**body, "action_attempt_id": 7})
    with pytest.raises(ModelDecodeError):
        ActionAttempt.from_dict({**body, "status": "error", "error": "boom"})

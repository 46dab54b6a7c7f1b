"""Events: base fields, the fields each type requires, hidden PINs, decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyslot.model import (
    AccessDeniedReason,
    Event,
    EventType,
    ModelDecodeError,
    UnlockMethod,
    new_id,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORKSPACE, DEVICE, CODE_ID = new_id(), new_id(), new_id()

REFERENCE_EVENTS = {
    "access_code.created",
    "access_code.changed",
    "access_code.name_changed",
    "access_code.code_changed",
    "access_code.time_frame_changed",
    "access_code.scheduled_on_device",
    "access_code.set_on_device",
    "access_code.removed_from_device",
    "access_code.delay_in_setting_on_device",
    "access_code.failed_to_set_on_device",
    "access_code.delay_in_removing_from_device",
    "access_code.failed_to_remove_from_device",
    "access_code.deleted",
    "access_code.modified_external_to_seam",
    "access_code.deleted_external_to_seam",
    "access_code.backup_access_code_pulled",
    "access_code.unmanaged.created",
    "access_code.unmanaged.removed",
    "lock.unlocked",
    "lock.access_denied",
}


def test_every_reference_event_has_a_constant() -> None:
    assert {e.value for e in EventType} >= REFERENCE_EVENTS


def test_base_fields() -> None:
    occurred = T0 - timedelta(seconds=30)
    event = Event.new(
        EventType.ACCESS_CODE_CREATED,
        workspace_id=WORKSPACE,
        at=T0,
        occurred_at=occurred,
        device_id=DEVICE,
        access_code_id=CODE_ID,
    )
    body = event.to_dict()
    assert body == {
        "event_id": event.event_id,
        "event_type": "access_code.created",
        "workspace_id": WORKSPACE,
        "connected_account_id": WORKSPACE,
        "device_id": DEVICE,
        "access_code_id": CODE_ID,
        "created_at": "2026-03-02T09:00:00.000Z",
        "occurred_at": "2026-03-02T08:59:30.000Z",
    }


def test_occurred_at_defaults_to_the_recording_time() -> None:
    event = Event.new(EventType.ACCESS_CODE_DELETED, workspace_id=WORKSPACE, at=T0, code=None)
    assert event.occurred_at == T0


def test_lock_events_carry_method_and_reason() -> None:
    unlocked = Event.new(
        EventType.LOCK_UNLOCKED,
        workspace_id=WORKSPACE,
        at=T0,
        device_id=DEVICE,
        access_code_id=CODE_ID,
        method=UnlockMethod.KEYCODE.value,
    )
    assert unlocked.to_dict()["method"] == "keycode"
    denied = Event.new(
        EventType.LOCK_ACCESS_DENIED,
        workspace_id=WORKSPACE,
        at=T0,
        device_id=DEVICE,
        reason={"reason_code": AccessDeniedReason.UNKNOWN_CODE.value, "message": "no such code"},
    )
    assert denied.to_dict()["reason"]["reason_code"] == "unknown_code"
    assert "access_code_id" not in denied.to_dict()


@pytest.mark.parametrize(
    ("event_type", "missing"),
    [
        (EventType.ACCESS_CODE_SET_ON_DEVICE, "code"),
        (EventType.ACCESS_CODE_NAME_CHANGED, "from"),
        (EventType.LOCK_UNLOCKED, "method"),
        (EventType.ACCESS_CODE_BACKUP_ACCESS_CODE_PULLED, "backup_access_code_id"),
    ],
)
def test_fields_a_type_requires_are_enforced(event_type: EventType, missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        Event.new(event_type, workspace_id=WORKSPACE, at=T0)


def test_data_cannot_shadow_base_fields() -> None:
    with pytest.raises(ValueError, match="base fields"):
        Event(new_id(), EventType.ACCESS_CODE_CREATED, WORKSPACE, T0, T0, data={"event_id": "x"})


def test_problem_events_carry_empty_issue_lists_by_default() -> None:
    event = Event.new(
        EventType.ACCESS_CODE_FAILED_TO_SET_ON_DEVICE,
        workspace_id=WORKSPACE,
        at=T0,
        device_id=DEVICE,
        access_code_id=CODE_ID,
        access_code_errors=[
            {"error_code": "x", "message": "m", "created_at": "2026-03-02T09:00:00.000Z"}
        ],
    )
    body = event.to_dict()
    for key in ("connected_account_errors", "device_errors", "device_warnings"):
        assert body[key] == []
    assert body["access_code_errors"][0]["error_code"] == "x"


def test_change_events_get_a_description() -> None:
    event = Event.new(
        EventType.ACCESS_CODE_NAME_CHANGED,
        workspace_id=WORKSPACE,
        at=T0,
        **{"from": {"name": "a"}, "to": {"name": "b"}},
    )
    assert event.to_dict()["description"]


def test_repr_hides_pins_in_event_data() -> None:
    event = Event.new(
        EventType.ACCESS_CODE_CODE_CHANGED,
        workspace_id=WORKSPACE,
        at=T0,
        **{"from": {"code": "246810"}, "to": {"code": "135791"}},
    )
    assert "246810" not in repr(event)
    assert "135791" not in repr(event)
    set_event = Event.new(
        EventType.ACCESS_CODE_SET_ON_DEVICE, workspace_id=WORKSPACE, at=T0, code="864209"
    )
    assert "864209" not in repr(set_event)
    assert set_event.to_dict()["code"] == "864209"


def test_round_trip() -> None:
    event = Event.new(
        EventType.ACCESS_CODE_DELAY_IN_SETTING_ON_DEVICE,
        workspace_id=WORKSPACE,
        at=T0,
        device_id=DEVICE,
        access_code_id=CODE_ID,
        connected_account_id=WORKSPACE,
    )
    assert Event.from_dict(event.to_dict()) == event
    changed = Event.new(
        EventType.ACCESS_CODE_TIME_FRAME_CHANGED,
        workspace_id=WORKSPACE,
        at=T0,
        connected_account_id=WORKSPACE,
        **{
            "from": {"starts_at": None, "ends_at": None},
            "to": {"starts_at": None, "ends_at": None},
        },
    )
    assert Event.from_dict(changed.to_dict()) == changed


def test_decoding_refuses_bad_events() -> None:
    body = Event.new(EventType.ACCESS_CODE_CREATED, workspace_id=WORKSPACE, at=T0).to_dict()
    with pytest.raises(ModelDecodeError):
        Event.from_dict({**body, "event_type": "lock.exploded"})
    with pytest.raises(ModelDecodeError):
        Event.from_dict({**body, "event_id": None})
    with pytest.raises(ModelDecodeError):
        Event.from_dict({**body, "event_type": "lock.unlocked"})  # method missing

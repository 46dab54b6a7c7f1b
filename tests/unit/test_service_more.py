"""Service: create_multiple, unmanaged codes, devices, constraints, events, action attempts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyslot.model import (
    AccessCodeNotFound,
    AccessCodeStatus,
    ActionAttemptNotFound,
    ActionAttemptStatus,
    Conflict,
    DeviceNotFound,
    DuplicateAccessCode,
    EventType,
    InvalidInput,
    NotFound,
    UnmanagedAccessCode,
)
from keyslot.store import Desired, UnmanagedRecord
from tests.unit.service_fixtures import T0, World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


# --------------------------------------------------------------------------- create_multiple


def test_create_multiple_shares_one_pin_that_suits_every_device(world: World) -> None:
    ids = [world.devices[p] for p in ("kwikset", "nuki", "split")]
    codes = world.service.create_multiple_access_codes(device_ids=ids, name="Family")
    assert [c.device_id for c in codes] == ids
    pins = {c.code for c in codes}
    assert len(pins) == 1
    pin = pins.pop()
    assert pin is not None
    assert len(pin) == 6  # the only length Nuki takes
    assert "0" not in pin
    keys = {c.common_code_key for c in codes}
    assert len(keys) == 1
    assert None not in keys
    assert sorted(world.woken) == sorted(ids)


def test_create_multiple_throws_or_falls_back_to_random_codes(world: World) -> None:
    ids = [world.devices["kwikset"], world.devices["nuki"]]
    with pytest.raises(InvalidInput, match="digits"):  # 4 digits: Nuki takes only 6
        world.service.create_multiple_access_codes(device_ids=ids, code="2580")
    assert world.store.access_codes.count() == 0  # all or nothing
    codes = world.service.create_multiple_access_codes(
        device_ids=ids, code="2580", behavior_when_code_cannot_be_shared="create_random_code"
    )
    assert codes[0].code == "2580"
    assert codes[0].common_code_key is not None
    assert codes[1].code != "2580"
    assert codes[1].common_code_key is None


def test_create_multiple_when_no_common_code_exists(world: World) -> None:
    ids = [world.devices["nuki"], world.devices["kwikset"]]
    world.service.report_device_constraints(device_id=ids[1], supported_code_lengths=[4])
    with pytest.raises(InvalidInput, match="no code suits"):
        world.service.create_multiple_access_codes(device_ids=ids)
    codes = world.service.create_multiple_access_codes(
        device_ids=ids, behavior_when_code_cannot_be_shared="create_random_code"
    )
    assert [len(c.code or "") for c in codes] == [6, 4]


def test_create_multiple_checks_its_input(world: World) -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        world.service.create_multiple_access_codes(device_ids=[])
    with pytest.raises(InvalidInput, match="throw or create_random_code"):
        world.service.create_multiple_access_codes(
            device_ids=[world.devices["nuki"]], behavior_when_code_cannot_be_shared="maybe"
        )
    with pytest.raises(DeviceNotFound):
        world.service.create_multiple_access_codes(device_ids=[world.devices["nuki"], "nope"])


# --------------------------------------------------------------------------- unmanaged


def found(world: World, access_code_id: str, pin: str | None, slot: int | None = 5) -> None:
    code = UnmanagedAccessCode(
        access_code_id=access_code_id,
        device_id=world.devices["kwikset"],
        workspace_id=world.store.workspace_id,
        created_at=T0,
        name="Manager",
        code=pin,
    )
    world.store.unmanaged.put(UnmanagedRecord(code, slot=slot))


def test_unmanaged_list_and_get(world: World) -> None:
    found(world, "u1", "5150")
    device_id = world.devices["kwikset"]
    codes, pagination = world.service.list_unmanaged_access_codes(device_id=device_id)
    assert [c.access_code_id for c in codes] == ["u1"]
    assert pagination["has_next_page"] is False
    assert world.service.get_unmanaged_access_code(access_code_id="u1").code == "5150"
    assert world.service.get_unmanaged_access_code(device_id=device_id, code="5150").name == (
        "Manager"
    )
    assert world.service.list_unmanaged_access_codes(device_id=device_id, search="manag")[0]
    with pytest.raises(AccessCodeNotFound):
        world.service.get_unmanaged_access_code(access_code_id="u2")


def test_unmanaged_delete_waits_for_the_lock(world: World) -> None:
    found(world, "u1", "5150", slot=5)
    found(world, "u2", "6160", slot=None)
    attempt = world.service.delete_unmanaged_access_code(access_code_id="u1")
    assert attempt.status is ActionAttemptStatus.PENDING
    assert world.store.unmanaged.require("u1").desired is Desired.ABSENT
    assert world.woken == [world.devices["kwikset"]]
    with pytest.raises(AccessCodeNotFound):
        world.service.get_unmanaged_access_code(access_code_id="u1")
    done = world.service.delete_unmanaged_access_code(access_code_id="u2")
    assert done.status is ActionAttemptStatus.SUCCESS
    assert world.store.unmanaged.get("u2") is None


def test_convert_to_managed_keeps_id_slot_and_pin(world: World) -> None:
    found(world, "u1", "5150", slot=5)
    managed = world.service.convert_to_managed(
        access_code_id="u1", is_external_modification_allowed=True
    )
    assert managed.access_code_id == "u1"
    assert managed.status is AccessCodeStatus.SET
    record = world.store.access_codes.require("u1")
    assert (record.slot, record.access_code.code) == (5, "5150")
    assert record.access_code.is_external_modification_allowed
    assert world.store.unmanaged.get("u1") is None
    kinds = [e.event.event_type for e in world.store.events.query(access_code_ids=["u1"])]
    assert kinds == [EventType.ACCESS_CODE_UNMANAGED_CONVERTED_TO_MANAGED]
    with pytest.raises(DuplicateAccessCode):  # its PIN is a managed code's now
        world.service.create_access_code(device_id=world.devices["kwikset"], code="5150")


def test_a_masked_unmanaged_code_cannot_be_managed(world: World) -> None:
    found(world, "u1", None)
    with pytest.raises(InvalidInput, match="does not reveal"):
        world.service.update_unmanaged_access_code(access_code_id="u1", is_managed=True)
    world.service.update_unmanaged_access_code(access_code_id="u1", is_managed=False)
    assert world.store.unmanaged.get("u1") is not None


def test_simulate_create_unmanaged_access_code(world: World) -> None:
    device_id = world.devices["kwikset"]
    code = world.service.simulate_create_unmanaged_access_code(
        device_id=device_id, name="Front desk", code="8642"
    )
    assert code.status is AccessCodeStatus.SET
    assert world.service.get_unmanaged_access_code(access_code_id=code.access_code_id) == code
    with pytest.raises(DuplicateAccessCode):
        world.service.simulate_create_unmanaged_access_code(
            device_id=device_id, name="again", code="8642"
        )
    with pytest.raises(InvalidInput):
        world.service.simulate_create_unmanaged_access_code(
            device_id=device_id, name="bad", code="12"
        )


# --------------------------------------------------------------------------- devices


def test_devices_list_and_get(world: World) -> None:
    devices = world.service.list_devices()
    assert [d.display_name for d in devices] == ["kwikset", "nuki", "schlage", "split"]
    nuki = world.service.get_device(device_id=world.devices["nuki"])
    assert nuki.properties.supported_code_lengths == (6,)
    assert world.service.get_device(name="nuki").device_id == nuki.device_id
    assert [d.device_id for d in world.service.list_devices(device_ids=[nuki.device_id])] == [
        nuki.device_id
    ]
    assert [d.device_type for d in world.service.list_devices(device_type="nuki_lock")] == [
        "nuki_lock"
    ]
    assert len(world.service.list_devices(manufacturer="kwikset")) == 1
    assert len(world.service.list_devices(limit=2)) == 2
    with pytest.raises(DeviceNotFound):
        world.service.get_device(device_id="nope")
    with pytest.raises(InvalidInput):
        world.service.get_device()


def test_add_and_remove_devices(world: World) -> None:
    record = world.service.add_device(lock_url="ble://AA:BB:CC:DD:EE:FF")
    assert record.transport == "ble"
    assert record.name == "ble://AA:BB:CC:DD:EE:FF"
    named = world.service.add_device(lock_url="sim://nuki?id=back", name="Back door")
    assert named.name == "Back door"
    assert world.service.add_device(lock_url="sim://nuki?id=side").name == "side"
    with pytest.raises(Conflict):
        world.service.add_device(lock_url="sim://nuki?id=back")
    with pytest.raises(InvalidInput, match="not a lock URL"):
        world.service.add_device(lock_url="http://example.com")
    secret = world.service.add_device(lock_url="zwave+mqtt://u:pw@broker/3")
    assert secret.redacted_url == "zwave+mqtt://u:***@broker/3"
    assert "pw" not in secret.name
    world.service.create_access_code(device_id=named.device_id)
    world.service.remove_device(device_id=named.device_id)
    assert world.store.access_codes.count(named.device_id) == 0
    with pytest.raises(DeviceNotFound):
        world.service.remove_device(device_id=named.device_id)


def test_report_device_constraints(world: World) -> None:
    device_id = world.devices["kwikset"]
    world.service.report_device_constraints(device_id=device_id, min_code_length=5)
    record = world.store.devices.require(device_id)
    assert record.settings["reported_code_lengths"] == list(range(5, 21))
    world.service.report_device_constraints(
        device_id=device_id, min_code_length=4, max_code_length=6
    )
    device = world.service.get_device(device_id=device_id)
    assert device.properties.supported_code_lengths == (4, 5, 6, 7, 8)  # the driver's word
    for bad in (
        {"supported_code_lengths": [4], "min_code_length": 4},
        {"supported_code_lengths": []},
        {"supported_code_lengths": [3]},
        {"min_code_length": 8, "max_code_length": 6},
        {},
    ):
        with pytest.raises(InvalidInput):
            world.service.report_device_constraints(device_id=device_id, **bad)  # type: ignore[arg-type]
    with pytest.raises(DeviceNotFound):
        world.service.report_device_constraints(device_id="nope", min_code_length=4)


def test_pull_backup_access_code_needs_the_pool(world: World) -> None:
    code, _ = world.service.create_access_code(device_id=world.devices["kwikset"])
    with pytest.raises(InvalidInput, match="use_backup_access_code_pool"):
        world.service.pull_backup_access_code(access_code_id=code.access_code_id)
    with pytest.raises(AccessCodeNotFound):
        world.service.pull_backup_access_code(access_code_id="nope")


# --------------------------------------------------------------------------- events, attempts


def test_events_list_newest_first_with_filters(world: World) -> None:
    first, _ = world.service.create_access_code(device_id=world.devices["kwikset"])
    world.clock.advance(60)
    second, _ = world.service.create_access_code(device_id=world.devices["nuki"])
    events = world.service.list_events()
    assert [e.access_code_id for e in events] == [second.access_code_id, first.access_code_id]
    assert [e.access_code_id for e in world.service.list_events(device_id=first.device_id)] == [
        first.access_code_id
    ]
    since = world.service.list_events(since=(T0 + timedelta(seconds=30)).isoformat())
    assert [e.access_code_id for e in since] == [second.access_code_id]
    between = world.service.list_events(
        between=[T0.isoformat(), (T0 + timedelta(seconds=30)).isoformat()]
    )
    assert [e.access_code_id for e in between] == [first.access_code_id]
    assert len(world.service.list_events(event_type="access_code.created", limit=1)) == 1
    assert len(world.service.list_events(unstable_offset=1)) == 1
    got = world.service.get_event(event_id=events[0].event_id)
    assert got == events[0]
    with pytest.raises(NotFound):
        world.service.get_event(event_id="nope")
    with pytest.raises(InvalidInput):
        world.service.list_events(between=["2026-01-01T00:00:00Z"])


def test_action_attempts_get(world: World) -> None:
    _, attempt = world.service.create_access_code(device_id=world.devices["kwikset"])
    assert world.service.get_action_attempt(action_attempt_id=attempt.action_attempt_id) == attempt
    with pytest.raises(ActionAttemptNotFound):
        world.service.get_action_attempt(action_attempt_id="nope")

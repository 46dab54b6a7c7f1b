"""Service: get, list, update and delete of managed access codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from keyslot.model import (
    AccessCodeNotFound,
    AccessCodeStatus,
    AccessCodeWarningCode,
    ActionAttemptStatus,
    ActionType,
    DeviceNotFound,
    DuplicateAccessCode,
    EventType,
    InvalidInput,
    MutationCode,
)
from keyslot.store import Desired
from tests.unit.service_fixtures import T0, World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


def iso(delta: timedelta) -> str:
    return (T0 + delta).isoformat()


def create(world: World, profile: str = "kwikset", **params: object) -> str:
    code, _ = world.service.create_access_code(device_id=world.devices[profile], **params)  # type: ignore[arg-type]
    return code.access_code_id


def mark_sent(world: World, access_code_id: str, slot: int = 1) -> None:
    """What the reconciler commits before it writes to the lock."""
    world.store.access_codes.update(
        access_code_id,
        lambda r: replace(
            r,
            slot=slot,
            access_code=replace(r.access_code, status=AccessCodeStatus.SET, pending_mutations=()),
        ),
    )


# --------------------------------------------------------------------------- get and list


def test_get_by_id_or_by_device_and_code(world: World) -> None:
    cid = create(world, code="2580")
    device_id = world.devices["kwikset"]
    assert world.service.get_access_code(access_code_id=cid).access_code_id == cid
    assert world.service.get_access_code(device_id=device_id, code="2580").access_code_id == cid
    with pytest.raises(AccessCodeNotFound) as info:
        world.service.get_access_code(access_code_id="nope")
    assert (info.value.type, info.value.http_status) == ("access_code_not_found", 404)
    with pytest.raises(AccessCodeNotFound):
        world.service.get_access_code(access_code_id=cid, device_id=world.devices["nuki"])
    with pytest.raises(AccessCodeNotFound):
        world.service.get_access_code(device_id=device_id, code="9999")
    with pytest.raises(InvalidInput):
        world.service.get_access_code(device_id=device_id)


def test_list_pages_with_cursor(world: World) -> None:
    ids = []
    for n in range(5):
        world.clock.advance(1)
        ids.append(create(world, code=f"{2580 + n}"))
    seen = []
    cursor = None
    while True:
        codes, pagination = world.service.list_access_codes(
            device_id=world.devices["kwikset"], limit=2, page_cursor=cursor
        )
        seen += [c.access_code_id for c in codes]
        assert pagination["has_next_page"] == (pagination["next_page_cursor"] is not None)
        cursor = pagination["next_page_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_list_filters(world: World) -> None:
    a = create(world, code="2580", user_identifier_key="guest-1")
    b = create(world, "split", code="2580")
    codes, _ = world.service.list_access_codes(access_code_ids=[b])
    assert [c.access_code_id for c in codes] == [b]
    codes, _ = world.service.list_access_codes(user_identifier_key="guest-1")
    assert [c.access_code_id for c in codes] == [a]
    codes, _ = world.service.list_access_codes()
    assert {c.access_code_id for c in codes} == {a, b}
    assert world.service.list_access_codes(access_grant_id="x")[0] == []
    with pytest.raises(InvalidInput):
        world.service.list_access_codes(limit=0)
    with pytest.raises(InvalidInput):
        world.service.list_access_codes(page_cursor="garbage")


def test_list_search_matches_name_code_or_id(world: World) -> None:
    a = create(world, code="2580", name="Alice Cooper")
    b = create(world, code="7391", name="Bob")
    device_id = world.devices["kwikset"]
    found = world.service.list_access_codes(device_id=device_id, search="alice")[0]
    assert [c.access_code_id for c in found] == [a]
    found = world.service.list_access_codes(device_id=device_id, search="739")[0]
    # by its PIN; another code is found only where its id holds those digits
    assert b in [c.access_code_id for c in found]
    assert all("739" in c.access_code_id for c in found if c.access_code_id != b)
    # the random end of an id (its start is its creation time, shared by codes made together)
    first, page = world.service.list_access_codes(device_id=device_id, search=b[-12:], limit=1)
    assert [c.access_code_id for c in first] == [b]
    assert page["has_next_page"] is False


def test_list_of_unknown_device_is_404(world: World) -> None:
    with pytest.raises(DeviceNotFound):
        world.service.list_access_codes(device_id="nope")


def test_generate_code_does_not_store_anything(world: World) -> None:
    pin = world.service.generate_code(device_id=world.devices["nuki"])
    assert len(pin) == 6
    assert "0" not in pin
    assert world.store.access_codes.count() == 0


# --------------------------------------------------------------------------- update


def test_update_name_code_and_time_frame(world: World) -> None:
    cid = create(world, code="2580", name="Guest")
    mark_sent(world, cid)
    world.woken.clear()
    attempt = world.service.update_access_code(
        access_code_id=cid,
        name="Guest two",
        code="3691",
        starts_at=iso(timedelta(hours=1)),
        ends_at=iso(timedelta(hours=5)),
    )
    assert attempt.action_type is ActionType.UPDATE_ACCESS_CODE
    assert attempt.status is ActionAttemptStatus.PENDING
    code = world.service.get_access_code(access_code_id=cid)
    assert (code.name, code.code) == ("Guest two", "3691")
    assert code.starts_at == T0 + timedelta(hours=1)
    kinds = {m.mutation_code for m in code.pending_mutations}
    assert kinds == {
        MutationCode.UPDATING_NAME,
        MutationCode.UPDATING_CODE,
        MutationCode.UPDATING_TIME_FRAME,
    }
    events = [e.event.event_type for e in world.store.events.query(access_code_ids=[cid])]
    assert events[1:] == [
        EventType.ACCESS_CODE_NAME_CHANGED,
        EventType.ACCESS_CODE_CODE_CHANGED,
        EventType.ACCESS_CODE_TIME_FRAME_CHANGED,
        EventType.ACCESS_CODE_CHANGED,
    ]
    assert world.woken == [world.devices["kwikset"]]
    assert world.store.access_codes.with_code(world.devices["kwikset"], "2580") == []


def test_update_without_changes_succeeds_at_once(world: World) -> None:
    cid = create(world, code="2580", name="Guest")
    world.woken.clear()
    attempt = world.service.update_access_code(access_code_id=cid, name="Guest")
    assert attempt.status is ActionAttemptStatus.SUCCESS
    assert world.woken == []


def test_update_checks_like_create(world: World) -> None:
    cid = create(world, code="2580")
    create(world, code="3691")
    with pytest.raises(DuplicateAccessCode):
        world.service.update_access_code(access_code_id=cid, code="3691")
    with pytest.raises(InvalidInput, match="digits"):
        world.service.update_access_code(access_code_id=cid, code="12")
    with pytest.raises(InvalidInput, match="future"):
        world.service.update_access_code(
            access_code_id=cid, starts_at=iso(-timedelta(days=2)), ends_at=iso(-timedelta(days=1))
        )
    with pytest.raises(InvalidInput, match="both"):
        world.service.update_access_code(access_code_id=cid, starts_at=iso(timedelta(hours=1)))
    with pytest.raises(InvalidInput):
        world.service.update_access_code(access_code_id=cid, name="X")
    with pytest.raises(InvalidInput, match="another device"):
        world.service.update_access_code(access_code_id=cid, device_id=world.devices["nuki"])
    with pytest.raises(InvalidInput, match="unmanaged"):
        world.service.update_access_code(access_code_id=cid, is_managed=False)
    with pytest.raises(AccessCodeNotFound):
        world.service.update_access_code(access_code_id="nope", name="x")
    # its own PIN is no duplicate of itself
    world.service.update_access_code(access_code_id=cid, code="2580")


def test_update_to_ongoing_and_back(world: World) -> None:
    cid = create(world, starts_at=iso(timedelta(days=1)), ends_at=iso(timedelta(days=2)))
    world.service.update_access_code(access_code_id=cid, type="ongoing")
    code = world.service.get_access_code(access_code_id=cid)
    assert code.starts_at is None
    # never sent: the creation is re-planned for the new frame, from deferred to now
    assert code.status is AccessCodeStatus.SETTING
    assert [m.mutation_code for m in code.pending_mutations] == [MutationCode.CREATING]
    with pytest.raises(InvalidInput, match="both"):
        world.service.update_access_code(access_code_id=cid, type="time_bound")
    with pytest.raises(InvalidInput, match="ongoing"):
        world.service.update_access_code(
            access_code_id=cid, type="ongoing", ends_at=iso(timedelta(days=3))
        )
    with pytest.raises(InvalidInput, match="ongoing or time_bound"):
        world.service.update_access_code(access_code_id=cid, type="weekly")


def test_update_of_a_shared_pin_alone_is_refused(world: World) -> None:
    cid = create(world, common_code_key="family")
    with pytest.raises(InvalidInput, match="common_code_key"):
        world.service.update_access_code(access_code_id=cid, code="3691")


def test_update_options_and_external_flag(world: World) -> None:
    cid = create(world)
    world.service.update_access_code(
        access_code_id=cid,
        allow_external_modification=True,
        prefer_native_scheduling=False,
        max_time_rounding="1h",
    )
    record = world.store.access_codes.require(cid)
    assert record.access_code.is_external_modification_allowed
    assert record.options.prefer_native_scheduling is False
    assert record.options.max_time_rounding == "1hour"
    with pytest.raises(InvalidInput):
        world.service.update_access_code(access_code_id=cid, is_offline_access_code=True)


def test_update_multiple_changes_every_code_of_the_key(world: World) -> None:
    a = create(world, common_code_key="family", name="Family")
    b = create(world, "split", common_code_key="family", name="Family")
    create(world, name="Other")
    world.service.update_multiple_access_codes(
        common_code_key="family",
        name="Smiths",
        ends_at=iso(timedelta(days=3)),
        starts_at=iso(timedelta(days=1)),
    )
    for cid in (a, b):
        code = world.service.get_access_code(access_code_id=cid)
        assert code.name == "Smiths"
        assert code.ends_at == T0 + timedelta(days=3)
    with pytest.raises(InvalidInput):
        world.service.update_multiple_access_codes(common_code_key="")


# --------------------------------------------------------------------------- delete


def test_delete_of_a_code_never_sent_is_immediate(world: World) -> None:
    cid = create(world, code="2580")
    world.woken.clear()
    attempt = world.service.delete_access_code(access_code_id=cid)
    assert attempt.status is ActionAttemptStatus.SUCCESS
    with pytest.raises(AccessCodeNotFound):
        world.service.get_access_code(access_code_id=cid)
    assert world.store.action_attempts.pending_for_code(cid) == []
    kinds = [e.event.event_type for e in world.store.events.query(access_code_ids=[cid])]
    assert kinds[-1] is EventType.ACCESS_CODE_DELETED
    assert world.woken == []


def test_delete_of_a_code_on_the_lock_goes_through_removing(world: World) -> None:
    cid = create(world, code="2580")
    mark_sent(world, cid, slot=3)
    world.woken.clear()
    attempt = world.service.delete_access_code(access_code_id=cid)
    assert attempt.status is ActionAttemptStatus.PENDING
    record = world.store.access_codes.require(cid)
    assert record.desired is Desired.ABSENT
    assert record.slot == 3
    code = record.access_code
    assert code.status is AccessCodeStatus.REMOVING
    assert [m.mutation_code for m in code.pending_mutations] == [MutationCode.DELETING]
    assert [w.warning_code for w in code.warnings] == [AccessCodeWarningCode.BEING_DELETED]
    assert world.service.get_access_code(access_code_id=cid).status is AccessCodeStatus.REMOVING
    assert world.woken == [world.devices["kwikset"]]
    # a retried DELETE answers the same attempt and changes nothing
    again = world.service.delete_access_code(access_code_id=cid)
    assert again == attempt
    assert world.store.access_codes.require(cid).revision == record.revision
    with pytest.raises(AccessCodeNotFound):
        world.service.update_access_code(access_code_id=cid, name="Late")


def test_delete_unknown_or_on_the_wrong_device_is_404(world: World) -> None:
    cid = create(world)
    with pytest.raises(AccessCodeNotFound):
        world.service.delete_access_code(access_code_id="nope")
    with pytest.raises(AccessCodeNotFound):
        world.service.delete_access_code(access_code_id=cid, device_id=world.devices["nuki"])


def test_create_attempt_of_a_code_deleted_early_fails(world: World) -> None:
    code, create_attempt = world.service.create_access_code(device_id=world.devices["kwikset"])
    world.service.delete_access_code(access_code_id=code.access_code_id)
    settled = world.store.action_attempts.require(create_attempt.action_attempt_id)
    assert settled.status is ActionAttemptStatus.ERROR
    assert settled.error is not None
    assert settled.error.type == "access_code_deleted"

"""Service: creating access codes, Seam's rules one by one."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from keyslot.model import (
    AccessCodeStatus,
    ActionAttemptStatus,
    ActionType,
    Conflict,
    DeviceNotFound,
    DuplicateAccessCode,
    EventType,
    InvalidInput,
    MutationCode,
    UnmanagedAccessCode,
)
from keyslot.store import Store, UnmanagedRecord
from tests.unit.service_fixtures import T0, World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


def iso(delta: timedelta) -> str:
    return (T0 + delta).isoformat()


# --------------------------------------------------------------------------- the happy path


def test_create_ongoing_code_is_committed_with_event_attempt_and_wake(world: World) -> None:
    device_id = world.devices["kwikset"]
    code, attempt = world.service.create_access_code(device_id=device_id, name="Guest", code="2580")
    assert code.status is AccessCodeStatus.SETTING
    assert [m.mutation_code for m in code.pending_mutations] == [MutationCode.CREATING]
    assert code.code == "2580"
    assert code.workspace_id == world.store.workspace_id
    assert attempt.status is ActionAttemptStatus.PENDING
    assert attempt.action_type is ActionType.CREATE_ACCESS_CODE
    stored = world.store.access_codes.require(code.access_code_id)
    assert stored.access_code == code
    assert world.store.action_attempts.pending_for_code(code.access_code_id) == [attempt]
    events = world.store.events.query(access_code_ids=[code.access_code_id])
    assert [e.event.event_type for e in events] == [EventType.ACCESS_CODE_CREATED]
    assert world.woken == [device_id]


def test_create_is_durable_before_the_call_returns(tmp_path: Path) -> None:
    world = make_world(str(tmp_path / "k.db"))
    code, _ = world.service.create_access_code(device_id=world.devices["kwikset"], code="2580")
    with sqlite3.connect(tmp_path / "k.db") as conn:  # another connection, WAL read
        rows = conn.execute(
            "SELECT status FROM access_codes WHERE access_code_id = ?", (code.access_code_id,)
        ).fetchall()
    assert rows == [("setting",)]
    other = Store(tmp_path / "k.db", key=b"\x11" * 32)
    assert other.access_codes.require(code.access_code_id).access_code.code == "2580"
    other.close()


def test_wake_comes_after_the_commit(world: World) -> None:
    seen: list[bool] = []

    def wake(device_id: str) -> None:
        seen.append(world.store.access_codes.count(device_id) == 1)

    world.service.set_wake(wake)
    world.service.create_access_code(device_id=world.devices["kwikset"], code="2580")
    assert seen == [True]


def test_a_generated_code_follows_the_device_rules(world: World) -> None:
    for _ in range(20):
        code, _ = world.service.create_access_code(device_id=world.devices["nuki"])
        assert code.code is not None
        assert len(code.code) == 6
        assert "0" not in code.code
        assert not code.code.startswith("12")
    pins = [c.code for c in world.service.list_access_codes(device_id=world.devices["nuki"])[0]]
    assert len(set(pins)) == 20


def test_preferred_code_length(world: World) -> None:
    code, _ = world.service.create_access_code(
        device_id=world.devices["kwikset"], preferred_code_length=8
    )
    assert code.code is not None
    assert len(code.code) == 8


# --------------------------------------------------------------------------- device and code


def test_unknown_device_is_404(world: World) -> None:
    with pytest.raises(DeviceNotFound) as info:
        world.service.create_access_code(device_id="00000000-0000-0000-0000-000000000000")
    assert info.value.type == "device_not_found"
    assert info.value.http_status == 404


@pytest.mark.parametrize(
    ("profile", "pin", "rule"),
    [
        ("kwikset", "123", "digits"),
        ("kwikset", "123456789", "digits"),
        ("nuki", "345607", "0"),
        ("nuki", "123456", "12"),
        ("nuki", "34567", "digits"),
        ("split", "4444", "repeated"),
    ],
)
def test_code_breaking_device_rules_is_invalid_input(
    world: World, profile: str, pin: str, rule: str
) -> None:
    with pytest.raises(InvalidInput, match=rule) as info:
        world.service.create_access_code(device_id=world.devices[profile], code=pin)
    assert info.value.type == "invalid_input"
    assert info.value.validation_errors is not None
    assert "code" in info.value.validation_errors
    assert pin not in info.value.message


def test_code_must_be_digits(world: World) -> None:
    with pytest.raises(InvalidInput, match="digits"):
        world.service.create_access_code(device_id=world.devices["kwikset"], code="12a4")


def test_duplicate_code_on_the_device_is_409(world: World) -> None:
    device_id = world.devices["kwikset"]
    world.service.create_access_code(device_id=device_id, code="2580")
    with pytest.raises(DuplicateAccessCode) as info:
        world.service.create_access_code(device_id=device_id, code="2580")
    assert (info.value.type, info.value.http_status) == ("duplicate_access_code", 409)
    assert world.store.access_codes.count(device_id) == 1


def test_duplicate_even_when_time_frames_do_not_overlap(world: World) -> None:
    device_id = world.devices["kwikset"]
    world.service.create_access_code(
        device_id=device_id,
        code="2580",
        starts_at=iso(timedelta(days=1)),
        ends_at=iso(timedelta(days=2)),
    )
    with pytest.raises(DuplicateAccessCode):
        world.service.create_access_code(
            device_id=device_id,
            code="2580",
            starts_at=iso(timedelta(days=5)),
            ends_at=iso(timedelta(days=6)),
        )


def test_same_code_on_another_device_is_fine(world: World) -> None:
    world.service.create_access_code(device_id=world.devices["kwikset"], code="2580")
    world.service.create_access_code(device_id=world.devices["split"], code="2580")


def test_a_code_held_by_an_unmanaged_code_is_a_duplicate(world: World) -> None:
    device_id = world.devices["kwikset"]
    found = UnmanagedAccessCode(
        access_code_id="u1", device_id=device_id, workspace_id="ws", created_at=T0, code="7777"
    )
    world.store.unmanaged.put(UnmanagedRecord(found, slot=5))
    with pytest.raises(DuplicateAccessCode):
        world.service.create_access_code(device_id=device_id, code="7777")


def test_a_deleted_codes_pin_is_free_again(world: World) -> None:
    device_id = world.devices["kwikset"]
    code, _ = world.service.create_access_code(device_id=device_id, code="2580")
    world.service.delete_access_code(access_code_id=code.access_code_id)
    world.service.create_access_code(device_id=device_id, code="2580")


def test_unique_first_four_digits(world: World) -> None:
    device_id = world.devices["schlage"]
    world.service.create_access_code(device_id=device_id, code="48213579")
    with pytest.raises(InvalidInput, match="four digits"):
        world.service.create_access_code(device_id=device_id, code="48210000")


def test_lock_never_reached_accepts_api_lengths(world: World) -> None:
    device = world.service.add_device(lock_url="sim://kwikset?id=new")
    code, _ = world.service.create_access_code(device_id=device.device_id, code="123456789012")
    assert code.code == "123456789012"
    generated, _ = world.service.create_access_code(device_id=device.device_id)
    assert generated.code is not None
    assert 4 <= len(generated.code) <= 8


def test_reported_code_lengths_override_the_driver(world: World) -> None:
    device_id = world.devices["kwikset"]
    world.service.report_device_constraints(device_id=device_id, supported_code_lengths=[6])
    with pytest.raises(InvalidInput, match="takes 6"):
        world.service.create_access_code(device_id=device_id, code="2580")
    code, _ = world.service.create_access_code(device_id=device_id)
    assert code.code is not None
    assert len(code.code) == 6


def test_code_space_exhausted_is_a_conflict(world: World) -> None:
    device_id = world.devices["kwikset"]
    world.service.report_device_constraints(device_id=device_id, supported_code_lengths=[4])
    world.store.devices.update(
        device_id,
        lambda d: replace(d, lock_info=replace(d.lock_info, alphabet="12")),  # type: ignore[arg-type]
    )
    for pin in ("1111", "1112", "1121", "1122", "1211", "1212", "1221", "1222"):
        world.service.create_access_code(device_id=device_id, code=pin)
    for pin in ("2111", "2112", "2121", "2122", "2211", "2212", "2221", "2222"):
        world.service.create_access_code(device_id=device_id, code=pin)
    with pytest.raises(Conflict):
        world.service.create_access_code(device_id=device_id)


# --------------------------------------------------------------------------- time frames


def test_time_bound_needs_both_ends(world: World) -> None:
    device_id = world.devices["kwikset"]
    with pytest.raises(InvalidInput, match="both") as info:
        world.service.create_access_code(device_id=device_id, starts_at=iso(timedelta(hours=1)))
    assert info.value.validation_errors == {
        "ends_at": {"_errors": ["a time-bound code needs both starts_at and ends_at"]}
    }
    with pytest.raises(InvalidInput, match="both"):
        world.service.create_access_code(device_id=device_id, ends_at=iso(timedelta(hours=1)))


def test_ends_after_it_starts_and_in_the_future(world: World) -> None:
    device_id = world.devices["kwikset"]
    with pytest.raises(InvalidInput, match="after starts_at"):
        world.service.create_access_code(
            device_id=device_id, starts_at=iso(timedelta(hours=2)), ends_at=iso(timedelta(hours=1))
        )
    with pytest.raises(InvalidInput, match="future"):
        world.service.create_access_code(
            device_id=device_id,
            starts_at=iso(-timedelta(hours=2)),
            ends_at=iso(-timedelta(hours=1)),
        )
    with pytest.raises(InvalidInput, match="time zone"):
        world.service.create_access_code(
            device_id=device_id, starts_at="2026-03-03T10:00:00", ends_at="2026-03-04T10:00:00"
        )


def test_started_code_that_has_not_ended_is_accepted(world: World) -> None:
    code, _ = world.service.create_access_code(
        device_id=world.devices["kwikset"],
        starts_at=iso(-timedelta(hours=1)),
        ends_at=iso(timedelta(hours=1)),
    )
    assert code.status is AccessCodeStatus.SETTING


def test_just_in_time_code_is_deferred_until_its_lead(world: World) -> None:
    code, _ = world.service.create_access_code(
        device_id=world.devices["kwikset"],
        starts_at=iso(timedelta(days=1)),
        ends_at=iso(timedelta(days=2)),
    )
    assert code.status is AccessCodeStatus.UNSET
    (mutation,) = code.pending_mutations
    assert mutation.mutation_code is MutationCode.DEFERRING_CREATION
    assert mutation.scheduled_at == T0 + timedelta(days=1) - timedelta(minutes=60)  # type: ignore[union-attr]
    soon, _ = world.service.create_access_code(
        device_id=world.devices["kwikset"],
        starts_at=iso(timedelta(minutes=30)),
        ends_at=iso(timedelta(days=2)),
    )
    assert soon.status is AccessCodeStatus.SETTING
    assert soon.pending_mutations[0].mutation_code is MutationCode.CREATING


def test_native_schedules_preload_72_hours_ahead(world: World) -> None:
    device_id = world.devices["split"]
    near, _ = world.service.create_access_code(
        device_id=device_id, starts_at=iso(timedelta(hours=48)), ends_at=iso(timedelta(hours=50))
    )
    assert near.status is AccessCodeStatus.UNSET
    assert near.pending_mutations[0].mutation_code is MutationCode.CREATING
    far, _ = world.service.create_access_code(
        device_id=device_id, starts_at=iso(timedelta(hours=80)), ends_at=iso(timedelta(hours=90))
    )
    assert far.pending_mutations[0].mutation_code is MutationCode.DEFERRING_CREATION
    assert far.pending_mutations[0].scheduled_at == T0 + timedelta(hours=8)  # type: ignore[union-attr]
    jit, _ = world.service.create_access_code(
        device_id=device_id,
        starts_at=iso(timedelta(hours=48)),
        ends_at=iso(timedelta(hours=50)),
        prefer_native_scheduling=False,
    )
    assert jit.pending_mutations[0].mutation_code is MutationCode.DEFERRING_CREATION
    assert (
        world.store.access_codes.require(jit.access_code_id).options.prefer_native_scheduling
        is False
    )


def test_max_time_rounding_is_checked_and_normalised(world: World) -> None:
    device_id = world.devices["kwikset"]
    code, _ = world.service.create_access_code(device_id=device_id, max_time_rounding="1d")
    assert world.store.access_codes.require(code.access_code_id).options.max_time_rounding == "1day"
    with pytest.raises(InvalidInput, match="max_time_rounding"):
        world.service.create_access_code(device_id=device_id, max_time_rounding="2h")


# --------------------------------------------------------------------------- names


def test_name_the_lock_would_refuse(world: World) -> None:
    with pytest.raises(InvalidInput) as info:
        world.service.create_access_code(device_id=world.devices["kwikset"], name="X")
    assert info.value.validation_errors is not None
    assert "name" in info.value.validation_errors


def test_long_name_is_kept_whole(world: World) -> None:
    name = "Maximilian Featherstonehaugh"
    code, _ = world.service.create_access_code(device_id=world.devices["kwikset"], name=name)
    assert code.name == name


def test_names_must_be_unique_where_the_lock_says_so(world: World) -> None:
    device_id = world.devices["split"]
    world.service.create_access_code(device_id=device_id, name="Ann Smith")
    with pytest.raises(InvalidInput, match="same name"):
        world.service.create_access_code(device_id=device_id, name="Ann Smith")
    world.service.create_access_code(device_id=world.devices["kwikset"], name="Ann Smith")
    world.service.create_access_code(device_id=world.devices["kwikset"], name="Ann Smith")


# --------------------------------------------------------------------------- flags


def test_external_modification_flag_and_alias(world: World) -> None:
    device_id = world.devices["kwikset"]
    a, _ = world.service.create_access_code(device_id=device_id, allow_external_modification=True)
    b, _ = world.service.create_access_code(
        device_id=device_id, is_external_modification_allowed=True
    )
    c, _ = world.service.create_access_code(device_id=device_id)
    assert (a.is_external_modification_allowed, b.is_external_modification_allowed) == (True, True)
    assert c.is_external_modification_allowed is False
    with pytest.raises(InvalidInput, match="contradicts"):
        world.service.create_access_code(
            device_id=device_id,
            allow_external_modification=True,
            is_external_modification_allowed=False,
        )


def test_offline_codes_are_refused_where_unsupported(world: World) -> None:
    with pytest.raises(InvalidInput, match="offline codes are not supported by this device"):
        world.service.create_access_code(
            device_id=world.devices["kwikset"], is_offline_access_code=True
        )
    with pytest.raises(InvalidInput, match="offline"):
        world.service.create_access_code(
            device_id=world.devices["kwikset"], use_offline_access_code=True
        )


def test_one_time_codes_on_any_lock(world: World) -> None:
    # the split lock has one-time codes; on the Kwikset keyslot removes the code after use
    for profile in ("split", "kwikset"):
        code, _ = world.service.create_access_code(
            device_id=world.devices[profile], is_one_time_use=True
        )
        assert code.is_one_time_use


def test_backup_pool_is_enabled_by_a_code_that_asks_for_it(world: World) -> None:
    device_id = world.devices["kwikset"]
    assert not world.service.get_device(device_id=device_id).properties.to_dict()[
        "backup_access_code_pool_enabled"
    ]
    world.service.create_access_code(device_id=device_id, use_backup_access_code_pool=True)
    assert world.service.get_device(device_id=device_id).properties.to_dict()[
        "backup_access_code_pool_enabled"
    ]


def test_attempt_for_offline_device(world: World) -> None:
    device_id = world.devices["kwikset"]
    world.store.devices.update(device_id, lambda d: replace(d, online=False))
    world.service.create_access_code(device_id=device_id)  # default: try anyway
    with pytest.raises(InvalidInput) as info:
        world.service.create_access_code(device_id=device_id, attempt_for_offline_device=False)
    assert info.value.type == "device_offline"


def test_wrong_types_are_invalid_input(world: World) -> None:
    device_id = world.devices["kwikset"]
    with pytest.raises(InvalidInput, match="true or false"):
        world.service.create_access_code(device_id=device_id, prefer_native_scheduling="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="whole number"):
        world.service.create_access_code(device_id=device_id, preferred_code_length=4.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="string"):
        world.service.create_access_code(device_id=device_id, name=7)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- common code key


def test_common_code_key_shares_one_pin(world: World) -> None:
    first, _ = world.service.create_access_code(
        device_id=world.devices["kwikset"], common_code_key="family"
    )
    second, _ = world.service.create_access_code(
        device_id=world.devices["split"], common_code_key="family"
    )
    assert first.code == second.code
    assert second.common_code_key == "family"
    with pytest.raises(InvalidInput, match="common_code_key"):
        world.service.create_access_code(
            device_id=world.devices["schlage"], common_code_key="family", code="99887766"
        )
    with pytest.raises(DuplicateAccessCode):  # the shared PIN is already on this device
        world.service.create_access_code(
            device_id=world.devices["kwikset"], common_code_key="family"
        )


def test_failed_create_writes_nothing(world: World) -> None:
    device_id = world.devices["kwikset"]
    before = world.store.events.last_seq()
    with pytest.raises(InvalidInput):
        world.service.create_access_code(device_id=device_id, code="12")
    assert world.store.access_codes.count() == 0
    assert world.store.events.last_seq() == before
    assert world.woken == []

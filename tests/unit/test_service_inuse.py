"""Checking a new code against a device's codes by fingerprint, not by reading them all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from keyslot.model import Conflict, DuplicateAccessCode, InvalidInput
from keyslot.service_base import DeviceRules
from keyslot.service_inuse import CodesInUse, InUseOnAny
from keyslot.service_rules import generate_for
from keyslot.store import Desired
from tests.unit.service_fixtures import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def full_reads(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each device whose codes were read in full (managed or unmanaged)."""
    seen: list[str] = []
    for repo in (world.store.access_codes, world.store.unmanaged):
        original = repo.for_device

        def spy(device_id: str, _original: Any = original) -> Any:
            seen.append(device_id)
            return _original(device_id)

        monkeypatch.setattr(repo, "for_device", spy)
    return seen


class Recorder(CodesInUse):
    """Counts membership tests and full reads of a plain set of codes."""

    def __init__(self, codes: set[str]) -> None:
        self.codes = codes
        self.asked: list[str] = []
        self.iterated = 0

    def __contains__(self, code: object) -> bool:
        assert isinstance(code, str)
        self.asked.append(code)
        return code in self.codes

    def __iter__(self) -> Iterator[str]:
        self.iterated += 1
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)


def test_creating_codes_does_not_read_every_code_of_the_device(
    world: World, full_reads: list[str]
) -> None:
    device = world.devices["kwikset"]
    pins = {world.service.create_access_code(device_id=device)[0].code for _ in range(20)}
    world.service.create_access_code(device_id=device, code="4821", name="Chosen")
    assert len(pins) == 20
    assert full_reads == []
    with pytest.raises(DuplicateAccessCode):
        world.service.create_access_code(device_id=device, code="4821")
    assert full_reads == []


def test_membership_counts_present_managed_and_unmanaged_codes_only(world: World) -> None:
    service = world.service
    device = world.devices["kwikset"]
    kept, _ = service.create_access_code(device_id=device, code="1357")
    gone, _ = service.create_access_code(device_id=device, code="2468")
    world.store.access_codes.update(
        gone.access_code_id, lambda r: replace(r, desired=Desired.ABSENT)
    )
    service.simulate_create_unmanaged_access_code(device_id=device, code="9753", name="Manager")
    in_use = CodesInUse(world.store, device)
    assert "1357" in in_use
    assert "9753" in in_use
    assert "2468" not in in_use  # being deleted: its PIN is free again
    assert "0000" not in in_use
    assert 1357 not in in_use
    assert "1357" not in CodesInUse(world.store, device, excluding=kept.access_code_id)
    assert "1357" not in CodesInUse(world.store, world.devices["nuki"])
    assert sorted(in_use) == ["1357", "9753"]
    assert len(in_use) == 2
    assert "1357" in in_use  # answered from the set read by iterating


def test_in_use_on_any_of_several_devices(world: World) -> None:
    kwikset, schlage = world.devices["kwikset"], world.devices["schlage"]
    world.service.create_access_code(device_id=kwikset, code="1357")
    world.service.create_access_code(device_id=schlage, code="24680")
    both = InUseOnAny([CodesInUse(world.store, kwikset), CodesInUse(world.store, schlage)])
    assert "1357" in both
    assert "24680" in both
    assert "9999" not in both
    assert sorted(both) == ["1357", "24680"]
    assert len(both) == 2


def test_generation_looks_candidates_up_one_by_one(world: World) -> None:
    rules = DeviceRules.of(world.store.devices.require(world.devices["kwikset"]))
    in_use = Recorder({"000000"})
    code = generate_for(rules, in_use, None)
    assert code not in in_use.codes
    assert in_use.asked[-1] == code
    assert in_use.iterated == 0


def test_generation_skips_taken_codes_and_finds_the_last_free_one(world: World) -> None:
    rules = replace(
        DeviceRules.of(world.store.devices.require(world.devices["kwikset"])),
        lengths=(4,),
        alphabet="12",
        known=True,
    )
    every = {f"{n:04b}".replace("0", "2") for n in range(16)}
    free = "1212"
    in_use = Recorder(every - {free})
    assert generate_for(rules, in_use, None) == free
    in_use.codes.add(free)
    with pytest.raises(Conflict):
        generate_for(rules, in_use, None)


def test_a_rule_about_the_other_codes_reads_them_all(world: World) -> None:
    rules = replace(
        DeviceRules.of(world.store.devices.require(world.devices["kwikset"])),
        constraints=("unique_first_four_digits",),
    )
    in_use = Recorder({"123456"})
    code = generate_for(rules, in_use, 6)
    assert code[:4] != "1234"
    assert in_use.iterated == 1


def test_unique_names_are_checked_against_the_name_column(
    world: World, full_reads: list[str]
) -> None:
    service = world.service
    device = world.devices["split"]
    rules = DeviceRules.of(world.store.devices.require(device)).name_rules
    assert rules is not None
    assert rules.unique
    first, _ = service.create_access_code(device_id=device, name="Christopher Smith")
    with pytest.raises(InvalidInput, match="same name"):  # shown the same once truncated
        service.create_access_code(device_id=device, name="Christophers Smith")
    service.update_access_code(access_code_id=first.access_code_id, name="Christopher Smith")
    world.store.access_codes.update(
        first.access_code_id, lambda r: replace(r, desired=Desired.ABSENT)
    )
    service.create_access_code(device_id=device, name="Christophers Smith")
    assert full_reads == []

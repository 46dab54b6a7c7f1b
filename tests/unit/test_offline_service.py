"""Offline access codes through the service: pairing, issuing with no device operation,
Seam's refusals, the per-start-slot limit kept across restarts, and the device's properties."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keyslot.drivers import open_lock
from keyslot.drivers.sim import forget_firmware, get_firmware
from keyslot.model import AccessCodeNotFound, InvalidInput
from keyslot.model.device import OFFLINE_TIME_FRAME_OPTIONS
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockUnavailable, SlotProgrammer
from keyslot.service import Service
from keyslot.service_offline import OFFLINE_KEY_PREFIX, load_offline_pairing
from keyslot.service_offline_pairing import DEFAULT_TIMEOUT, pair_offline_locks
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import DeviceRecord, Store
from tests.contract import validate

HOUR = timedelta(hours=1)
_ids = itertools.count(1)


@dataclass
class World:
    clock: ManualClock
    store: Store
    service: Service
    gate: str  # an algopin lock, paired
    front: str  # a kwikset lock: no offline PINs
    lock_id: str
    woken: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    @property
    def firmware(self) -> LockFirmware:
        return get_firmware(self.lock_id)

    def create(self, **params: Any) -> Any:
        params.setdefault("device_id", self.gate)
        params.setdefault("is_offline_access_code", True)
        return self.service.create_access_code(**params)[0]


def _opener(world_opened: list[str], clock: ManualClock, store: Store) -> Any:
    async def open_device(device: DeviceRecord) -> SlotProgrammer:
        world_opened.append(device.device_id)
        return await open_lock(device.lock_url, clock=clock, keys=store)

    return open_device


@pytest.fixture
async def world(clock: ManualClock) -> AsyncIterator[World]:
    store = Store.memory(key=b"\x22" * 32, clock=clock)
    service = Service(store)
    lock_id = f"gate-{next(_ids)}"
    gate = service.add_device(lock_url=f"sim://algopin?id={lock_id}", name="Gate").device_id
    front = service.add_device(lock_url=f"sim://kwikset?id=front-{lock_id}", name="Front")
    info = get_profile("kwikset").info("front")
    store.devices.update(front.device_id, lambda d: replace(d, lock_info=info, online=True))
    w = World(clock, store, service, gate, front.device_id, lock_id)
    service.set_wake(w.woken.append)
    paired = await pair_offline_locks(store, clock=clock, opener=_opener(w.opened, clock, store))
    assert paired == [gate]
    assert w.opened == [gate]  # a lock known to have no offline PINs is not even opened
    w.opened.clear()
    yield w
    forget_firmware(lock_id)
    store.close()


def _event_types(world: World, access_code_id: str) -> list[str]:
    events = world.service.list_events(access_code_id=access_code_id)
    return sorted(e.event_type.value for e in events)


async def test_pairing_is_kept_and_not_repeated(world: World) -> None:
    pairing = load_offline_pairing(world.store, world.gate)
    assert pairing is not None
    assert pairing.lock_id == world.firmware.info().serial_number
    record = world.store.devices.require(world.gate)
    assert record.lock_info is not None
    assert record.lock_info.offline_pins  # learnt at pairing, before the reconciler
    again = await pair_offline_locks(
        world.store, clock=world.clock, opener=_opener(world.opened, world.clock, world.store)
    )
    assert again == []
    assert world.opened == []


async def test_offline_code_is_set_at_once_and_opens_the_lock_in_its_window(world: World) -> None:
    now = world.clock.now()
    code = world.create(
        name="Guest", starts_at=now + 20 * 60 * _S, ends_at=now + 2 * HOUR + 600 * _S
    )
    assert code.is_offline_access_code
    assert not code.is_one_time_use
    assert code.status.value == "set"
    assert code.pending_mutations == ()
    assert code.code is not None
    assert len(code.code) == 10
    assert code.code.isdigit()
    assert (code.starts_at, code.ends_at) == (now, now + 3 * HOUR)  # rounded outward
    assert code.type.value == "time_bound"
    assert world.woken == []  # no device operation
    assert _event_types(world, code.access_code_id) == [
        "access_code.created",
        "access_code.set_on_device",
    ]
    record = world.store.access_codes.require(code.access_code_id)
    assert not record.ever_sent
    firmware = world.firmware
    assert firmware.enter(code.code).unlocked
    assert firmware.enter(code.code, at=now + 3 * HOUR).reason == "expired_code"


async def test_code_for_later_is_denied_now(world: World) -> None:
    now = world.clock.now()
    code = world.create(starts_at=now + 5 * HOUR, ends_at=now + 7 * HOUR)
    assert world.firmware.enter(code.code).reason == "expired_code"
    assert world.firmware.enter(code.code, at=now + 5 * HOUR).unlocked


async def test_daily_code_with_max_time_rounding(world: World) -> None:
    now = world.clock.now()  # 2026-03-02 09:00 UTC
    code = world.create(starts_at=now, ends_at=now + timedelta(days=3), max_time_rounding="1d")
    day = datetime(2026, 3, 2, tzinfo=UTC)
    assert (code.starts_at, code.ends_at) == (day, day + timedelta(days=4))
    assert world.store.access_codes.require(code.access_code_id).options.max_time_rounding == "1day"
    assert world.firmware.enter(code.code, at=day + timedelta(hours=10)).unlocked
    assert world.firmware.enter(code.code, at=day + timedelta(days=3, hours=23)).unlocked
    assert world.firmware.enter(code.code, at=day + timedelta(days=4)).reason == "expired_code"


async def test_one_time_offline_code(world: World) -> None:
    now = world.clock.now()
    code = world.create(starts_at=now, ends_at=now + 4 * HOUR, is_one_time_use=True)
    assert code.is_one_time_use
    assert world.firmware.enter(code.code).unlocked
    assert world.firmware.enter(code.code).reason == "expired_code"
    with pytest.raises(InvalidInput, match="max_time_rounding"):
        world.create(
            starts_at=now, ends_at=now + HOUR, is_one_time_use=True, max_time_rounding="1day"
        )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"code": "1234567890"}, "code"),
        ({"ends_at": None}, "ends_at"),
        ({"starts_at": None, "ends_at": None}, "starts_at"),
        ({"common_code_key": "family"}, "common_code_key"),
        ({"ends_at_hours": 700}, "ends_at"),  # longer than any hourly code
        ({"starts_at_hours": -25, "ends_at_hours": 5}, "starts_at"),  # first use impossible
    ],
)
async def test_seam_rules_refuse(world: World, params: dict[str, Any], field: str) -> None:
    now = world.clock.now()
    request: dict[str, Any] = {
        "starts_at": now + params.pop("starts_at_hours", 1) * HOUR,
        "ends_at": now + params.pop("ends_at_hours", 3) * HOUR,
    }
    request.update(params)
    with pytest.raises(InvalidInput) as err:
        world.create(**request)
    assert err.value.validation_errors is not None
    assert field in err.value.validation_errors
    assert world.store.access_codes.for_device(world.gate) == []


async def test_start_in_the_recent_past_is_fine(world: World) -> None:
    now = world.clock.now()
    code = world.create(starts_at=now - 5 * HOUR, ends_at=now + HOUR)
    assert code.starts_at == now - 5 * HOUR
    assert world.firmware.enter(code.code).unlocked


async def test_devices_that_cannot_take_offline_codes(world: World) -> None:
    now = world.clock.now()
    with pytest.raises(InvalidInput, match="not supported by this device"):
        world.create(device_id=world.front, starts_at=now, ends_at=now + HOUR)
    unpaired = world.service.add_device(lock_url="sim://algopin?id=never-paired", name="New")
    info = get_profile("algopin").info("never-paired")
    world.store.devices.update(unpaired.device_id, lambda d: replace(d, lock_info=info))
    with pytest.raises(InvalidInput, match="not been paired"):
        world.create(device_id=unpaired.device_id, starts_at=now, ends_at=now + HOUR)
    # an online one-time code needs no lock support (keyslot clears it after its use)
    online, _ = world.service.create_access_code(device_id=world.gate, is_one_time_use=True)
    assert online.is_one_time_use
    assert not online.is_offline_access_code


async def test_three_codes_per_start_slot_even_across_restarts(world: World) -> None:
    now = world.clock.now()
    start, end = now + 10 * HOUR + 15 * 60 * _S, now + 12 * HOUR
    pins = {world.create(starts_at=start, ends_at=end).code for _ in range(3)}
    assert len(pins) == 3
    with pytest.raises(InvalidInput, match="at most 3 offline codes") as err:
        world.create(starts_at=start + 30 * 60 * _S, ends_at=end)
    assert err.value.validation_errors == {"starts_at": {"_errors": [err.value.message[11:]]}}
    # another kind, or the next hour, has room
    world.create(starts_at=start, ends_at=end, is_one_time_use=True)
    world.create(starts_at=start + HOUR, ends_at=end + HOUR)
    restarted = Service(world.store)
    with pytest.raises(InvalidInput, match="at most 3"):
        restarted.create_access_code(
            device_id=world.gate, is_offline_access_code=True, starts_at=start, ends_at=end
        )


async def test_offline_codes_cannot_be_updated_or_deleted_while_they_can_open(
    world: World,
) -> None:
    now = world.clock.now()
    code = world.create(name="Guest", starts_at=now, ends_at=now + 2 * HOUR)
    cid = code.access_code_id
    for change in ({"name": "Host"}, {"ends_at": now + 5 * HOUR}, {"code": "1234"}):
        with pytest.raises(InvalidInput, match="cannot be updated"):
            world.service.update_access_code(access_code_id=cid, **change)
    with pytest.raises(InvalidInput, match="cannot be deleted before it ends"):
        world.service.delete_access_code(access_code_id=cid)
    unchanged = world.service.get_access_code(access_code_id=cid)
    assert (unchanged.name, unchanged.status.value) == ("Guest", "set")

    world.clock.advance(2 * 3600)
    attempt = world.service.delete_access_code(access_code_id=cid)
    assert attempt.status.value == "success"
    with pytest.raises(AccessCodeNotFound):
        world.service.get_access_code(access_code_id=cid)
    assert "access_code.deleted" in _event_types(world, cid)
    assert world.woken == []


async def test_device_properties_advertise_offline_codes(world: World) -> None:
    device = world.service.get_device(device_id=world.gate).to_dict()
    assert device["can_program_offline_access_codes"] is True
    assert device["properties"]["supports_offline_access_codes"] is True
    assert device["properties"]["offline_time_frame_options"] == [
        dict(o) for o in OFFLINE_TIME_FRAME_OPTIONS
    ]
    front = world.service.get_device(device_id=world.front).to_dict()
    assert front["can_program_offline_access_codes"] is False
    assert front["properties"]["offline_time_frame_options"] == []
    validate(device, "device")  # Seam's device schema, offline time frames included


async def test_removing_a_device_forgets_its_secret(world: World) -> None:
    world.service.remove_device(device_id=world.gate)
    assert load_offline_pairing(world.store, world.gate) is None
    assert not [u for u in world.store.pairing_keys.urls() if u.startswith(OFFLINE_KEY_PREFIX)]


async def test_secret_is_sealed_on_disk(tmp_path: Path, clock: ManualClock) -> None:
    store = Store(tmp_path / "keyslot.db", key=b"\x33" * 32, clock=clock)
    lock_id = f"disk-{next(_ids)}"
    device = Service(store).add_device(lock_url=f"sim://algopin?id={lock_id}", name="Disk")
    try:
        assert await pair_offline_locks(store, clock=clock) == [device.device_id]
        pairing = load_offline_pairing(store, device.device_id)
        assert pairing is not None
        store.close()
        raw = _all_bytes(tmp_path)
        assert pairing.secret not in raw
        assert pairing.secret.hex().encode() not in raw
    finally:
        forget_firmware(lock_id)


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


async def test_unreachable_locks_are_left_for_the_next_start(clock: ManualClock) -> None:
    store = Store.memory(key=b"\x44" * 32, clock=clock)
    service = Service(store)
    down = service.add_device(lock_url="sim://algopin?id=down", name="Down").device_id
    slow = service.add_device(lock_url="sim://algopin?id=slow", name="Slow").device_id

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        if device.device_id == down:
            raise LockUnavailable("the lock is offline")
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    task = asyncio.ensure_future(pair_offline_locks(store, clock=clock, opener=opener))
    for _ in range(100):
        if clock.sleepers >= 1 and task.done() is False:
            break
        await asyncio.sleep(0)
    clock.advance(DEFAULT_TIMEOUT)
    assert await asyncio.wait_for(task, 5) == []
    assert load_offline_pairing(store, down) is None
    assert load_offline_pairing(store, slow) is None
    store.close()


_S = timedelta(seconds=1)

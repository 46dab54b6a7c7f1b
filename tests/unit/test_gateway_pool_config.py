"""A lock's backup access code pool size in the gateway's config: what the loader accepts and
refuses, and the pool the reconciler keeps on a simulated lock once the gateway applies it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keyslot.backup_codes import MAX_POOL_SIZE, in_pool
from keyslot.gateway.config import ConfigError, LockConfig, parse_config
from keyslot.gateway.server import register_locks
from keyslot.model import AccessCode, AccessCodeStatus
from keyslot.protocol.clock import ManualClock
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import Desired
from tests.reconciler_rig import Rig, rig

DEVICE_ID = "0f6b2a8e-93d1-4c57-a0e4-5b1f7d2c9e30"
URL = "sim://kwikset?id=pool-config"


def _lock(**keys: Any) -> dict[str, Any]:
    return {"locks": [{"url": URL, **keys}]}


@pytest.mark.parametrize("size", [0, 1, 3, MAX_POOL_SIZE])
def test_a_size_in_range_is_kept(size: int) -> None:
    config = parse_config(_lock(backup_access_code_pool_size=size))
    assert config.locks[0].backup_access_code_pool_size == size


def test_no_size_leaves_the_pool_alone() -> None:
    assert parse_config(_lock()).locks[0].backup_access_code_pool_size is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-1, f"must be between 0 and {MAX_POOL_SIZE}"),
        (MAX_POOL_SIZE + 1, f"must be between 0 and {MAX_POOL_SIZE}"),
        ("2", "must be an integer"),
        (2.5, "must be an integer"),
        (True, "must be an integer"),
    ],
)
def test_a_bad_size_is_named_with_its_lock(value: object, problem: str) -> None:
    data = {"locks": [{"url": "sim://nuki?id=other"}, {"url": URL, "name": "Shed"}]}
    data["locks"][1]["backup_access_code_pool_size"] = value
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert f"[[locks]] #2 backup_access_code_pool_size {problem}" in str(info.value)


def test_a_simulator_takes_a_size_too() -> None:
    sims = [{"profile": "kwikset", "id": "a"}, {"profile": "nuki", "id": "b"}]
    sims[1]["backup_access_code_pool_size"] = 2
    config = parse_config({"simulators": sims})
    assert [s.backup_access_code_pool_size for s in config.simulators] == [None, 2]
    sims[0]["backup_access_code_pool_size"] = MAX_POOL_SIZE + 1
    with pytest.raises(ConfigError) as info:
        parse_config({"simulators": sims})
    expected = "[[simulators]] #1 backup_access_code_pool_size must be between 0 and"
    assert expected in str(info.value)


def test_the_key_is_refused_where_it_does_not_belong() -> None:
    with pytest.raises(ConfigError, match="unknown key 'backup_access_code_pool_size'"):
        parse_config({"gateway": {"backup_access_code_pool_size": 2}})


# --------------------------------------------------------------------------- the effect


def _pool(r: Rig) -> list[AccessCode]:
    """The backups waiting in the lock's pool that the lock really holds."""
    held = {
        stored.code
        for slot in r.firmware[DEVICE_ID].read_slots()
        if (stored := r.firmware[DEVICE_ID].stored(slot.index)) is not None
    }
    found = [
        rec.access_code
        for rec in r.store.access_codes.for_device(DEVICE_ID)
        if rec.desired is Desired.PRESENT and in_pool(rec.access_code)
    ]
    assert all(c.status is AccessCodeStatus.SET and c.code in held for c in found)
    return found


async def _start(r: Rig, size: int | None) -> None:
    """What the gateway does with its config at a start."""
    lock = LockConfig(URL, "Shed", DEVICE_ID, backup_access_code_pool_size=size)
    assert register_locks(r.service, [lock]) == [DEVICE_ID]
    await r.settle()


async def test_the_configured_size_fills_the_pool_at_start(clock: ManualClock) -> None:
    async with rig(clock) as r:
        r.firmware[DEVICE_ID] = LockFirmware(
            get_profile("kwikset"), clock=clock, lock_id="pool-config"
        )
        await _start(r, 3)
        assert len(_pool(r)) == 3  # no code asked for a pool: the config alone made it
        props = r.service.get_device(device_id=DEVICE_ID).properties
        assert props.backup_access_code_pool_enabled

        await _start(r, 1)  # the next start with a smaller size
        assert len(_pool(r)) == 1

        await _start(r, None)  # the key taken out of the config: the pool stays as it is
        assert len(_pool(r)) == 1

        await _start(r, 0)
        assert _pool(r) == []
        now = clock.now()
        r.service.create_access_code(
            device_id=DEVICE_ID,
            starts_at=now,
            ends_at=now + timedelta(hours=2),
            use_backup_access_code_pool=True,
        )
        await r.settle()
        assert _pool(r) == []  # turned off in the config: a code asking for one does not win
        assert not r.service.get_device(
            device_id=DEVICE_ID
        ).properties.backup_access_code_pool_enabled

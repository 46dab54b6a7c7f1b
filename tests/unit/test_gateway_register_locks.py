"""The gateway's configured locks at each start: added once, found again by URL, and moved
to a new URL when their pinned device id is known under another one."""

from __future__ import annotations

from keyslot.backup_codes import POOL_SIZE_SETTING
from keyslot.gateway.config import LockConfig
from keyslot.gateway.server import register_locks
from keyslot.model import AccessCodeStatus
from keyslot.protocol.clock import ManualClock
from keyslot.service import Service
from keyslot.store import Store

DEVICE_ID = "0f6b2a8e-93d1-4c57-a0e4-5b1f7d2c9e30"


def test_a_lock_found_again_by_its_url_is_not_added_twice(clock: ManualClock) -> None:
    store = Store.memory(clock=clock)
    service = Service(store, clock=clock)
    lock = LockConfig(url="sim://kwikset?id=porch", name="Porch")
    first = register_locks(service, [lock])
    assert register_locks(service, [lock]) == first
    assert len(store.devices.all()) == 1
    store.close()


def test_a_pinned_lock_at_a_new_url_keeps_its_device(clock: ManualClock) -> None:
    store = Store.memory(clock=clock)
    service = Service(store, clock=clock)
    old = LockConfig(url="sim://kwikset?id=shed", name="Shed", device_id=DEVICE_ID)
    assert register_locks(service, [old]) == [DEVICE_ID]
    service.set_backup_access_code_pool(device_id=DEVICE_ID, size=3)
    service.report_device_constraints(device_id=DEVICE_ID, supported_code_lengths=[5])
    code, _ = service.create_access_code(device_id=DEVICE_ID, code="13579")
    before = store.devices.require(DEVICE_ID)

    moved = LockConfig(url="socket://127.0.0.1:7001", name="Renamed", device_id=DEVICE_ID)
    assert register_locks(service, [moved]) == [DEVICE_ID]
    after = store.devices.require(DEVICE_ID)
    assert after.lock_url == "socket://127.0.0.1:7001"
    assert after.transport == "socket"
    assert after.name == "Shed"  # a known device keeps its name, as at every start
    assert after.created_at == before.created_at
    assert after.settings == before.settings  # the pool size and the reported lengths
    assert after.settings.get(POOL_SIZE_SETTING) == 3
    assert len(store.devices.all()) == 1
    kept = store.access_codes.require(code.access_code_id)
    assert kept.access_code.device_id == DEVICE_ID
    assert kept.access_code.status is AccessCodeStatus.SETTING
    store.close()

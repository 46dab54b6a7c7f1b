"""The gateway's simulated locks keep their pairing key across a gateway restart.

The serial front-end saves the key it agrees at pairing beside the lock's state and loads
it at the next start, so a restarted gateway reaches its simulated lock without pairing
again (which would need a person at a real lock).
"""

from __future__ import annotations

from pathlib import Path

from keyslot.drivers import open_lock
from keyslot.gateway.config import SimulatorConfig
from keyslot.gateway.server import register_locks
from keyslot.gateway.simulators import SimulatorHost, simulator_device_id
from keyslot.protocol.clock import SystemClock
from keyslot.service import Service
from keyslot.simulator.serial_endpoint import pairing_key_path
from keyslot.simulator.state import read_state
from keyslot.store import Store
from tests.serial_helpers import MemoryKeyStore

OFFICE = SimulatorConfig(profile="kwikset", id="office", front_end="serial-pty")
SHED = SimulatorConfig(profile="nuki", id="shed", backup_access_code_pool_size=2)


async def test_a_restarted_gateway_reuses_the_simulators_key(tmp_path: Path) -> None:
    keys = MemoryKeyStore()
    clock = SystemClock()
    first = SimulatorHost(tmp_path, clock=clock)
    try:
        [lock] = await first.start((OFFICE,), keys)
        paired = dict(keys.keys)
        assert len(paired) == 1
    finally:
        await first.aclose()
    assert read_state(pairing_key_path(tmp_path / "office.json"))["format"] == 1

    second = SimulatorHost(tmp_path, clock=clock)
    try:
        [again] = await second.start((OFFICE,), keys)
        assert again.url == lock.url
        assert keys.keys == paired  # no new pairing: the lock kept its key
        assert second.firmware_for_url(again.url) is not None
        driver = await open_lock(again.url, clock=clock, keys=keys)
        try:
            assert len(await driver.read_slots()) == 30
        finally:
            await driver.aclose()
    finally:
        await second.aclose()


async def test_a_simulators_pool_size_reaches_its_lock_config(tmp_path: Path) -> None:
    host = SimulatorHost(tmp_path, clock=SystemClock())
    try:
        office, shed = await host.start((OFFICE, SHED), MemoryKeyStore())
    finally:
        await host.aclose()
    assert office.backup_access_code_pool_size is None
    assert shed.backup_access_code_pool_size == 2
    assert shed.name == "shed"


async def test_a_tcp_simulator_on_any_port_stays_one_device(tmp_path: Path) -> None:
    """Each start serves it on another free port: the device moves to the new URL."""
    tcp = SimulatorConfig(profile="kwikset", id="garage", front_end="serial-tcp", port=0)
    store = Store.memory()
    service = Service(store)
    urls: list[str] = []
    try:
        for _ in range(2):
            host = SimulatorHost(tmp_path, clock=SystemClock())
            try:
                [lock] = await host.start((tcp,), store)
                urls.append(lock.url)
                assert register_locks(service, [lock]) == [simulator_device_id("garage")]
            finally:
                await host.aclose()
        assert urls[0] != urls[1]
        [device] = store.devices.all()
        assert device.lock_url == urls[1]
    finally:
        store.close()

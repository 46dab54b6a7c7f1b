"""Simulated locks served on their real wire front-end beside the gateway.

A `[[simulators]]` entry (and the embedded default's office lock) runs a `LockFirmware`
behind the serial front-end, on a pty with a stable link in the data directory or on a
loopback TCP port, and the gateway drives it through the production serial driver. At
first start the driver pairs with it the way a person would, by putting the lock in
pairing mode; the key is kept in the store and, for the lock, beside its state file.

A simulator's device id follows from its id (`simulator_device_id`), so it stays the same
device when its URL changes (a TCP front-end on any free port gets a new port at each
start): the device moves to the new URL with its codes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyslot.gateway.config import LockConfig, SimulatorConfig
from keyslot.protocol.clock import Clock

__all__ = ["SimulatorHost", "simulator_device_id"]

log = logging.getLogger("keyslot.gateway.simulators")

_SIMULATORS = uuid.UUID("6b1d0f3c-52a4-4c8e-9f27-d1e5a0b7c914")  # names their device ids


def simulator_device_id(simulator_id: str) -> str:
    """The device id of the simulator with this id (a name-based UUID, version 5)."""
    return str(uuid.uuid5(_SIMULATORS, simulator_id))


@dataclass
class _Running:
    config: SimulatorConfig
    endpoint: Any
    url: str


class SimulatorHost:
    """Starts and stops the configured simulators; finds a simulated keypad by lock URL."""

    def __init__(self, directory: Path, *, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock
        self._running: list[_Running] = []

    async def start(self, simulators: tuple[SimulatorConfig, ...], keys: Any) -> list[LockConfig]:
        """Serve every simulator and pair with it if needed; returns the locks to drive."""
        if not simulators:
            return []
        from keyslot.drivers import parse_lock_url
        from keyslot.drivers.serial import key_id, pair
        from keyslot.simulator.firmware import LockFirmware
        from keyslot.simulator.profiles import get_profile
        from keyslot.simulator.serial_endpoint import SerialEndpoint, pairing_key_path

        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        locks: list[LockConfig] = []
        for sim in simulators:
            state = self.directory / f"{sim.id}.json"
            if state.exists():
                firmware = LockFirmware.load(state, self.clock)
            else:
                profile = get_profile(sim.profile)
                firmware = LockFirmware(profile, clock=self.clock, lock_id=sim.id, state_path=state)
                firmware.save()
            # the endpoint loads the lock's key from there and saves a new one when paired
            endpoint = SerialEndpoint(firmware, key_path=pairing_key_path(state))
            if sim.front_end == "serial-tcp":
                host, port = await endpoint.open_tcp("127.0.0.1", sim.port)
                url = f"socket://{host}:{port}"
            else:
                url = "serial://" + await endpoint.open_pty(self.directory / f"{sim.id}.tty")
            self._running.append(_Running(sim, endpoint, url))
            parsed = parse_lock_url(url)
            if keys.load_key(key_id(parsed)) is None or endpoint.device.pairing_key is None:
                endpoint.enter_pairing_mode()
                confirmation = await pair(parsed, keys, self.clock)
                log.info("paired with simulated lock %s (confirmation %s)", sim.id, confirmation)
            locks.append(
                LockConfig(
                    url=url,
                    name=sim.name or sim.id,
                    device_id=simulator_device_id(sim.id),
                    backup_access_code_pool_size=sim.backup_access_code_pool_size,
                )
            )
            log.info("simulated %s lock %r on %s", sim.profile, sim.id, url)
        return locks

    def firmware_for_url(self, url: str) -> Any:
        for running in self._running:
            if running.url == url:
                return running.endpoint.firmware
        return None

    async def aclose(self) -> None:
        for running in reversed(self._running):
            try:
                running.endpoint.firmware.save()
            except Exception:
                log.exception("saving simulated lock %s failed", running.config.id)
            await running.endpoint.aclose()
        self._running.clear()

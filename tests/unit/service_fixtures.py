"""A service over an in-memory store with one device per simulator profile, online."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from keyslot.protocol.clock import ManualClock
from keyslot.service import Service
from keyslot.simulator.profiles import get_profile
from keyslot.store import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class World:
    clock: ManualClock
    store: Store
    service: Service
    woken: list[str] = field(default_factory=list)
    devices: dict[str, str] = field(default_factory=dict)  # profile -> device id


def make_world(path: str = ":memory:") -> World:
    clock = ManualClock(T0)
    store = Store(path, key=b"\x11" * 32, clock=clock)
    world = World(clock, store, Service(store))
    world.service.set_wake(world.woken.append)
    for profile in ("kwikset", "nuki", "schlage", "split"):
        added = world.service.add_device(lock_url=f"sim://{profile}?id={profile}", name=profile)
        info = get_profile(profile).info(profile)
        store.devices.update(
            added.device_id, lambda d, i=info: replace(d, lock_info=i, online=True)
        )
        world.devices[profile] = added.device_id
    world.woken.clear()
    return world

"""Z-Wave test rigs: a mosquitto broker, the simulated zwave-js-ui gateway, and driver URLs.

The simulated radio's delays (verification read, latency) run on an `InstantClock` unless
a test drives them itself, so a write completes in a few real milliseconds while the
driver's timeouts stay on the test's ManualClock and fire only when the test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from keyslot.drivers import open_lock
from keyslot.drivers.zwave_mqtt import ZwaveMqttLock
from keyslot.protocol.clock import Clock, ManualClock
from keyslot.protocol.slots import SlotEntry
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import Profile, get_profile
from keyslot.simulator.zwave_gateway import ZwaveGatewaySim
from tests.support_mosquitto import Mosquitto, mosquitto_broker

__all__ = [
    "InstantClock",
    "Spy",
    "ZwaveRig",
    "eventually",
    "spy",
    "until_deadline",
    "until_waiting",
    "zwave_rig",
]

T = TypeVar("T")

REAL_LIMIT = 10.0  # real seconds any wait in these tests may take before it fails


class InstantClock:
    """Virtual time for simulated delays: a sleep returns at once and moves this clock on."""

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._t = 0.0
        self.slept = 0.0

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._t)

    def monotonic(self) -> float:
        return self._t

    async def sleep(self, seconds: float) -> None:
        self._t += max(0.0, seconds)
        self.slept += max(0.0, seconds)
        await asyncio.sleep(0)


async def eventually(check: Callable[[], T | None], limit: float = REAL_LIMIT) -> T:
    """Poll `check` until it returns something truthy (real time, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {limit} s")
        await asyncio.sleep(0.005)


async def until_waiting(clock: ManualClock, count: int = 1) -> None:
    """Real-time bounded wait until `count` tasks sleep on `clock`."""
    await eventually(lambda: clock.sleepers >= count)


async def until_deadline(clock: ManualClock, seconds: float) -> None:
    """Real-time bounded wait until the next thing sleeping on `clock` is due in `seconds`
    (e.g. the driver now waits for a confirmation, no longer for the gateway's answer)."""
    await eventually(lambda: abs((clock.next_deadline() or -1.0) - seconds) < 1e-6)


@dataclass
class ZwaveRig:
    """A broker, a simulated gateway with lock nodes, and the drivers opened on it."""

    broker: Mosquitto
    sim: ZwaveGatewaySim
    clock: ManualClock
    firmware: dict[int, LockFirmware]
    locks: list[ZwaveMqttLock] = field(default_factory=list)

    def url(self, node_id: int, **options: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        base = f"zwave+mqtt://{self.broker.host}:{self.broker.port}/{node_id}"
        return f"{base}?{query}" if query else base

    async def open(self, node_id: int, **options: Any) -> ZwaveMqttLock:
        lock = await open_lock(self.url(node_id, **options), clock=self.clock)
        assert isinstance(lock, ZwaveMqttLock)
        self.locks.append(lock)
        return lock

    async def settle(self) -> None:
        """Let everything the simulator queued reach every driver."""
        await self.sim.flush()
        for lock in self.locks:
            if lock.network.connected:
                await lock.sync()


@asynccontextmanager
async def zwave_rig(
    workdir: Path,
    clock: ManualClock,
    profiles: Mapping[int, str | Profile],
    *,
    delay_clock: Clock | None = None,
    broker: Mosquitto | None = None,
    prefill: Mapping[int, Mapping[int, str]] | None = None,
    **sim_options: Any,
) -> AsyncIterator[ZwaveRig]:
    """Start a broker (unless given) and a gateway with one node per `profiles` entry.

    `prefill` puts codes into the locks before the gateway starts (node -> slot -> code).
    """
    firmware = {
        node_id: LockFirmware(
            get_profile(profile) if isinstance(profile, str) else profile,
            clock=clock,
            lock_id=f"node-{node_id}",
        )
        for node_id, profile in profiles.items()
    }
    for node_id, table in (prefill or {}).items():
        for index, code in table.items():
            firmware[node_id].write_slot(index, SlotEntry(code))
    async with _broker(workdir, broker) as running:
        sim = ZwaveGatewaySim(
            firmware,
            clock=clock,
            host=running.host,
            port=running.port,
            delay_clock=delay_clock or InstantClock(),
            **sim_options,
        )
        rig = ZwaveRig(running, sim, clock, firmware)
        async with sim:
            try:
                yield rig
            finally:
                for lock in rig.locks:
                    await lock.aclose()


@asynccontextmanager
async def _broker(workdir: Path, broker: Mosquitto | None) -> AsyncIterator[Mosquitto]:
    if broker is not None:
        yield broker
        return
    with mosquitto_broker(workdir) as started:
        yield started


@dataclass
class Spy:
    """Every message the broker delivered to a bystander subscribed to everything."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    publish: Callable[[str], Awaitable[None]] | None = None

    def on(self, predicate: Callable[[str], bool]) -> list[tuple[str, bytes]]:
        return [(t, p) for t, p in self.messages if predicate(t)]

    @staticmethod
    def is_request(topic: str) -> bool:
        """Whether `topic` carries a command to the gateway (a write, an API call)."""
        return topic.endswith("/set") or topic.startswith("_keyslot/")

    async def barrier(self) -> None:
        """Return once everything the broker took in before now has reached the spy."""
        assert self.publish is not None
        marker = f"_spy/{len(self.messages)}-{id(self)}"
        await self.publish(marker)
        await eventually(lambda: any(t == marker for t, _ in self.messages))
        self.messages = [(t, p) for t, p in self.messages if not t.startswith("_spy/")]


@asynccontextmanager
async def spy(broker: Mosquitto) -> AsyncIterator[Spy]:
    """A bystander MQTT client recording everything (the driver's requests included)."""
    import aiomqtt

    seen = Spy()
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("#", qos=1)

        async def publish(topic: str) -> None:
            await client.publish(topic, b"", qos=1)

        seen.publish = publish

        async def record() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                seen.messages.append((message.topic.value, payload))

        task = asyncio.create_task(record())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

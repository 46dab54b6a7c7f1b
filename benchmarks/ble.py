"""BLE driver benchmark over bumble's virtual radio link: slot writes per second, connections
opened per batch of 50 writes (target: 1), and the time to list a 100-slot lock.

The driver is the production one (bleak + bleak-retry-connector, through the bumble bleak
backend); the lock is the simulated GATT peripheral, in the same process on a virtual link.
A virtual link has no air time, so these numbers measure the protocol and the software
stack (sealing, fragmentation, GATT), not a radio. Run: `python benchmarks/ble.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bumble.link import LocalLink

from keyslot.drivers import ble
from keyslot.drivers.ble_bumble_backend import BumbleClientBackend, BumbleRadio
from keyslot.protocol.clock import SystemClock
from keyslot.protocol.slots import SlotEntry
from keyslot.simulator.ble_peripheral import BlePeripheral, virtual_device
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import Profile, get_profile

ADDRESS = "C0:BE:7C:00:00:01"
NAME = "Alexandra Berg"  # 14 characters, the kwikset limit
TARGET_CONNECTIONS_PER_BATCH = 1


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def load_key(self, lock_url: str) -> bytes | None:
        return self.keys.get(lock_url)

    def save_key(self, lock_url: str, key: bytes) -> None:
        self.keys[lock_url] = key


class CountingBackend(BumbleClientBackend):
    """The bumble backend, counting ATT writes and notifications (fragments on the air)."""

    writes = 0
    notifications = 0

    async def write_gatt_char(self, characteristic: Any, data: Any, response: bool) -> None:
        CountingBackend.writes += 1
        await super().write_gatt_char(characteristic, data, response)

    async def start_notify(self, characteristic: Any, callback: Any, **kwargs: Any) -> None:
        def counted(data: bytearray) -> None:
            CountingBackend.notifications += 1
            callback(data)

        await super().start_notify(characteristic, counted, **kwargs)


def profile(slots: int) -> Profile:
    return dataclasses.replace(get_profile("kwikset"), name=f"kwikset-{slots}", slot_count=slots)


@asynccontextmanager
async def paired_lock(slots: int, mtu: int) -> AsyncIterator[tuple[ble.BleLock, BlePeripheral]]:
    clock = SystemClock()
    link = LocalLink()
    firmware = LockFirmware(profile(slots), clock=clock, lock_id="bench")
    peripheral = BlePeripheral(firmware, virtual_device(link, ADDRESS, "bench"), pairing=True)
    await peripheral.start()
    radio = await BumbleRadio.on_link(link, mtu=mtu)
    keys = MemoryKeys()
    context = {"ble_device": radio.ble_device(ADDRESS), "ble_client_backend": CountingBackend}
    url = f"ble://{ADDRESS}"
    await ble.pair(url, keys, clock, **context)
    lock = await ble.open_url(ble.parse_ble_url(url), clock=clock, keys=keys, **context)
    try:
        yield lock, peripheral
    finally:
        await lock.aclose()
        await radio.close()
        await peripheral.stop()


def entry(number: int) -> SlotEntry:
    return SlotEntry(f"{3 + number % 7}{number:07d}"[-8:], NAME)


async def writes_per_second(mtu: int, count: int, drop_every: int | None = None) -> dict[str, Any]:
    async with paired_lock(30, mtu) as (lock, peripheral):
        for number in range(20):  # warm up: connect, session, challenge
            await lock.write_slot(1 + number % 30, entry(number))
        if drop_every is not None:
            peripheral.service.drop_after_requests(drop_every, repeat=True)
        writes, notes = CountingBackend.writes, CountingBackend.notifications
        start = time.perf_counter()
        for number in range(count):
            await lock.write_slot(1 + number % 30, entry(number + 1000))
        elapsed = time.perf_counter() - start
        for index in range(1, 31):  # every slot holds the last code written to it, once
            last = max(n for n in range(count) if 1 + n % 30 == index)
            stored = peripheral.firmware.stored(index)
            assert stored is not None
            assert stored.code == entry(last + 1000).code
        return {
            "writes_per_s": round(count / elapsed, 1),
            "att_writes_per_slot_write": round((CountingBackend.writes - writes) / count, 2),
            "notifications_per_slot_write": round(
                (CountingBackend.notifications - notes) / count, 2
            ),
            "reconnects": lock.connections_opened - 1,
        }


async def connections_per_batch(batches: int, size: int) -> list[int]:
    """Connections the driver opens for each batch of `size` writes (idle gaps between)."""
    opened = []
    async with paired_lock(30, 247) as (lock, _):
        for batch in range(batches):
            before = lock.connections_opened
            for number in range(size):
                await lock.write_slot(1 + number % 30, entry(batch * size + number))
            opened.append(lock.connections_opened - before)
            await lock._link.close()  # the idle timeout, without waiting 30 s for it
    return opened


async def list_time(slots: int, mtu: int, rounds: int) -> dict[str, Any]:
    async with paired_lock(slots, mtu) as (lock, _):
        for index in range(1, slots + 1, 2):  # half the slots hold a code
            await lock.write_slot(index, entry(index))
        await lock.read_slots()  # warm up
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            listed = await lock.read_slots()
            times.append(time.perf_counter() - start)
        assert len(listed) == slots
        times.sort()
        return {"median_ms": round(times[len(times) // 2] * 1000, 2)}


async def measure(count: int) -> dict[str, Any]:
    results: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    for mtu in (247, 23):
        for name, value in (await writes_per_second(mtu, count)).items():
            results[f"mtu{mtu}_{name}"] = value
    dropped = await writes_per_second(247, count, drop_every=25)
    results["mtu247_drop_every_25_requests_writes_per_s"] = dropped["writes_per_s"]
    results["mtu247_drop_every_25_requests_reconnects"] = dropped["reconnects"]
    batches = await connections_per_batch(5, 50)
    results["connections_per_batch_of_50_writes"] = batches
    for mtu in (247, 23):
        results[f"list_100_slots_mtu{mtu}_ms"] = (await list_time(100, mtu, 20))["median_ms"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=1000, help="writes per rate measurement")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = asyncio.run(measure(args.writes))
    for name, value in results.items():
        print(f"{name:48} {value}")
    batches = results["connections_per_batch_of_50_writes"]
    ok = all(n == TARGET_CONNECTIONS_PER_BATCH for n in batches)
    verdict = "met" if ok else "MISSED"
    print(f"target {TARGET_CONNECTIONS_PER_BATCH} connection per batch of 50: {verdict}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Z-Wave over MQTT benchmark: messages per slot write, full reads the checksum avoids, the time
to program many locks through one radio under a concurrency cap, and startup from retained
topics.

A real mosquitto on a free loopback port carries everything; the simulated zwave-js-ui
gateway runs in this process (so its counters can be read), the driver is the production
one, and time is real (`--scale 10` runs the simulated delays ten times faster and reports
lock seconds). Run: `python benchmarks/zwave.py [--nodes 10 --slots 30 --delay 1 --cap 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keyslot.drivers import open_lock
from keyslot.drivers.zwave_mqtt import ZwaveMqttLock
from keyslot.protocol.clock import Clock, ScaledClock, SystemClock
from keyslot.protocol.slots import SlotEntry
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import Profile, get_profile
from keyslot.simulator.zwave_gateway import ZwaveGatewaySim

TARGET_MESSAGES_PER_WRITE = 1.0
FIRST_NODE = 2


@contextlib.contextmanager
def mosquitto() -> Iterator[int]:
    binary = shutil.which("mosquitto")
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as workdir:
        config = Path(workdir) / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "set_tcp_nodelay true\nmax_queued_messages 100000\n"
        )
        proc = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit("mosquitto did not start")
                time.sleep(0.01)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def readable_profile() -> Profile:
    """A lock that reads codes back and has the v2 checksum (Kwikset's rules otherwise)."""
    return dataclasses.replace(get_profile("kwikset"), name="kwikset", checksum=True)


def codes(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(f"{rng.randrange(10**6):06d}")  # leading zeros included on purpose
    return sorted(seen, key=lambda _: rng.random())


def build_nodes(
    profile: Profile, clock: Clock, args: argparse.Namespace, *, fill: bool, rng: random.Random
) -> dict[int, LockFirmware]:
    nodes = {}
    for n in range(args.nodes):
        firmware = LockFirmware(profile, clock=clock, lock_id=f"bench-{n}")
        if fill:
            for index, code in enumerate(codes(rng, args.slots), start=1):
                firmware.write_slot(index, SlotEntry(code))
        nodes[FIRST_NODE + n] = firmware
    return nodes


async def open_all(
    port: int, args: argparse.Namespace, clock: Clock, **options: Any
) -> list[ZwaveMqttLock]:
    query = "&".join(f"{k}={v}" for k, v in {"max_concurrent": args.cap, **options}.items())
    locks = []
    for n in range(args.nodes):
        lock = await open_lock(
            f"zwave+mqtt://127.0.0.1:{port}/{FIRST_NODE + n}?{query}", clock=clock
        )
        assert isinstance(lock, ZwaveMqttLock)
        locks.append(lock)
    return locks


async def close_all(locks: list[ZwaveMqttLock]) -> None:
    for lock in locks:
        await lock.aclose()


async def startup(port: int, args: argparse.Namespace, clock: Clock) -> dict[str, Any]:
    """Open every lock against a gateway whose tables are only in retained topics."""
    rng = random.Random(1)
    nodes = build_nodes(readable_profile(), clock, args, fill=True, rng=rng)
    async with ZwaveGatewaySim(nodes, clock=clock, port=port) as sim:
        t0 = time.perf_counter()
        locks = await open_all(port, args, clock)
        for lock in locks:
            info = await lock.info()
            assert lock.cache.complete(info.slot_range)
        retained_s = time.perf_counter() - t0
        gets_before = sum(node.gets for node in sim.nodes.values())
        t1 = time.perf_counter()
        tables = await asyncio.gather(*(lock.read_slots() for lock in locks))
        verify_s = time.perf_counter() - t1
        for lock, table, firmware in zip(locks, tables, nodes.values(), strict=True):
            assert [s.code for s in table] == [s.code for s in firmware.read_slots()]
            assert lock.stats["full_reads"] == 0
        gets = sum(node.gets for node in sim.nodes.values()) - gets_before
        await close_all(locks)
    return {
        "locks": args.nodes,
        "slots_each": args.slots,
        "tables_from_retained_ms": round(retained_s * 1000, 1),
        "verified_by_checksum_ms": round(verify_s * 1000, 1),
        "radio_gets_for_verification": gets,
        "full_reads": 0,
    }


async def messages_per_write(port: int, args: argparse.Namespace, clock: Clock) -> dict[str, Any]:
    rng = random.Random(2)
    nodes = build_nodes(readable_profile(), clock, args, fill=False, rng=rng)
    one = {FIRST_NODE: nodes[FIRST_NODE]}
    async with ZwaveGatewaySim(one, clock=clock, port=port, verification_delay=0.0):
        lock = (await open_all(port, argparse.Namespace(**{**vars(args), "nodes": 1}), clock))[0]
        await lock.info()
        await lock.read_slots()
        before = sum(lock.network.stats.values())
        pins = codes(rng, args.slots)
        for index, pin in enumerate(pins, start=1):
            await lock.write_slot(index, SlotEntry(pin))
        published = sum(lock.network.stats.values()) - before
        leading_zero = sum(1 for p in pins if p.startswith("0"))
        held = [s.code for s in await lock.read_slots()]
        assert held == pins
        await lock.aclose()
    return {
        "writes": len(pins),
        "messages_published": published,
        "messages_per_write": round(published / len(pins), 3),
        "target": TARGET_MESSAGES_PER_WRITE,
        "codes_with_leading_zero_kept": leading_zero,
    }


async def checksum_reads(port: int, args: argparse.Namespace, clock: Clock) -> dict[str, Any]:
    """Audit rounds as the reconciler runs them; a few codes change at the keypad meanwhile."""
    rounds = 5
    result: dict[str, Any] = {}
    for label, profile, masked in (
        ("readable", readable_profile(), 0),
        ("masked", get_profile("schlage"), 1),
    ):
        rng = random.Random(3)
        nodes = build_nodes(profile, clock, args, fill=True, rng=rng)
        async with ZwaveGatewaySim(nodes, clock=clock, port=port, verification_delay=0.0) as sim:
            locks = await open_all(port, args, clock, masked=masked)
            for round_ in range(rounds):
                changed = FIRST_NODE + round_ % args.nodes
                pin = f"{rng.randrange(10**4):04d}9{round_}"
                if round_ % 2:
                    nodes[changed].manager_set(args.slots, pin)  # reported by a notification
                else:
                    nodes[changed].write_slot(args.slots, SlotEntry(pin))  # silent change
                await sim.flush()
                for lock in locks:
                    if await lock.slots_checksum() is not None:
                        await lock.read_slots()
            full = sum(node.full_reads for node in sim.nodes.values())
            gets = sum(node.gets for node in sim.nodes.values())
            audits = rounds * args.nodes
            result[label] = {
                "audits": audits,
                "full_reads": full,
                "full_reads_avoided": audits - full,
                "user_code_gets": gets,
                "user_code_gets_without_checksum": audits * args.slots,
            }
            await close_all(locks)
    return result


async def programming_time(port: int, args: argparse.Namespace, clock: Clock) -> dict[str, Any]:
    rng = random.Random(4)
    nodes = build_nodes(readable_profile(), clock, args, fill=False, rng=rng)
    async with ZwaveGatewaySim(
        nodes, clock=clock, port=port, verification_delay=args.delay, latency=args.latency
    ) as sim:
        locks = await open_all(port, args, clock, confirm_timeout=max(30.0, 10 * args.delay))
        for lock in locks:
            await lock.read_slots()
        plans = {lock.node_id: codes(rng, args.slots) for lock in locks}

        async def program(lock: ZwaveMqttLock) -> None:
            for index, pin in enumerate(plans[lock.node_id], start=1):
                await lock.write_slot(index, SlotEntry(pin))

        t0, w0 = clock.monotonic(), time.perf_counter()
        await asyncio.gather(*(program(lock) for lock in locks))
        elapsed, wall = clock.monotonic() - t0, time.perf_counter() - w0
        for lock in locks:
            assert [s.code for s in nodes[lock.node_id].read_slots()] == plans[lock.node_id]
        writes = args.nodes * args.slots
        ideal = math.ceil(writes / args.cap) * (args.delay + 2 * args.latency)
        stats = {
            "writes": writes,
            "verification_delay_s": args.delay,
            "cap": args.cap,
            "seconds": round(elapsed, 2),
            "ideal_seconds": round(ideal, 2),
            "ratio_to_ideal": round(elapsed / ideal, 3) if ideal else None,
            "wall_seconds": round(wall, 2),
            "max_commands_in_flight": sim.max_in_flight,
            "unconfirmed": sum(lock.stats["unconfirmed"] for lock in locks),
        }
        await close_all(locks)
    return stats


async def main(args: argparse.Namespace) -> dict[str, Any]:
    clock: Clock = SystemClock() if args.scale == 1 else ScaledClock(args.scale)
    with mosquitto() as port:
        return {
            "startup": await startup(port, args, clock),
            "messages_per_write": await messages_per_write(port, args, clock),
            "checksum": await checksum_reads(port, args, clock),
            "programming": await programming_time(port, args, clock),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--slots", type=int, default=30)
    parser.add_argument("--delay", type=float, default=1.0, help="verification delay, seconds")
    parser.add_argument("--latency", type=float, default=0.0, help="radio time per frame")
    parser.add_argument("--cap", type=int, default=2, help="max concurrent commands")
    parser.add_argument("--scale", type=float, default=1.0, help="run simulated time faster")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))

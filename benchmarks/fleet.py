"""Fleet benchmark: N simulated locks x M codes, a fixed simulated latency per lock operation.

Run: .venv/bin/python benchmarks/fleet.py [--locks 200] [--codes 25] [--latency 0.02]

Codes are created through the service (pending mutations, action attempts) in a store on
disk, opened as `keyslot serve` opens it (WAL with group commit: the reconciler's committer
waits for the store's durability barrier, one shared fsync, before a lock's next
operation, so every outcome is durably committed), then the reconciler is
started and timed until every code is `set`. Reported:

- wall time against the ideal: the busiest lock's operation count x latency (a lock does
  one operation at a time, so no schedule can beat that);
- device writes per requested change (exactly 1.00 means no write was wasted);
- store commits (transactions, each one fsync) and committed outcomes per second;
- peak RSS of the process (simulated locks included).

`--memory` instead loads a big fleet (default 1,000 locks of 250 slots) at zero latency and
reports RSS before and after the reconciler has read and settled every lock.

`--floor` runs only the simulated locks, through their driver, with the operations a lock
gets in the timed run (info, a full read, one write per code) and no store or reconciler:
the wall and CPU time that the locks and the event loop alone take, which no reconciler on
this loop can go below.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import resource
import tempfile
import time
from pathlib import Path

from keyslot.drivers import open_lock
from keyslot.model import AccessCodeStatus
from keyslot.protocol.clock import SystemClock
from keyslot.protocol.slots import SlotEntry, SlotProgrammer
from keyslot.reconciler import Reconciler, Settings
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import DeviceRecord, Store

LOCK_OPS = ("info", "read_slots", "write_slot", "clear_slot", "checksum", "set_clock")


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


def written_bytes() -> int:
    """Bytes this process has caused to be written to storage (Linux /proc/self/io)."""
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def pin(n: int) -> str:
    return f"{1000 + n:04d}{n % 7 + 1}"


def build(
    store: Store, locks: int, codes: int, slots: int, latency: float
) -> dict[str, LockFirmware]:
    """Locks and their codes, as an owner would create them through the service."""
    clock = SystemClock()
    profile = dataclasses.replace(get_profile("kwikset"), slot_count=slots)
    service = Service(store, clock=clock)
    firmware: dict[str, LockFirmware] = {}
    for i in range(locks):
        with store.transaction():
            device = service.add_device(lock_url=f"sim://kwikset?id=fleet-{i}&latency={latency}")
            for n in range(codes):
                service.create_access_code(
                    device_id=device.device_id, code=pin(n), name=f"Guest {n}"
                )
        firmware[device.device_id] = LockFirmware(profile, clock=clock, lock_id=f"fleet-{i}")
    return firmware


async def reconcile(store: Store, firmware: dict[str, LockFirmware]) -> tuple[float, Reconciler]:
    clock = SystemClock()

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, firmware=firmware[device.device_id])

    reconciler = Reconciler(store, opener=opener, clock=clock, settings=Settings())
    started = time.perf_counter()
    await reconciler.start()
    while any(w.busy for w in reconciler.workers) or not reconciler.workers:  # noqa: ASYNC110
        await asyncio.sleep(0.005)  # polling is the cheap way to watch hundreds of workers
    wall = time.perf_counter() - started
    return wall, reconciler


def lock_ops(fw: LockFirmware) -> dict[str, int]:
    counts = dict.fromkeys(LOCK_OPS, 0)
    for op, _ in fw.faults.history:
        counts[op] = counts.get(op, 0) + 1
    return counts


async def fleet(locks: int, codes: int, latency: float, data_dir: Path) -> None:
    store = Store.open(data_dir, clock=SystemClock(), group_commit=True)
    firmware = build(store, locks, codes, max(30, codes), latency)
    # Every operation is recorded in the fault plan's history (no faults are injected).
    for fw in firmware.values():
        fw.faults.set_rates(delay=0.0)
    cpu_before, io_before = time.process_time(), written_bytes()
    wall, reconciler = await reconcile(store, firmware)
    cpu, io = time.process_time() - cpu_before, written_bytes() - io_before
    stats = reconciler.committer.stats
    workers = reconciler.workers
    await reconciler.stop()
    unset = sum(
        1
        for device_id in firmware
        for r in store.access_codes.for_device(device_id)
        if r.access_code.status is not AccessCodeStatus.SET
    )
    per_lock = [lock_ops(fw) for fw in firmware.values()]
    busiest = max(sum(c.values()) for c in per_lock)
    busiest_needed = max(c["read_slots"] + c["write_slot"] for c in per_lock)
    writes = sum(c["write_slot"] for c in per_lock)
    rows = sum(w.stats.code_rows_written for w in workers)
    ideal = busiest * latency
    print(f"locks={locks} codes/lock={codes} latency={latency * 1000:.0f} ms")
    print(f"codes not set at the end: {unset}")
    ratio = f" -> {wall / ideal:.2f}x the ideal" if ideal else ""
    print(
        f"wall {wall:.3f} s; ideal {ideal:.3f} s (busiest lock: {busiest} operations, "
        f"{busiest_needed} of them reads and writes){ratio}"
    )
    changes = locks * codes
    print(f"CPU per requested change: {cpu * 1000 / changes:.3f} ms")
    print(f"written to storage per requested change: {io / changes / 1024:.1f} KiB")
    print(f"device writes per requested change: {writes / (locks * codes):.2f}")
    print(
        f"store: {stats.transactions} commits ({stats.transactions / wall:.0f}/s), "
        f"{stats.jobs} jobs, {rows} code rows written ({rows / wall:.0f}/s)"
    )
    print(f"peak RSS {rss_mb():.0f} MB")
    store.close()


async def memory(locks: int, slots: int, codes: int, data_dir: Path) -> None:
    store = Store.open(data_dir, clock=SystemClock())
    firmware = build(store, locks, codes, slots, 0.0)
    gc.collect()
    before = current_rss_mb()
    wall, reconciler = await reconcile(store, firmware)
    gc.collect()
    after = current_rss_mb()
    unset = sum(
        1
        for device_id in firmware
        for r in store.access_codes.for_device(device_id)
        if r.access_code.status is not AccessCodeStatus.SET
    )
    await reconciler.stop()
    print(f"locks={locks} slots/lock={slots} codes/lock={codes}; settled in {wall:.1f} s")
    print(f"codes not set at the end: {unset}")
    print(
        f"RSS with the store and simulated locks: {before:.0f} MB; with the reconciler "
        f"running every lock: {after:.0f} MB; peak {rss_mb():.0f} MB"
    )
    store.close()


async def floor(locks: int, codes: int, latency: float) -> None:
    clock = SystemClock()
    profile = dataclasses.replace(get_profile("kwikset"), slot_count=max(30, codes))
    programmers = [
        await open_lock(
            f"sim://kwikset?id=floor-{i}&latency={latency}",
            clock=clock,
            firmware=LockFirmware(profile, clock=clock, lock_id=f"floor-{i}"),
        )
        for i in range(locks)
    ]

    async def one(lock: SlotProgrammer) -> None:
        await lock.info()
        await lock.read_slots()
        for n in range(codes):
            await lock.write_slot(n + 1, SlotEntry(code=pin(n), name=f"Guest {n}"))

    cpu_before, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(lock) for lock in programmers))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    ideal = (codes + 2) * latency
    print(f"locks={locks} codes/lock={codes} latency={latency * 1000:.0f} ms; locks only")
    print(f"wall {wall:.3f} s; ideal {ideal:.3f} s -> {wall / ideal:.2f}x the ideal")
    print(f"CPU {cpu:.3f} s ({cpu * 1e6 / (locks * (codes + 2)):.0f} us per lock operation)")
    for lock in programmers:
        await lock.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--locks", type=int, help="200, or 1000 with --memory")
    parser.add_argument("--codes", type=int, help="codes per lock: 25, or 10 with --memory")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per operation")
    parser.add_argument("--memory", action="store_true", help="the memory run instead")
    parser.add_argument("--floor", action="store_true", help="the simulated locks alone")
    parser.add_argument("--slots", type=int, default=250, help="slots per lock (--memory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.floor:
            asyncio.run(floor(args.locks or 200, args.codes or 25, args.latency))
        elif args.memory:
            locks, codes = args.locks or 1000, args.codes or 10
            asyncio.run(memory(locks, args.slots, codes, Path(tmp)))
        else:
            locks, codes = args.locks or 200, args.codes or 25
            asyncio.run(fleet(locks, codes, args.latency, Path(tmp)))


if __name__ == "__main__":
    main()

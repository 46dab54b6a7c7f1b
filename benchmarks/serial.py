"""Serial driver benchmark: slot writes per second over a pty, bytes on the wire per write,
and throughput on a line paced at 9600 and 115200 baud against that line's limit.

The simulated lock runs in its own process (`keyslot sim serial`), as a real one would sit
behind a USB-UART; the driver is the production one. Run: `python benchmarks/serial.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file is named like
# pyserial's package: drop the folder so `import serial` finds pyserial.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402

from keyslot.drivers import open_lock, parse_lock_url  # noqa: E402
from keyslot.drivers.serial import SerialLock, pair  # noqa: E402
from keyslot.protocol.clock import SystemClock  # noqa: E402
from keyslot.protocol.serial_messages import WriteSlot  # noqa: E402
from keyslot.protocol.slots import SlotEntry  # noqa: E402

CODE_DIGITS = 8
NAME = "Alexandra Berg"  # 14 characters
TARGET_WRITES_PER_S = 500
TARGET_WIRE_RATIO = 2.0


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def load_key(self, lock_url: str) -> bytes | None:
        return self.keys.get(lock_url)

    def save_key(self, lock_url: str, key: bytes) -> None:
        self.keys[lock_url] = key


@contextmanager
def simulated_lock(baud: int | None) -> Iterator[str]:
    """A kwikset lock in pairing mode in another process; yields its pty path."""
    command = [sys.executable, "-m", "keyslot.cli", "sim", "serial", "--profile", "kwikset"]
    command += ["--pairing", *(["--baud", str(baud)] if baud else [])]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        if not ready:
            raise RuntimeError("the simulator did not start")
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(10)


def entry(number: int) -> SlotEntry:
    return SlotEntry(f"{3 + number % 7}{number:0{CODE_DIGITS - 1}d}"[-CODE_DIGITS:], NAME)


async def open_paired(path: str, options: str) -> SerialLock:
    url = f"serial://{path}?{options}"
    keys = MemoryKeys()
    await pair(parse_lock_url(url), keys, SystemClock())
    lock = await open_lock(url, clock=SystemClock(), keys=keys)
    assert isinstance(lock, SerialLock)
    await lock.info()
    return lock


async def writes_per_second(lock: SerialLock, count: int) -> float:
    for number in range(20):  # warm up
        await lock.write_slot(1 + number % 30, entry(number))
    start = time.perf_counter()
    for number in range(count):
        await lock.write_slot(1 + number % 30, entry(number + 1000))
    return count / (time.perf_counter() - start)


async def wire_bytes(lock: SerialLock) -> tuple[int, int, int]:
    """(request bytes, reply bytes, write message body bytes) for one write."""
    channel = lock.channel
    sent, received = channel.bytes_sent, channel.bytes_received
    one = entry(99_999)
    await lock.write_slot(7, one)
    await asyncio.sleep(0.05)  # let the reply's last byte be counted
    body = len(WriteSlot(7, one).encode())
    return channel.bytes_sent - sent, channel.bytes_received - received, body


async def measure(count: int, paced_counts: dict[int, int]) -> dict[str, object]:
    results: dict[str, object] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    with simulated_lock(None) as path:
        lock = await open_paired(path, "timeout=0.5")
        try:
            results["writes_per_s_pty"] = round(await writes_per_second(lock, count), 1)
            request, reply, body = await wire_bytes(lock)
        finally:
            await lock.aclose()
    payload = CODE_DIGITS + len(NAME)
    results.update(
        request_bytes=request,
        reply_bytes=reply,
        wire_bytes_per_write=request + reply,
        write_body_bytes=body,
        code_and_name_bytes=payload,
        wire_ratio_to_code_and_name=round((request + reply) / payload, 2),
        wire_ratio_to_write_body=round((request + reply) / body, 2),
    )
    for baud, paced in paced_counts.items():
        with simulated_lock(baud) as path:
            lock = await open_paired(path, f"baud={baud}&timeout=1")
            try:
                rate = await writes_per_second(lock, paced)
            finally:
                await lock.aclose()
        limit = baud / 10 / (request + reply)
        results[f"writes_per_s_{baud}_baud"] = round(rate, 1)
        results[f"line_limit_{baud}_baud"] = round(limit, 1)
        results[f"share_of_line_limit_{baud}_baud"] = round(rate / limit, 3)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000, help="writes for the pty rate")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = asyncio.run(measure(args.writes, {9600: 60, 115200: 400}))
    for name, value in results.items():
        print(f"{name:34} {value}")
    ok_rate = float(results["writes_per_s_pty"]) >= TARGET_WRITES_PER_S  # type: ignore[arg-type]
    ok_ratio = float(results["wire_ratio_to_code_and_name"]) <= TARGET_WIRE_RATIO  # type: ignore[arg-type]
    print(f"target >= {TARGET_WRITES_PER_S} writes/s over a pty: {'met' if ok_rate else 'MISSED'}")
    print(f"target wire bytes <= {TARGET_WIRE_RATIO}x payload: {'met' if ok_ratio else 'MISSED'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0 if ok_rate and ok_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Gateway footprint: memory and CPU of `keyslot serve` driving 50 simulated locks.

Starts `keyslot serve` (the same command the systemd unit runs) with a config of simulated
locks of every profile, creates access codes through the HTTP API, waits until every code
is set on its lock, and samples the process from /proc: resident memory (RSS, its peak,
and PSS when readable) and CPU time, per phase:

    startup    process start until the gateway listens
    idle       locks registered, no codes yet
    load       creating the codes over HTTP, until every one is set on its lock
    steady     all codes set, nothing asked of the gateway

The simulated locks' firmware runs inside the gateway process (`sim://`), so the numbers
are an upper bound for the same number of real locks, whose firmware runs on the lock.

    .venv/bin/python benchmarks/gateway_footprint.py [--locks 50] [--serial 0]
        [--codes-per-lock 4] [--idle 30] [--steady 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROFILES = ("kwikset", "nuki", "schlage", "split")
START_LIMIT = 120.0
SET_LIMIT = 600.0
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@dataclass
class Sample:
    """One look at the process: wall time, CPU seconds used so far, memory in KiB."""

    at: float
    cpu: float
    rss_kib: int
    pss_kib: int | None


@dataclass
class Phase:
    name: str
    seconds: float
    cpu_percent: float  # of one core
    rss_mean_mib: float
    rss_max_mib: float
    pss_mean_mib: float | None
    samples: int


@dataclass
class Result:
    locks: int
    serial: int
    codes: int
    python: str
    machine: str
    cpu_model: str
    startup_seconds: float
    create_seconds: float
    set_seconds: float
    peak_rss_mib: float
    threads: int
    phases: list[Phase] = field(default_factory=list)


def look(pid: int) -> Sample:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE // 1024
    pss = None
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
                break
    except OSError:
        pass
    return Sample(time.monotonic(), cpu, rss, pss)


def status_value(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


class Sampler:
    """Looks at the process every `interval` seconds in a thread, so load does not delay it."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(look(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.samples.append(look(self.pid))


def summarize(name: str, samples: list[Sample]) -> Phase:
    first, last = samples[0], samples[-1]
    seconds = max(last.at - first.at, 1e-9)
    rss = [s.rss_kib / 1024 for s in samples]
    pss = [s.pss_kib / 1024 for s in samples if s.pss_kib is not None]
    return Phase(
        name=name,
        seconds=round(seconds, 1),
        cpu_percent=round((last.cpu - first.cpu) / seconds * 100, 2),
        rss_mean_mib=round(sum(rss) / len(rss), 1),
        rss_max_mib=round(max(rss), 1),
        pss_mean_mib=round(sum(pss) / len(pss), 1) if pss else None,
        samples=len(samples),
    )


def write_config(workdir: Path, locks: int, serial: int) -> Path:
    """`locks` simulated locks: `serial` of them behind the serial front-end on a pty
    (driven through the real serial driver), the rest in-process (`sim://`)."""
    data = workdir / "data"
    lines = ["[gateway]", f'data_dir = "{data}"', 'log_level = "warning"', ""]
    for i in range(serial):
        profile = PROFILES[i % len(PROFILES)]
        lines += ["[[simulators]]", f'profile = "{profile}"', f'id = "serial-{i:02d}"', ""]
    for i in range(serial, locks):
        profile = PROFILES[i % len(PROFILES)]
        state = workdir / "locks" / f"lock-{i:02d}.json"
        lines += [
            "[[locks]]",
            f'url = "sim://{profile}?id=lock-{i:02d}&state={state}"',
            f'name = "Lock {i:02d}"',
            "",
        ]
    (workdir / "locks").mkdir()
    config = workdir / "keyslot.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def call(port: int, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if answer.status != 200:
        raise RuntimeError(f"{path} answered {answer.status}: {data[:300]!r}")
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def wait_until(check: Callable[[], bool], limit: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit:
            raise RuntimeError(f"{what} did not happen within {limit:g} s")
        time.sleep(0.25)
    return time.monotonic() - start


def cpu_model() -> str:
    """`model name` on x86, the board's `Model` line on a Raspberry Pi."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            info.setdefault(name.strip().lower(), value.strip())
    except OSError:
        pass
    for name in ("model name", "model", "hardware"):
        if info.get(name) and not info[name].isdigit():
            return info[name]
    return platform.processor() or "unknown"


@dataclass(frozen=True)
class Plan:
    locks: int
    serial: int
    per_lock: int
    idle: float
    steady: float
    interval: float


def run(plan: Plan) -> Result:
    keyslot = Path(sys.executable).parent / "keyslot"
    with tempfile.TemporaryDirectory(prefix="keyslot-footprint-") as scratch:
        workdir = Path(scratch)
        config = write_config(workdir, plan.locks, plan.serial)
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(keyslot), "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            return measure(proc, workdir, started, plan)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def measure(proc: subprocess.Popen[str], workdir: Path, started: float, plan: Plan) -> Result:
    locks, interval = plan.locks, plan.interval
    assert proc.stdout is not None
    port = None
    for line in proc.stdout:
        match = LISTENING.search(line)
        if match:
            port = int(match.group(1))
            break
        if time.monotonic() - started > START_LIMIT:
            break
    if port is None:
        raise RuntimeError("the gateway did not start")
    startup = time.monotonic() - started
    # keep reading its output so a full pipe never blocks the gateway
    threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
    key = (workdir / "data" / "api-key").read_text().strip()
    devices = [d["device_id"] for d in call(port, key, "/devices/list", {})["devices"]]
    if len(devices) != locks:
        raise RuntimeError(f"the gateway lists {len(devices)} locks, not {locks}")

    phases = []
    with Sampler(proc.pid, interval) as sampler:
        time.sleep(plan.idle)
    phases.append(summarize("idle", sampler.samples))

    codes = locks * plan.per_lock
    with Sampler(proc.pid, interval) as sampler:
        t0 = time.monotonic()
        for n in range(codes):
            body = {"device_id": devices[n % locks], "name": f"Guest {n}"}
            call(port, key, "/access_codes/create", body)
        created = time.monotonic() - t0

        def all_set() -> bool:
            listed = call(port, key, "/access_codes/list", {"limit": codes + 10})
            states = [c["status"] for c in listed["access_codes"]]
            return len(states) == codes and all(s == "set" for s in states)

        set_after = created + wait_until(all_set, SET_LIMIT, "every code set on its lock")
    phases.append(summarize("load", sampler.samples))

    with Sampler(proc.pid, interval) as sampler:
        time.sleep(plan.steady)
    phases.append(summarize("steady", sampler.samples))

    return Result(
        locks=locks,
        serial=plan.serial,
        codes=codes,
        python=platform.python_version(),
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        cpu_model=cpu_model(),
        startup_seconds=round(startup, 2),
        create_seconds=round(created, 2),
        set_seconds=round(set_after, 2),
        peak_rss_mib=round(status_value(proc.pid, "VmHWM") / 1024, 1),
        threads=status_value(proc.pid, "Threads"),
        phases=phases,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--locks", type=int, default=50)
    parser.add_argument(
        "--serial", type=int, default=0, help="how many of the locks sit behind a serial pty"
    )
    parser.add_argument("--codes-per-lock", type=int, default=4)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds sampled before codes")
    parser.add_argument("--steady", type=float, default=60.0, help="seconds sampled after")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(
        Plan(args.locks, args.serial, args.codes_per_lock, args.idle, args.steady, args.interval)
    )
    print(
        f"keyslot serve with {result.locks} simulated locks ({result.serial} on a serial pty), "
        f"{result.codes} access codes"
    )
    print(f"  {result.cpu_model} ({result.machine}), Python {result.python}")
    print(f"  startup to listening  {result.startup_seconds:7.2f} s")
    print(f"  {result.codes} creates over HTTP  {result.create_seconds:7.2f} s")
    print(f"  until all codes set   {result.set_seconds:7.2f} s")
    print(f"  peak RSS (VmHWM)      {result.peak_rss_mib:7.1f} MiB, {result.threads} threads")
    print(f"  {'phase':<8} {'seconds':>8} {'CPU %':>7} {'RSS mean':>9} {'RSS max':>8} {'PSS':>7}")
    for p in result.phases:
        pss = "-" if p.pss_mean_mib is None else f"{p.pss_mean_mib:.1f}"
        print(
            f"  {p.name:<8} {p.seconds:8.1f} {p.cpu_percent:7.2f} "
            f"{p.rss_mean_mib:9.1f} {p.rss_max_mib:8.1f} {pss:>7}"
        )
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

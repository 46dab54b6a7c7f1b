"""`keyslot doctor`: check what a bench or gateway needs and say exactly what is wrong.

With `--config` it checks what that gateway config uses; with `--lock URL` (repeatable)
what those locks need; always the data directory, the store key and the clock. Exit status
0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

__all__ = ["configure", "render", "run"]

_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the gateway's TOML config to check")
    parser.add_argument(
        "--lock",
        action="append",
        default=[],
        metavar="URL",
        help="a lock URL to check (repeatable), e.g. serial:///dev/ttyUSB0",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="the store's directory (default: the config's, else $KEYSLOT_DATA_DIR or "
        "~/.local/share/keyslot)",
    )
    parser.add_argument(
        "--dbus-socket",
        type=Path,
        help="the D-Bus system bus socket (default: from $DBUS_SYSTEM_BUS_ADDRESS, "
        "else /run/dbus/system_bus_socket)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds each network check may take"
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def render(results: list[object], out: TextIO) -> None:
    """One line per finding, its fix indented below; a summary line first."""
    from keyslot.doctor import CheckResult, Status

    findings = [r for r in results if isinstance(r, CheckResult)]
    failed = sum(r.status is Status.FAIL for r in findings)
    warned = sum(r.status is Status.WARN for r in findings)
    plural = "" if warned == 1 else "s"
    out.write(
        f"keyslot doctor: {len(findings)} checks, {failed} failed, {warned} warning{plural}\n"
    )
    width = max((len(r.check) for r in findings), default=0)
    for r in findings:
        out.write(f"  {_MARK[r.status.value]}  {r.check:<{width}}  {r.message}\n")
        if r.fix and r.status is not Status.OK:
            out.write(f"  {'':4}  {'':<{width}}  fix: {r.fix}\n")


def run(args: argparse.Namespace) -> int:
    from keyslot.doctor import Status, fail, install_time, ok
    from keyslot.doctor_net import system_bus_socket
    from keyslot.doctor_plan import DoctorSetup, run_doctor
    from keyslot.store import default_data_dir

    lock_urls: list[str] = list(args.lock)
    data_dir: Path | None = args.data_dir
    config_result = None
    if args.config is not None:
        from keyslot.gateway.config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            config_result = fail("config", exc.message, "fix the file (hardware/examples/)")
        else:
            lock_urls = [lock.url for lock in config.locks] + lock_urls
            data_dir = data_dir or config.data_dir
            simulated = f", {len(config.simulators)} simulators" if config.simulators else ""
            config_result = ok(
                "config", f"{args.config} loads: {len(config.locks)} locks{simulated}"
            )
    setup = DoctorSetup(
        data_dir=(data_dir or default_data_dir()).expanduser(),
        lock_urls=lock_urls,
        config_result=config_result,
        gateway=args.config is not None,
        dbus_socket=args.dbus_socket or system_bus_socket(),
        timeout=args.timeout,
        not_before=install_time(),
    )
    results = asyncio.run(run_doctor(setup))
    if args.json:
        json.dump([r.to_dict() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(list(results), sys.stdout)
    return 1 if any(r.status is Status.FAIL for r in results) else 0

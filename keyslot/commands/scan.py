"""`keyslot scan`: list the keyslot BLE locks within radio range, nearest first.

A lock in pairing mode is marked: that is the one `keyslot pair ble://…` can pair with now.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from keyslot.commands._local import print_json, print_table, run_guarded

if TYPE_CHECKING:
    from keyslot.drivers.ble_scan import FoundLock

__all__ = ["configure", "report", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (default: 5)")
    parser.add_argument("--limit", type=int, help="stop after this many locks were heard")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def report(locks: list[FoundLock], *, as_json: bool, out: TextIO) -> None:
    """Print what a scan heard."""
    if as_json:
        print_json(
            [{"url": f.url, "name": f.name, "rssi": f.rssi, "pairing": f.pairing} for f in locks],
            out,
        )
        return
    if not locks:
        out.write("no keyslot locks heard; is the lock awake and within range?\n")
        return
    rows = [[f.url, f"{f.rssi} dBm", "yes" if f.pairing else "", f.name or ""] for f in locks]
    print_table(rows, ["LOCK", "RSSI", "PAIRING", "NAME"], out)


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        sys.stderr.write("keyslot: --timeout must be positive\n")
        return 2

    def action() -> int:
        from keyslot.drivers.ble import scan
        from keyslot.protocol.clock import SystemClock

        locks = asyncio.run(scan(clock=SystemClock(), timeout=args.timeout, limit=args.limit))
        report(locks, as_json=args.json, out=sys.stdout)
        return 0

    return run_guarded(action)

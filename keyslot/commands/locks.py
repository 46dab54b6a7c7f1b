"""`keyslot locks list|add|remove`: the locks in the local store, added by URL
(`sim://kwikset`, `serial:///dev/ttyUSB0`, `ble://AA:BB:…`, `zwave+mqtt://host/5`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from keyslot.commands._local import (
    add_data_dir,
    open_store,
    print_json,
    print_table,
    run_guarded,
)
from keyslot.protocol.slots import FinalError


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list the locks")
    listing.add_argument("--json", action="store_true", help="print Seam's device objects")
    add = sub.add_parser("add", help="add a lock by URL")
    add.add_argument("url", help="lock URL, e.g. sim://kwikset?id=front or serial:///dev/ttyUSB0")
    add.add_argument("--name", help="what to call the lock (default: from the URL)")
    remove = sub.add_parser("remove", help="forget a lock and its codes (the lock is not touched)")
    remove.add_argument("lock", help="device id, name or URL of the lock")


def find_device(store: Any, ref: str) -> Any:
    """A device by id, exact name or lock URL; None if none or several match."""
    found = store.devices.get(ref) or store.devices.by_url(ref)
    if found is not None:
        return found
    named = [d for d in store.devices.all() if d.name == ref]
    return named[0] if len(named) == 1 else None


class NoSingleLock(FinalError):
    """A lock reference that matches no lock in the store, or several."""

    code = "no_single_lock"


def require_device(store: Any, ref: str) -> Any:
    """`find_device`, or `NoSingleLock` (which `run_guarded` reports) when it finds none."""
    device = find_device(store, ref)
    if device is None:
        raise NoSingleLock("no single lock has that id, name or URL")
    return device


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from keyslot.service import Service

    out = sys.stdout
    with open_store(args) as store:
        service = Service(store)
        if args.action == "list":
            records = store.devices.all()
            if args.json:
                print_json([r.device(store.workspace_id).to_dict() for r in records], out)
                return 0
            rows = [
                [
                    r.device_id,
                    r.name,
                    r.redacted_url,
                    "online" if r.online else "offline",
                    "-" if r.lock_info is None else f"{r.lock_info.vendor} {r.lock_info.model}",
                    str(len(store.access_codes.for_device(r.device_id))),
                ]
                for r in records
            ]
            print_table(rows, ["DEVICE ID", "NAME", "URL", "STATE", "MODEL", "CODES"], out)
            return 0
        if args.action == "add":
            record = service.add_device(lock_url=args.url, name=args.name)
            out.write(f"{record.device_id}\n")
            return 0
        device = require_device(store, args.lock)
        service.remove_device(device_id=device.device_id)
        out.write(f"removed {device.device_id} ({device.name})\n")
        return 0

"""`keyslot codes list|create|get|delete`: access codes in the local store, through the same
service (and checks) as the HTTP API. PINs are printed masked unless `--show-codes`.

A running `keyslot serve` picks up codes changed here on its next pass over the store.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from keyslot.commands._local import (
    add_data_dir,
    mask,
    open_store,
    print_json,
    print_table,
    run_guarded,
)
from keyslot.commands.locks import require_device


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = sub.add_parser("list", help="list access codes")
    listing.add_argument("--lock", help="only this lock (device id, name or URL)")
    _output_options(listing)

    create = sub.add_parser("create", help="create an access code")
    create.add_argument("--lock", required=True, help="device id, name or URL of the lock")
    create.add_argument("--name", help="what the owner calls the code")
    create.add_argument("--code", help="the PIN (default: a random one the lock takes)")
    create.add_argument("--starts-at", help="ISO 8601 time with a zone, e.g. 2026-05-01T15:00Z")
    create.add_argument("--ends-at", help="ISO 8601 time with a zone")
    create.add_argument("--common-code-key", help="share the PIN with codes of this key")
    create.add_argument("--preferred-code-length", type=int, help="length of a generated PIN")
    create.add_argument(
        "--allow-external-modification",
        action="store_true",
        help="keep changes made at the keypad instead of undoing them",
    )
    create.add_argument(
        "--no-native-scheduling",
        action="store_true",
        help="program a time-bound code just in time even if the lock keeps schedules",
    )
    _output_options(create)

    get = sub.add_parser("get", help="show one access code")
    get.add_argument("access_code_id")
    _output_options(get)

    delete = sub.add_parser("delete", help="delete an access code (removed from the lock)")
    delete.add_argument("access_code_id")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show-codes", action="store_true", help="print PINs in full")
    parser.add_argument("--json", action="store_true", help="print Seam's access_code objects")


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from keyslot.service import Service

    out = sys.stdout
    with open_store(args) as store:
        service = Service(store)
        if args.action == "list":
            device_id = None
            if args.lock is not None:
                device_id = require_device(store, args.lock).device_id
            codes, _ = service.list_access_codes(device_id=device_id)
            _show(codes, args, out, names=_device_names(store))
            return 0
        if args.action == "create":
            device = require_device(store, args.lock)
            code, _ = service.create_access_code(
                device_id=device.device_id,
                name=args.name,
                code=args.code,
                starts_at=args.starts_at,
                ends_at=args.ends_at,
                common_code_key=args.common_code_key,
                preferred_code_length=args.preferred_code_length,
                is_external_modification_allowed=args.allow_external_modification or None,
                prefer_native_scheduling=False if args.no_native_scheduling else None,
            )
            _show([code], args, out, names=_device_names(store))
            return 0
        if args.action == "get":
            code = service.get_access_code(access_code_id=args.access_code_id)
            _show([code], args, out, names=_device_names(store))
            return 0
        attempt = service.delete_access_code(access_code_id=args.access_code_id)
        state = "deleted" if attempt.status.value == "success" else "removing from the lock"
        out.write(f"{args.access_code_id}: {state}\n")
        return 0


def _device_names(store: Any) -> dict[str, str]:
    return {d.device_id: d.name for d in store.devices.all()}


def _show(
    codes: list[Any], args: argparse.Namespace, out: TextIO, *, names: dict[str, str]
) -> None:
    if args.json:
        items = []
        for code in codes:
            data = code.to_dict()
            data["code"] = mask(code.code, args.show_codes) if code.code is not None else None
            items.append(data)
        print_json(items if len(items) != 1 or args.action == "list" else items[0], out)
        return
    rows = [
        [
            c.access_code_id,
            names.get(c.device_id, c.device_id),
            c.name or "-",
            mask(c.code, args.show_codes),
            c.status.value,
            _when(c),
        ]
        for c in codes
    ]
    print_table(rows, ["ACCESS CODE ID", "LOCK", "NAME", "CODE", "STATUS", "WHEN"], out)


def _when(code: Any) -> str:
    if code.starts_at is None or code.ends_at is None:
        return "ongoing"
    start = code.starts_at.isoformat(timespec="minutes")
    end = code.ends_at.isoformat(timespec="minutes")
    return f"{start} → {end}"

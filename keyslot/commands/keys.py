"""`keyslot keys create|list|revoke`: API keys for the HTTP API. A key is printed once, at
creation; the store keeps only its SHA-256 hash and a short prefix to tell keys apart."""

from __future__ import annotations

import argparse
import sys

from keyslot.commands._local import add_data_dir, fail, open_store, print_table, run_guarded


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="make a key and print it (once)")
    create.add_argument("--name", default="default", help="what the key is for")
    listing = sub.add_parser("list", help="list keys (prefixes only)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    revoke = sub.add_parser("revoke", help="revoke a key by id, prefix or the key itself")
    revoke.add_argument("key", help="key id, prefix (seam_xxxxxxxx) or the whole key")


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    out = sys.stdout
    with open_store(args) as store:
        if args.action == "create":
            record, key = store.api_keys.create(args.name)
            out.write(f"{key}\n")
            sys.stderr.write(
                f"created API key {record.api_key_id} ({record.prefix}…); "
                "it is shown only now, keep it somewhere safe\n"
            )
            return 0
        if args.action == "list":
            keys = store.api_keys.all(include_revoked=args.all)
            rows = [
                [
                    k.api_key_id,
                    f"{k.prefix}…",
                    k.name,
                    k.created_at.isoformat(timespec="seconds"),
                    "-" if k.last_used_at is None else k.last_used_at.isoformat(timespec="seconds"),
                    "revoked" if k.revoked_at else "active",
                ]
                for k in keys
            ]
            print_table(rows, ["ID", "PREFIX", "NAME", "CREATED", "LAST USED", "STATE"], out)
            return 0
        revoked = store.api_keys.revoke(args.key)
        if not revoked:
            return fail("no active API key matches")
        for k in revoked:
            out.write(f"revoked {k.api_key_id} ({k.prefix}…)\n")
        return 0

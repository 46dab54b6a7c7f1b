"""`keyslot restore FILE`: put a backup's store and key back into the data directory.

It checks the whole backup (passphrase, checksum, SQLite integrity, key, schema) before it
touches anything, refuses while a process has the store open, and replaces an existing
store only with `--force`, moving the old store and key into `replaced-<time>/`.
`--verify` only checks the file and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from keyslot.commands._local import add_data_dir, fail, run_guarded

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    parser.add_argument("file", type=Path, help="the backup file (`-` for stdin)")
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        help="file whose first line is the passphrase; "
        "default $KEYSLOT_BACKUP_PASSPHRASE or a prompt",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing store (kept aside, not deleted)"
    )
    parser.add_argument(
        "--verify", action="store_true", help="check the backup opens and is whole; write nothing"
    )


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    import tempfile

    from keyslot.backup import open_backup, read_passphrase
    from keyslot.backup_store import check_database, restore_store
    from keyslot.store import default_data_dir

    if str(args.file) == "-":
        if args.passphrase_file is not None and str(args.passphrase_file) == "-":
            return fail("stdin cannot carry both the backup and the passphrase")
        blob = sys.stdin.buffer.read()
    else:
        try:
            blob = args.file.read_bytes()
        except OSError as exc:
            return fail(f"cannot read {args.file}: {exc.strerror}")
    contents = open_backup(blob, read_passphrase(args.passphrase_file, confirm=False))
    manifest = contents.manifest
    made = f"made {manifest.get('created_at')} by keyslot {manifest.get('keyslot_version')}"
    if args.verify:
        with tempfile.TemporaryDirectory(prefix="keyslot-verify-") as scratch:
            copy = Path(scratch) / "keyslot.db"
            copy.write_bytes(contents.database)
            facts = check_database(copy, contents.store_key)
        print(
            f"backup OK: workspace {facts['workspace_id']}, schema {facts['schema_version']}, "
            f"{len(contents.database)} bytes, {made}"
        )
        return 0
    data_dir = (args.data_dir or default_data_dir()).expanduser()
    result = restore_store(data_dir, contents, force=args.force)
    print(f"restored workspace {result.workspace_id} into {result.db_path} ({made})")
    if result.key_file is not None:
        print(f"store key written to {result.key_file} (mode 0600)")
    else:
        print("store key not written: KEYSLOT_STORE_KEY already holds it")
    if result.moved_aside is not None:
        print(f"the store it replaced is kept in {result.moved_aside}")
    return 0

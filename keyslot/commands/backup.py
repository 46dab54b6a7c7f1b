"""`keyslot backup FILE`: the store and its key in one file, encrypted with a passphrase.

Safe while the gateway runs (SQLite's online backup API). The passphrase comes from
`--passphrase-file`, `$KEYSLOT_BACKUP_PASSPHRASE`, or the terminal; keep it off the gateway.
`FILE` may be `-` for stdout, e.g. `keyslot backup - | ssh host 'cat > gw.ksbackup'`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from keyslot.commands._local import add_data_dir, fail, run_guarded

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    parser.add_argument("file", type=Path, help="the backup file to write (`-` for stdout)")
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        help="file whose first line is the passphrase (`-` reads stdin); "
        "default $KEYSLOT_BACKUP_PASSPHRASE or a prompt",
    )
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def run(args: argparse.Namespace) -> int:
    return run_guarded(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from keyslot.backup import read_passphrase, seal_backup
    from keyslot.backup_store import snapshot_store
    from keyslot.store import default_data_dir

    data_dir = (args.data_dir or default_data_dir()).expanduser()
    to_stdout = str(args.file) == "-"
    if not to_stdout and args.file.exists() and not args.force:
        return fail(f"{args.file} exists; add --force to overwrite it")
    contents = snapshot_store(data_dir)
    passphrase = read_passphrase(args.passphrase_file, confirm=True)
    blob = seal_backup(contents.manifest, contents.database, passphrase)
    if to_stdout:
        sys.stdout.buffer.write(blob)
        sys.stdout.buffer.flush()
    else:
        _write_atomically(args.file, blob)
    summary = (
        f"backed up the store of {data_dir} (workspace {contents.manifest['workspace_id']}, "
        f"{len(contents.database)} bytes) and its key"
    )
    sys.stderr.write(f"{summary}{'' if to_stdout else f' to {args.file}'}\n")
    return 0


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside `path` and rename, so a half-written backup never has the final name."""
    temp = path.with_name(f".{path.name}.partial")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)

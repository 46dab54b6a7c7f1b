"""Taking a store out of a data directory for a backup, and putting one back.

The snapshot uses SQLite's online backup API on a read-only connection, so it is
consistent while the gateway keeps writing and never migrates or locks the live store.
A restore checks everything (integrity, key, schema) before it touches the directory,
refuses a store that a process has open, and with `force` moves the replaced store and
key aside instead of deleting them: a mistaken restore loses nothing.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyslot.backup import BackupContents, BackupError

__all__ = ["RestoreResult", "check_database", "restore_store", "snapshot_store", "store_key_of"]

_SIDE_FILES = ("-wal", "-shm", "-journal")


def store_key_of(data_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The key the store of `data_dir` is opened with; never creates one."""
    from keyslot.store import StoreKeyError
    from keyslot.store.crypto import ENV_KEY, KEY_FILE_NAME, parse_key

    env = os.environ if environ is None else environ
    try:
        if env.get(ENV_KEY):
            return parse_key(env[ENV_KEY])
        key_file = data_dir / KEY_FILE_NAME
        try:
            text = key_file.read_text(encoding="ascii")
        except FileNotFoundError:
            raise BackupError(
                f"the store's key {key_file} is missing; without it the backup would be useless"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BackupError(f"cannot read the store key {key_file}: {exc}") from None
        return parse_key(text)
    except StoreKeyError as exc:
        raise BackupError(exc.message) from None


def check_database(path: Path, key: bytes) -> dict[str, Any]:
    """Integrity, key and schema of a database file; its workspace id and schema version."""
    from keyslot.store.crypto import Cipher
    from keyslot.store.migrations import LATEST_VERSION, current_version

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from None
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise BackupError(f"the database fails SQLite's integrity check: {integrity}")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        version = current_version(conn)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} is not a keyslot database: {exc}") from None
    finally:
        conn.close()
    if meta.get("key_check") != Cipher(key).key_check():
        raise BackupError("the store key does not open this database (they do not belong together)")
    if version > LATEST_VERSION:
        raise BackupError(
            f"the database has schema version {version}, newer than this keyslot "
            f"({LATEST_VERSION}); upgrade keyslot first"
        )
    return {"workspace_id": meta.get("workspace_id"), "schema_version": version}


def snapshot_store(
    data_dir: Path, *, environ: Mapping[str, str] | None = None, now: datetime | None = None
) -> BackupContents:
    """A consistent copy of the store of `data_dir` and its key, checked to belong together."""
    from keyslot import __version__
    from keyslot.store import DB_FILE_NAME

    db_path = data_dir / DB_FILE_NAME
    if not db_path.is_file():
        raise BackupError(f"there is no store at {db_path} (wrong --data-dir?)")
    key = store_key_of(data_dir, environ)
    with tempfile.TemporaryDirectory(prefix="keyslot-backup-") as scratch:
        copy = Path(scratch) / DB_FILE_NAME
        try:
            source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10.0)
            try:
                target = sqlite3.connect(copy)
                try:
                    source.backup(target)
                    target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                finally:
                    target.close()
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy the store {db_path}: {exc}") from None
        facts = check_database(copy, key)
        database = copy.read_bytes()
    manifest = {
        "format": 1,
        "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "keyslot_version": __version__,
        "schema_version": facts["schema_version"],
        "workspace_id": facts["workspace_id"],
        "database_bytes": len(database),
        "database_sha256": hashlib.sha256(database).hexdigest(),
        "store_key": key.hex(),
    }
    return BackupContents(manifest, database)


def processes_using(db_path: Path, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """Processes (that this user may see) holding the database or its WAL open."""
    from keyslot.doctor_serial import processes_holding

    holders: list[tuple[int, str]] = []
    for candidate in (db_path, Path(f"{db_path}-wal")):
        if candidate.exists():
            holders += [h for h in processes_holding(candidate, proc) if h not in holders]
    return holders


@dataclass(frozen=True, slots=True)
class RestoreResult:
    db_path: Path
    key_file: Path | None
    moved_aside: Path | None
    workspace_id: str | None


def _write_private(path: Path, data: bytes, owner: tuple[int, int] | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if owner is not None:
            os.fchown(fd, *owner)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_aside(data_dir: Path, names: list[str], stamp: str) -> Path:
    aside = data_dir / f"replaced-{stamp}"
    aside.mkdir(mode=0o700)
    for name in names:
        if (data_dir / name).exists():
            os.replace(data_dir / name, aside / name)
    return aside


def restore_store(
    data_dir: Path,
    contents: BackupContents,
    *,
    force: bool = False,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    proc: Path = Path("/proc"),
) -> RestoreResult:
    """Put the backup's store and key into `data_dir`, checked first, nothing lost."""
    from keyslot.store import DB_FILE_NAME
    from keyslot.store.crypto import ENV_KEY, KEY_FILE_NAME

    env = os.environ if environ is None else environ
    key = contents.store_key
    db_path, key_file = data_dir / DB_FILE_NAME, data_dir / KEY_FILE_NAME
    write_key = True
    if env.get(ENV_KEY):
        if store_key_of(data_dir, env) != key:
            raise BackupError(
                f"{ENV_KEY} is set to another key than the backup's, so the restored store "
                f"would not open; unset {ENV_KEY} (the key then goes to {key_file})"
            )
        write_key = False
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    holders = processes_using(db_path, proc)
    if holders:
        pid, comm = holders[0]
        raise BackupError(
            f"the store {db_path} is open in {comm} (pid {pid}); stop the gateway first "
            "(sudo systemctl stop keyslot), then restore"
        )
    existing = [n for n in (DB_FILE_NAME, KEY_FILE_NAME) if (data_dir / n).exists()]
    if DB_FILE_NAME in existing and not force:
        raise BackupError(
            f"a store already exists at {db_path}; restoring replaces it: add --force "
            "(the current store and key are kept in a replaced-<time> directory)"
        )
    info = data_dir.stat()
    owner = (info.st_uid, info.st_gid) if os.geteuid() == 0 and info.st_uid != 0 else None
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    staged_db = data_dir / f".{DB_FILE_NAME}.restore-{stamp}"
    staged_key = data_dir / f".{KEY_FILE_NAME}.restore-{stamp}"
    try:
        _write_private(staged_db, contents.database, owner)
        facts = check_database(staged_db, key)
        if write_key:
            _write_private(staged_key, (key.hex() + "\n").encode("ascii"), owner)
        moved = None
        side = [DB_FILE_NAME + s for s in _SIDE_FILES]
        if existing or any((data_dir / n).exists() for n in side):
            moved = _move_aside(data_dir, [*existing, *side], stamp)
        if write_key:
            os.replace(staged_key, key_file)
        os.replace(staged_db, db_path)
        _fsync_dir(data_dir)
    finally:
        staged_db.unlink(missing_ok=True)
        staged_key.unlink(missing_ok=True)
    return RestoreResult(
        db_path=db_path,
        key_file=key_file if write_key else None,
        moved_aside=moved,
        workspace_id=facts["workspace_id"],
    )

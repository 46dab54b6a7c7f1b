"""The SQLite connection: WAL, durable commits, one writer, nested transactions, sealed JSON.

Durability, two ways (an accepted change must survive a power cut right after it was
answered):

- default, `synchronous=FULL`: each commit fsyncs the WAL before it returns. Short-lived
  processes (the `keyslot codes ...` commands) use it: their few commits are on disk when
  each call returns, with nothing to remember.
- `group_commit=True`, `synchronous=NORMAL`: commits do not fsync; a caller that must be
  durable before it answers awaits `durable()`, which shares one fsync among every commit
  made before it started (see `keyslot.store.durability` for why that is as safe). The
  gateway uses it: concurrent requests then cost one fsync per batch, not one each. A
  thread of its own checkpoints the WAL (`keyslot.store.checkpoint`), so no commit stalls
  on a checkpoint's fsyncs.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keyslot.model.common import format_time, new_id
from keyslot.protocol.clock import Clock, SystemClock
from keyslot.store import jsoncodec
from keyslot.store.checkpoint import Checkpointer
from keyslot.store.crypto import Cipher
from keyslot.store.durability import DurabilityBarrier
from keyslot.store.errors import StoreConflict, StoreCorrupt, StoreError, StoreKeyError
from keyslot.store.migrations import current_version, migrate

__all__ = ["MEMORY", "Database", "Params"]

MEMORY = ":memory:"
Params = Sequence[Any]
_BUSY_TIMEOUT_MS = 5000
_CHECKPOINT_SAFETY_PAGES = 20000  # SQLite's own checkpoint, should the thread fall behind


@contextmanager
def _wrapped() -> Iterator[None]:
    """SQLite's exceptions become the store's: callers handle one hierarchy."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StoreConflict(f"the store refused a write: {exc}") from exc
    except sqlite3.Error as exc:
        raise StoreError(f"the store failed: {exc}") from exc


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its -wal and -shm
    files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the store database {path}: {exc}") from exc


class Database:
    """One connection used by one writer at a time; every mutation runs in a transaction."""

    def __init__(
        self,
        path: Path | str,
        cipher: Cipher,
        *,
        clock: Clock | None = None,
        group_commit: bool = False,
    ) -> None:
        self.path = str(path)
        self.cipher = cipher
        self.clock: Clock = clock or SystemClock()
        self.group_commit = group_commit and self.path != MEMORY
        self._lock = threading.RLock()
        self._depth = 0
        self._commits = 0  # top-level commits (and writes outside a transaction) so far
        self.durability: DurabilityBarrier | None = None
        self._checkpointer: Checkpointer | None = None
        self._after_commit: list[Callable[[], None]] = []  # run when the transaction commits
        if self.path != MEMORY:
            _create_private(Path(self.path))
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store database {self.path}: {exc}") from exc
        try:
            self._configure()
            migrate(self._conn, now=self.now_text())
            self._check_key()
            if self.group_commit:
                self.durability = self._open_barrier()
                self.durability.sync()
                self._checkpointer = Checkpointer(self.path, lambda: self._commits)
        except sqlite3.DatabaseError as exc:
            self._close_connection()
            raise StoreCorrupt(f"{self.path} is not a usable keyslot database: {exc}") from exc
        except BaseException:
            self._close_connection()
            raise

    def _open_barrier(self) -> DurabilityBarrier:
        try:
            return DurabilityBarrier(self.path, lambda: self._commits)
        except OSError as exc:
            raise StoreError(f"cannot open {self.path} for syncing: {exc.strerror}") from exc

    def _close_connection(self) -> None:
        """Close SQLite's connection, then the barrier's descriptors (never the other way:
        closing a descriptor of the file drops the process's locks on it)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()
        if self.durability is not None:
            self.durability.close()

    def _configure(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if self.path != MEMORY:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {'NORMAL' if self.group_commit else 'FULL'}")
        if self.group_commit:  # a thread checkpoints (see keyslot.store.checkpoint)
            conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_SAFETY_PAGES}")
        conn.execute("PRAGMA foreign_keys = ON")

    def _check_key(self) -> None:
        expected = self.cipher.key_check()
        with self.transaction():
            row = self.one("SELECT value FROM meta WHERE key = 'key_check'")
            if row is None:
                self.execute("INSERT INTO meta (key, value) VALUES ('key_check', ?)", (expected,))
                self.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('workspace_id', ?)",
                    (new_id(),),
                )
            elif row[0] != expected:
                raise StoreKeyError(
                    f"{self.path} was written with a different store key; give the key it was "
                    "created with (its key file, or KEYSLOT_STORE_KEY)"
                )

    # -- time ---------------------------------------------------------------------------

    def now_text(self) -> str:
        return format_time(self.clock.now())

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all; nested blocks are savepoints."""
        with self._lock:
            depth = self._depth
            savepoint = f"sp{depth}"
            with _wrapped():
                self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            # callbacks registered inside this block are the ones after `mark`: a rollback
            # drops them, a release leaves them to the enclosing block (O(1) either way, so
            # a transaction of thousands of events does not slow down with its size)
            mark = len(self._after_commit)
            try:
                yield
            except BaseException:
                self._depth -= 1
                del self._after_commit[mark:]
                if depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    self._conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            if depth == 0:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._after_commit.clear()
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise StoreError(f"the store could not commit: {exc}") from exc
                self._commits += 1
                self._run_after_commit()
                return
            self._conn.execute(f"RELEASE {savepoint}")

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction commits (dropped if it rolls back)."""
        with self._lock:
            if self._depth == 0:
                callback()
            else:
                self._after_commit.append(callback)

    def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # -- statements ---------------------------------------------------------------------

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        with self._lock, _wrapped():
            if self._depth:
                return self._conn.execute(sql, params)
            before = self._conn.total_changes
            cursor = self._conn.execute(sql, params)
            if self._conn.total_changes != before:  # a write that committed by itself
                self._commits += 1
            return cursor

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        with self._lock, _wrapped():
            row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        with self._lock, _wrapped():
            return list(self._conn.execute(sql, params).fetchall())

    # -- durability ---------------------------------------------------------------------

    @property
    def commits(self) -> int:
        """How many commits this connection has made (a durability barrier's clock)."""
        return self._commits

    async def durable(self) -> None:
        """Return once every commit made so far is on disk (at once without group commit:
        each commit was synced before it returned)."""
        if self.durability is not None:
            await self.durability.wait()

    def sync_durable(self) -> None:
        """`durable()` without an event loop: fsyncs in the calling thread if needed."""
        if self.durability is not None:
            self.durability.sync()

    def schema_version(self) -> int:
        with self._lock, _wrapped():
            return current_version(self._conn)

    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- sealed JSON --------------------------------------------------------------------

    def seal_json(self, value: Any, aad: str) -> bytes:
        return self.cipher.seal(jsoncodec.dumps(value, sort_keys=True), aad)

    def open_json(self, blob: bytes, aad: str) -> Any:
        plain = self.cipher.open(bytes(blob), aad)
        try:
            return jsoncodec.loads(plain)
        except ValueError as exc:  # not JSON, or not UTF-8
            raise StoreCorrupt(f"stored JSON of {aad.split(':', 1)[0]} is damaged") from exc

    # -- lifecycle ----------------------------------------------------------------------

    def backup(self, target: Path | str) -> None:
        """A consistent copy of the database while it stays in use (SQLite's backup API)."""
        with self._lock:
            dest = sqlite3.connect(str(target))
            try:
                self._conn.backup(dest)
            finally:
                dest.close()

    def checkpoint(self, *, wait: bool = True) -> None:
        """Fold the WAL into the main file. `wait` also waits for readers and empties the
        WAL (before copying the file); without it, only what no reader needs is folded."""
        if self.path != MEMORY:
            self.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if wait else 'PASSIVE'})")

    def close(self) -> None:
        with self._lock:
            if self._depth:
                raise StoreError("the store cannot close inside a transaction")
            if self.durability is not None and self.durability.pending:
                with contextlib.suppress(StoreError):  # waiters were told; closing still closes
                    self.durability.sync()
            self.checkpoint(wait=False)
            self._close_connection()

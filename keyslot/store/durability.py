"""Group commit: commits do not fsync; a caller that must be durable waits for one shared
fsync of the WAL that covers every commit made before that fsync started.

Why a waiter is as safe against power loss as with `synchronous=FULL`:

- In WAL mode a transaction is committed once its frames, the last one marked as a commit,
  are in the `-wal` file; on the next open SQLite replays every frame up to the last valid
  commit frame (frames carry salts and a running checksum, so a torn or stale tail is cut
  off, never misread). `synchronous=NORMAL` writes the same frames as FULL and only skips
  the fsync after each commit, so the database is never corrupted by a power cut; what it
  may lose is the commits written since the WAL was last synced.
- `fsync` makes durable every write to an inode that completed before it was called, from
  any file descriptor (Linux syncs the inode, not the descriptor). A round records how many
  commits had returned, then fsyncs the `-wal` file through its own descriptor, so each of
  those commits is on disk when the round ends; commits made meanwhile wait for the next.
- Checkpoints need nothing more: with NORMAL, SQLite syncs the WAL before copying frames into
  the database file and syncs the database file before it lets the WAL be reused, so a frame
  is always on disk in one file or the other. A round still fsyncs the database file when it
  changed since the last round (a checkpoint by another connection with other settings),
  and the directory once for each new `-wal` file (its name must survive as well).
- A failed fsync may have dropped the dirty pages it could not write, and a later fsync
  would then succeed without them; so after one failure every later wait fails too, until
  the store is opened again (and SQLite recovers from what really is on disk).
- The descriptors used for fsync stay open until the SQLite connection has closed: closing
  any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
  included, and another process could then take the database for unused and delete the
  live WAL.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyslot.store.errors import StoreError

__all__ = ["Answer", "DurabilityBarrier", "DurabilityStats", "answer_when_durable"]

log = logging.getLogger(__name__)

# A group commit's answer to one caller: its future, its value, or the error it gets.
Answer = tuple["asyncio.Future[Any]", Any, BaseException | None]


async def answer_when_durable(
    durable: Callable[[], Awaitable[None]], answers: Sequence[Answer], what: str
) -> int:
    """Wait for the fsync that covers a committed batch, then answer each caller: its value,
    its own error, or (the fsync failed) that failure, since none of it is known durable.
    A caller that went away is skipped (its change stands all the same). Returns how many
    callers got an error; `what` names them in the log."""
    try:
        await durable()
    except Exception as exc:
        log.exception("the store could not make %d %s durable", len(answers), what)
        answers = [(future, None, exc) for future, _, _ in answers]
    errors = 0
    for future, value, error in answers:
        if future.done():
            continue
        if error is None:
            future.set_result(value)
        else:
            errors += 1
            future.set_exception(error)
    return errors


@dataclass(slots=True)
class DurabilityStats:
    rounds: int = 0  # fsync rounds run (each fsyncs the WAL once)
    waits: int = 0  # calls that had to wait for a round


class DurabilityBarrier:
    """Shared fsyncs for the commits of one connection (`commits()` counts them)."""

    def __init__(self, db_path: str, commits: Callable[[], int]) -> None:
        self._db_path = db_path
        self._wal_path = db_path + "-wal"
        self._dir_path = str(Path(db_path).resolve().parent)
        self._commits = commits
        self._synced = -1  # commits known to be on disk (-1: nothing synced yet)
        self._round: asyncio.Task[None] | None = None
        self._sync_lock = threading.Lock()
        self._db_fd = os.open(db_path, os.O_RDONLY | os.O_CLOEXEC)
        self._wal_fds: dict[tuple[int, int], int] = {}  # by (device, inode); kept open
        self._db_stamp: tuple[int, int] | None = None
        self._failed: StoreError | None = None
        self._closed = False
        self.stats = DurabilityStats()

    def close(self) -> None:
        """Close the descriptors; only once SQLite has closed the database (see above)."""
        with self._sync_lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._db_fd, *self._wal_fds.values()):
                os.close(fd)
            self._wal_fds.clear()

    @property
    def pending(self) -> bool:
        """Whether some commit is not known to be on disk yet."""
        return self._synced < self._commits()

    async def wait(self) -> None:
        """Return once every commit made before this call is on disk.

        Concurrent callers share one fsync; a caller whose commit came after the running
        fsync started waits for the next one. Cancelling a caller does not stop the fsync.
        """
        target = self._commits()
        if self._synced >= target:
            self._raise_if_failed()
            return
        self.stats.waits += 1
        loop = asyncio.get_running_loop()
        while self._synced < target:
            self._raise_if_failed()
            task = self._round
            if task is None or task.done() or task.get_loop() is not loop:
                task = self._round = loop.create_task(self._run_round(), name="store fsync")
                task.add_done_callback(_retrieve)
            await asyncio.shield(task)

    def sync(self) -> None:
        """`wait()` for code without an event loop (the fsync runs in the calling thread)."""
        self._sync_upto(self._commits())

    async def _run_round(self) -> None:
        await asyncio.to_thread(self._sync_upto, self._commits())

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _sync_upto(self, commits: int) -> None:
        with self._sync_lock:
            self._raise_if_failed()
            if self._synced >= commits:
                return
            if self._closed:
                raise StoreError("the store is closed")
            try:
                self._sync_files()
            except OSError as exc:
                self._failed = StoreError(
                    f"the store could not flush its log to disk ({exc.strerror or exc}); "
                    "changes since the last flush may be lost: restart the gateway"
                )
                raise self._failed from exc
            self.stats.rounds += 1
            self._synced = max(self._synced, commits)

    def _sync_files(self) -> None:
        """fsync the WAL; also the database file if it changed, and the directory for a new
        WAL file. Without a WAL file (never written yet) the database file holds it all."""
        new_name = self._db_stamp is None
        wal_fd = self._wal_fd()
        if wal_fd is not None:
            fd, new_wal = wal_fd
            os.fsync(fd)
            new_name = new_name or new_wal
        info = os.fstat(self._db_fd)
        stamp = (info.st_size, info.st_mtime_ns)
        if wal_fd is None or stamp != self._db_stamp:
            os.fsync(self._db_fd)
            self._db_stamp = stamp
        if new_name:
            _fsync_directory(self._dir_path)

    def _wal_fd(self) -> tuple[int, bool] | None:
        """A descriptor of the current WAL file, and whether it is one not seen before."""
        try:
            info = os.stat(self._wal_path)
        except FileNotFoundError:
            return None
        identity = (info.st_dev, info.st_ino)
        fd = self._wal_fds.get(identity)
        if fd is not None:
            return fd, False
        try:
            fd = os.open(self._wal_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        opened = os.fstat(fd)
        self._wal_fds[(opened.st_dev, opened.st_ino)] = fd
        return fd, True


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a directory; nothing to do there
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _retrieve(task: asyncio.Task[None]) -> None:
    """A round nobody waits for any more must not log "exception never retrieved"."""
    if not task.cancelled():
        task.exception()

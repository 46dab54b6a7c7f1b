"""Folding the WAL into the database file from a thread of its own.

SQLite checkpoints by itself inside a commit once the WAL passes 1,000 pages: the committing
thread (the gateway's event loop) then copies the pages and waits for two fsyncs, a stall
of milliseconds on a fast disk and far more on an SD card. With group commit the store turns
that off (but for a far larger safety limit) and lets this thread checkpoint every
`interval` seconds while there are new commits, through a connection of its own with
`synchronous=NORMAL`: SQLite syncs the WAL before copying and the database file after, so
durability does not depend on when, or whether, this runs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["Checkpointer"]

log = logging.getLogger("keyslot.store")


class Checkpointer:
    """A thread that runs `PRAGMA wal_checkpoint(PASSIVE)` when commits were made."""

    def __init__(self, path: str, commits: Callable[[], int], *, interval: float = 1.0) -> None:
        self._path = path
        self._commits = commits
        self._interval = interval
        self._stop = threading.Event()
        self._done = commits()
        self.runs = 0
        # connect here, so that a database that cannot be opened fails the store's opening
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 1000")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._thread = threading.Thread(target=self._run, name="store checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.run_once()

    def run_once(self) -> None:
        """Checkpoint what was committed since the last run (nothing if nothing was)."""
        commits = self._commits()
        if commits == self._done:
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or failing: the next run (or SQLite's own) retries
            log.warning("checkpointing the store failed: %s", exc)
            return
        self._done = commits
        self.runs += 1

    def close(self) -> None:
        """Stop the thread and close its connection (before the store's own)."""
        self._stop.set()
        self._thread.join()
        self._conn.close()

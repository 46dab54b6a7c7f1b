"""The store: one SQLite file (WAL) plus a key kept apart from it, and its repositories."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from keyslot.protocol.clock import Clock
from keyslot.store.access_codes import AccessCodes, UnmanagedCodes
from keyslot.store.cache import CodeCache
from keyslot.store.crypto import KEY_BYTES, KEY_FILE_NAME, Cipher, load_or_create_key
from keyslot.store.db import MEMORY, Database
from keyslot.store.devices import Devices
from keyslot.store.durability import DurabilityStats
from keyslot.store.events import ActionAttempts, Events
from keyslot.store.keys import ApiKeys, PairingKeys
from keyslot.store.slots import ObservedSlots
from keyslot.store.webhooks import Webhooks

__all__ = ["DATA_DIR_ENV", "DB_FILE_NAME", "Store", "default_data_dir"]

DATA_DIR_ENV = "KEYSLOT_DATA_DIR"
DB_FILE_NAME = "keyslot.db"


def default_data_dir() -> Path:
    """`$KEYSLOT_DATA_DIR`, else `$XDG_DATA_HOME/keyslot`, else `~/.local/share/keyslot`."""
    explicit = os.environ.get(DATA_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "keyslot"


class Store:
    """Everything keyslot keeps. Calls are synchronous and short; use from the event loop.

    Each method that writes is one transaction; wrap several in `transaction()` to commit
    them together (e.g. an access code, its event and its action attempt).

    Durability: by default every commit is on disk when it returns (`synchronous=FULL`), which
    suits short-lived processes such as the `keyslot codes` commands. A long-running server
    opens the store with `group_commit=True`: commits return before they reach the disk, and
    whatever must be durable first (an API answer, the next lock operation) awaits
    `durable()`, which shares one fsync among all commits made before it started.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        key: bytes | None = None,
        key_file: Path | None = None,
        clock: Clock | None = None,
        group_commit: bool = False,
        cache: CodeCache | None = None,
    ) -> None:
        """Open (creating and migrating as needed) the database at `path` (or ":memory:").

        The key is `key` if given, else `KEYSLOT_STORE_KEY`, else `key_file` (default:
        `store.key` beside the database), created with mode 0600 on first start.
        `group_commit`: see the class docstring (no effect in memory). `cache`: where
        decoded access codes are kept (default: a `CodeCache` of the default size).
        """
        if key is None:
            if str(path) == MEMORY and key_file is None:
                key = secrets.token_bytes(KEY_BYTES)
            else:
                key_file = key_file or Path(path).parent / KEY_FILE_NAME
                key = load_or_create_key(key_file)
        self.key_file = key_file
        self._db = Database(path, Cipher(key), clock=clock, group_commit=group_commit)
        self.devices = Devices(self._db)
        self.access_codes = AccessCodes(self._db, cache)
        self.unmanaged = UnmanagedCodes(self._db)
        self.slots = ObservedSlots(self._db)
        self.events = Events(self._db)
        self.action_attempts = ActionAttempts(self._db)
        self.api_keys = ApiKeys(self._db)
        self.pairing_keys = PairingKeys(self._db)
        self.webhooks = Webhooks(self._db)
        self._workspace_id: str | None = None

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        *,
        key: bytes | None = None,
        clock: Clock | None = None,
        group_commit: bool = False,
    ) -> Store:
        """The store of a data directory: `keyslot.db` and `store.key` inside it (mode 0700)."""
        directory = Path(data_dir).expanduser()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(
            directory / DB_FILE_NAME,
            key=key,
            key_file=directory / KEY_FILE_NAME,
            clock=clock,
            group_commit=group_commit,
        )

    @classmethod
    def memory(cls, *, key: bytes | None = None, clock: Clock | None = None) -> Store:
        """A throw-away store in memory, with the same code path as a file."""
        return cls(MEMORY, key=key, clock=clock)

    # -- whole-store ---------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._db.path

    @property
    def clock(self) -> Clock:
        return self._db.clock

    @property
    def workspace_id(self) -> str:
        """One id for this installation, made at first start (Seam's `workspace_id`); it
        never changes, so it is read once."""
        if self._workspace_id is None:
            value = self._db.meta("workspace_id")
            if value is None:  # pragma: no cover - written together with the key check
                raise RuntimeError("the store has no workspace id")
            self._workspace_id = value
        return self._workspace_id

    @property
    def schema_version(self) -> int:
        return self._db.schema_version()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit every write inside together, or none of them. Nests (savepoints)."""
        with self._db.transaction():
            yield

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the current transaction commits (at once outside one)."""
        self._db.after_commit(callback)

    @property
    def group_commit(self) -> bool:
        """Whether commits wait for `durable()` to reach the disk (see the class docstring)."""
        return self._db.group_commit

    @property
    def durability_stats(self) -> DurabilityStats | None:
        """fsync rounds and waits of group commit (None without it)."""
        barrier = self._db.durability
        return None if barrier is None else barrier.stats

    async def durable(self) -> None:
        """Return once every commit made before the call is on disk.

        With group commit, concurrent callers share one fsync of the WAL (run in a thread);
        a caller that committed after the running fsync started waits for the next one.
        Without it this returns at once: each commit was synced as it returned.
        Raises `StoreError` if the disk refused the fsync (and from then on).
        """
        await self._db.durable()

    def sync_durable(self) -> None:
        """`durable()` for synchronous code: fsyncs in the calling thread when needed."""
        self._db.sync_durable()

    def fingerprint(self, code: str) -> str:
        """The keyed fingerprint of a PIN, as stored for codes and observed slots."""
        return self._db.cipher.fingerprint(code)

    def backup(self, target: Path | str) -> None:
        """A consistent copy of the database file while in use (the key is not included)."""
        self._db.backup(target)

    def close(self) -> None:
        """Close the connection (folding the WAL into the file when no reader needs it)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- drivers.PairingKeyStore ---------------------------------------------------------

    def load_key(self, lock_url: str) -> bytes | None:
        return self.pairing_keys.load_key(lock_url)

    def save_key(self, lock_url: str, key: bytes) -> None:
        self.pairing_keys.save_key(lock_url, key)

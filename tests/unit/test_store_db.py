"""The store's database: migrations, transactions, durability, readers beside a writer."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyslot.model import AccessCode, Event, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.store import CodeRecord, DeviceRecord, Store, StoreError, StoreVersionError
from keyslot.store.crypto import Cipher
from keyslot.store.db import Database
from keyslot.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate

KEY = bytes(range(32))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def device(device_id: str = "dev-1", url: str = "sim://kwikset?id=a") -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id, lock_url=url, name="Front", transport="sim", created_at=T0
    )


def code(access_code_id: str, pin: str = "4821", device_id: str = "dev-1") -> AccessCode:
    return AccessCode(
        access_code_id=access_code_id,
        device_id=device_id,
        workspace_id="ws",
        created_at=T0,
        name="Guest",
        code=pin,
    )


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def test_fresh_database_is_migrated_to_latest(tmp_path: Path) -> None:
    with Store(tmp_path / "k.db", key=KEY) as store:
        assert store.schema_version == LATEST_VERSION
    with sqlite3.connect(tmp_path / "k.db") as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [m.version for m in MIGRATIONS]
    assert {"devices", "access_codes", "events", "api_keys", "observed_slots"} <= tables(
        tmp_path / "k.db"
    )


def test_migrations_are_numbered_one_up_without_gaps() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


@pytest.mark.parametrize("start", range(len(MIGRATIONS)))
def test_upgrade_from_each_older_version(tmp_path: Path, start: int) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=start, now="2026-01-01T00:00:00.000Z") == list(range(1, start + 1))
    assert current_version(conn) == start
    conn.close()
    with Store(path, key=KEY) as store:
        assert store.schema_version == LATEST_VERSION
        store.devices.put(device())
        store.access_codes.put(CodeRecord(code("c1")))
        assert store.access_codes.require("c1").access_code.code == "4821"


def created_tables(version: int) -> list[str]:
    (migration,) = [m for m in MIGRATIONS if m.version == version]
    return [
        s.split("(")[0].split()[-1] for s in migration.statements if s.startswith("CREATE TABLE")
    ]


@pytest.mark.parametrize("start", range(1, len(MIGRATIONS)))
def test_upgrade_keeps_the_rows_of_an_older_version(tmp_path: Path, start: int) -> None:
    """A database left at `start` (later tables absent) with codes in it upgrades intact."""
    path = tmp_path / "old.db"
    with Store(path, key=KEY) as store:
        store.devices.put(device())
        store.access_codes.put(CodeRecord(code("c1")))
        store.events.append(
            Event.new(EventType.ACCESS_CODE_CREATED, workspace_id="ws", at=T0, device_id="dev-1")
        )
    with sqlite3.connect(path) as conn:
        for version in range(start + 1, LATEST_VERSION + 1):
            for table in created_tables(version):
                conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM schema_version WHERE version > ?", (start,))
    with Store(path, key=KEY) as store:
        assert store.schema_version == LATEST_VERSION
        assert store.access_codes.require("c1").access_code.code == "4821"
        assert store.devices.require("dev-1").name == "Front"
        assert len(store.events.query()) == 1
        store.api_keys.create("after upgrade")  # the tables of later versions exist again


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    Store(tmp_path / "k.db", key=KEY).close()
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    assert migrate(conn, now="2026-01-01T00:00:00.000Z") == []
    conn.close()


def test_database_from_a_newer_keyslot_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "k.db", key=KEY).close()
    with sqlite3.connect(tmp_path / "k.db") as conn:
        conn.execute(
            "INSERT INTO schema_version VALUES (?, 'future', '2030-01-01T00:00:00.000Z')",
            (LATEST_VERSION + 1,),
        )
    with pytest.raises(StoreVersionError, match="newer"):
        Store(tmp_path / "k.db", key=KEY)


def test_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    migrate(conn, target=1, now="2026-01-01T00:00:00.000Z")
    conn.execute("CREATE TABLE unmanaged_access_codes (x INTEGER)")  # collides with v2
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, now="2026-01-01T00:00:00.000Z")
    assert current_version(conn) == 1
    assert "observed_slots" not in tables(tmp_path / "k.db")
    conn.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable keyslot database"):
        Store(path, key=KEY)


def test_wal_and_full_sync_are_on(tmp_path: Path) -> None:
    with Store(tmp_path / "k.db", key=KEY) as store:
        conn = store._db._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_database_file_is_private(tmp_path: Path) -> None:
    with Store(tmp_path / "k.db", key=KEY):
        pass
    assert (tmp_path / "k.db").stat().st_mode & 0o777 == 0o600


def test_memory_store_uses_the_same_code_path() -> None:
    with Store.memory() as store:
        store.devices.put(device())
        store.access_codes.put(CodeRecord(code("c1")))
        assert store.access_codes.require("c1").access_code.code == "4821"
        assert store.schema_version == LATEST_VERSION


# --------------------------------------------------------------------------- transactions


def fail_inside(store: Store, *steps: Callable[[], object]) -> None:
    """Run `steps` in one transaction, then fail it."""
    with store.transaction():
        for step in steps:
            step()
        raise RuntimeError("boom")


def test_transaction_commits_all_or_nothing() -> None:
    store = Store.memory(key=KEY)
    store.devices.put(device())
    with pytest.raises(RuntimeError):
        fail_inside(
            store,
            lambda: store.access_codes.put(CodeRecord(code("c1"))),
            lambda: store.access_codes.put(CodeRecord(code("c2", "5555"))),
        )
    assert store.access_codes.get("c1") is None
    assert store.access_codes.get("c2") is None


def test_nested_block_rolls_back_alone() -> None:
    store = Store.memory(key=KEY)
    store.devices.put(device())
    with store.transaction():
        store.access_codes.put(CodeRecord(code("c1")))
        with pytest.raises(RuntimeError):
            fail_inside(store, lambda: store.access_codes.put(CodeRecord(code("c2", "5555"))))
    assert store.access_codes.get("c1") is not None
    assert store.access_codes.get("c2") is None


def test_after_commit_runs_only_on_commit() -> None:
    store = Store.memory(key=KEY)
    ran: list[str] = []
    with store.transaction():
        store.after_commit(lambda: ran.append("outer"))
        with pytest.raises(RuntimeError):
            fail_inside(store, lambda: store.after_commit(lambda: ran.append("rolled back")))
        with store.transaction():
            store.after_commit(lambda: ran.append("released"))
        assert ran == []
    assert ran == ["outer", "released"]
    with pytest.raises(RuntimeError):
        fail_inside(store, lambda: store.after_commit(lambda: ran.append("never")))
    assert ran == ["outer", "released"]
    store.after_commit(lambda: ran.append("now"))
    assert ran[-1] == "now"


def test_after_commit_keeps_order_through_deep_nesting() -> None:
    """Callbacks of released blocks join their parent's, in order; a rolled-back block's
    go, however deep it and its children were."""
    store = Store.memory(key=KEY)
    ran: list[str] = []

    def note(name: str) -> None:
        store.after_commit(lambda: ran.append(name))

    def failing_branch() -> None:
        with store.transaction():
            note("lost-a")
            with store.transaction():
                note("lost-b")
            raise RuntimeError

    with store.transaction():
        for n in range(3):
            with store.transaction():
                note(f"a{n}")
                with store.transaction():
                    note(f"b{n}")
                with pytest.raises(RuntimeError):
                    failing_branch()
                note(f"c{n}")
        assert ran == []
    assert ran == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def test_sqlite_errors_become_store_errors() -> None:
    store = Store.memory(key=KEY)
    with pytest.raises(StoreError):
        store._db.execute("SELECT * FROM no_such_table")


# --------------------------------------------------------------------------- durability


def test_a_write_is_in_the_file_when_the_call_returns(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db", key=KEY)
    store.devices.put(device())
    store.access_codes.put(CodeRecord(code("c1")))
    # Another connection, as after a crash: the committed row is there (WAL included).
    other = Store(tmp_path / "k.db", key=KEY)
    assert other.access_codes.require("c1").access_code.code == "4821"
    other.close()
    store.close()


def test_readers_see_committed_state_while_a_writer_holds_a_transaction(tmp_path: Path) -> None:
    writer = Store(tmp_path / "k.db", key=KEY)
    writer.devices.put(device())
    writer.access_codes.put(CodeRecord(code("c1")))
    readers = [Store(tmp_path / "k.db", key=KEY) for _ in range(3)]
    seen: list[int] = []
    errors: list[BaseException] = []

    def read(store: Store) -> None:
        try:
            for _ in range(20):
                seen.append(len(store.access_codes.for_device("dev-1")))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    with writer.transaction():
        writer.access_codes.put(CodeRecord(code("c2", "5555")))
        threads = [threading.Thread(target=read, args=(r,)) for r in readers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
    assert not errors
    assert set(seen) == {1}  # the open transaction is invisible, and nobody was blocked
    assert len(readers[0].access_codes.for_device("dev-1")) == 2
    for r in readers:
        r.close()
    writer.close()


def test_one_connection_serves_threads_safely(tmp_path: Path) -> None:
    store = Store(tmp_path / "k.db", key=KEY)
    store.devices.put(device())

    def write(n: int) -> None:
        for i in range(10):
            store.access_codes.put(CodeRecord(code(f"c{n}-{i}", f"{n}{i:03d}")))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert store.access_codes.count("dev-1") == 40
    store.close()


def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    with Store(tmp_path / "k.db", key=KEY) as store:
        store.devices.put(device())
        store.access_codes.put(CodeRecord(code("c1")))
        store.backup(tmp_path / "copy.db")
    with Store(tmp_path / "copy.db", key=KEY) as copy:
        assert copy.access_codes.require("c1").access_code.code == "4821"


def test_times_come_from_the_injected_clock(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with Store(tmp_path / "k.db", key=KEY, clock=clock) as store:
        store.devices.put(device())
        clock.advance(90)
        stored = store.access_codes.put(CodeRecord(code("c1")))
        assert stored.updated_at == datetime(2026, 3, 2, 9, 1, 30, tzinfo=UTC)


def test_database_constructor_rejects_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Database(tmp_path, Cipher(KEY))

"""Numbered schema migrations, applied in order at open, each in its own transaction.

A migration is never edited once released: a change to the schema is a new, higher number.
Secret-bearing values live in `*_ct`/`body` columns sealed with the store key; the plain
columns hold only what queries need (ids, status, times, names, keyed fingerprints).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from keyslot.store.errors import StoreVersionError

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "current_version", "migrate"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "devices, access codes, events, action attempts",
        (
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
            """CREATE TABLE devices (
                device_id TEXT PRIMARY KEY,
                url_fp TEXT NOT NULL UNIQUE,
                lock_url TEXT NOT NULL,
                name TEXT NOT NULL,
                transport TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                online INTEGER NOT NULL DEFAULT 0,
                suspended_until TEXT,
                suspended_reason TEXT,
                body BLOB NOT NULL
            )""",
            """CREATE TABLE access_codes (
                access_code_id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
                code_fp TEXT,
                name TEXT,
                common_code_key TEXT,
                type TEXT NOT NULL,
                status TEXT NOT NULL,
                starts_at TEXT,
                ends_at TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                slot INTEGER,
                desired TEXT NOT NULL,
                revision INTEGER NOT NULL,
                user_identifier_key TEXT,
                body BLOB NOT NULL
            )""",
            "CREATE INDEX access_codes_device ON access_codes(device_id, created_at)",
            "CREATE INDEX access_codes_fp ON access_codes(device_id, code_fp)",
            "CREATE INDEX access_codes_common ON access_codes(common_code_key)",
            "CREATE INDEX access_codes_order ON access_codes(created_at, access_code_id)",
            """CREATE TABLE events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL UNIQUE,
                event_type TEXT NOT NULL,
                device_id TEXT,
                access_code_id TEXT,
                created_at TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                body BLOB NOT NULL
            )""",
            "CREATE INDEX events_device ON events(device_id, seq)",
            "CREATE INDEX events_code ON events(access_code_id, seq)",
            "CREATE INDEX events_time ON events(occurred_at)",
            """CREATE TABLE action_attempts (
                action_attempt_id TEXT PRIMARY KEY,
                action_type TEXT NOT NULL,
                status TEXT NOT NULL,
                access_code_id TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                body BLOB NOT NULL
            )""",
            "CREATE INDEX action_attempts_code ON action_attempts(access_code_id, status)",
        ),
    ),
    Migration(
        2,
        "unmanaged codes and observed slot tables",
        (
            """CREATE TABLE unmanaged_access_codes (
                access_code_id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
                slot INTEGER,
                code_fp TEXT,
                name TEXT,
                status TEXT NOT NULL,
                desired TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                body BLOB NOT NULL
            )""",
            "CREATE INDEX unmanaged_device ON unmanaged_access_codes(device_id, created_at)",
            """CREATE TABLE observed_slots (
                device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
                slot INTEGER NOT NULL,
                status TEXT NOT NULL,
                code_fp TEXT,
                code_masked INTEGER NOT NULL DEFAULT 0,
                name TEXT,
                first_name TEXT,
                last_name TEXT,
                schedule_starts_at TEXT,
                schedule_ends_at TEXT,
                one_time INTEGER NOT NULL DEFAULT 0,
                read_at TEXT NOT NULL,
                PRIMARY KEY (device_id, slot)
            )""",
            """CREATE TABLE observed_tables (
                device_id TEXT PRIMARY KEY REFERENCES devices(device_id) ON DELETE CASCADE,
                read_at TEXT NOT NULL,
                checksum INTEGER
            )""",
        ),
    ),
    Migration(
        3,
        "api keys, driver pairing keys, webhooks",
        (
            """CREATE TABLE api_keys (
                api_key_id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                prefix TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                last_used_at TEXT,
                revoked_at TEXT
            )""",
            """CREATE TABLE pairing_keys (
                url_fp TEXT PRIMARY KEY,
                lock_url TEXT NOT NULL,
                key_ct BLOB NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE webhooks (
                webhook_id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                event_types TEXT NOT NULL,
                secret_ct BLOB NOT NULL,
                created_at TEXT NOT NULL
            )""",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, *, target: int = LATEST_VERSION, now: str) -> list[int]:
    """Bring the schema to `target`; returns the versions applied. `conn` is in autocommit mode."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        version = current_version(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if version > LATEST_VERSION:
        raise StoreVersionError(
            f"the database has schema version {version}, newer than this keyslot knows "
            f"({LATEST_VERSION}); upgrade keyslot or restore an older backup"
        )
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version <= version or migration.version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated between our check and the lock.
            if current_version(conn) >= migration.version:
                conn.execute("COMMIT")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, now),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied

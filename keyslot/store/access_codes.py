"""Managed and unmanaged access codes. The whole object is sealed; plain columns serve queries.

A row's sealed body is bound to its id (AES-GCM associated data), so a body copied onto
another row does not open. `code_fp` is a keyed fingerprint: equal PINs on a device are
found with an index, without the PIN ever being readable from the file. Decoded rows are
kept in a `CodeCache`, valid for the one write they came from.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from keyslot.model.access_code import AccessCode, UnmanagedAccessCode
from keyslot.model.common import ModelDecodeError, decode_time, format_time, format_time_or_none
from keyslot.store import jsoncodec
from keyslot.store.cache import CodeCache, body_tag
from keyslot.store.db import Database
from keyslot.store.errors import StoreConflict, StoreCorrupt, StoreNotFound
from keyslot.store.pagination import decode_cursor, encode_cursor
from keyslot.store.records import CodeOptions, CodeRecord, Desired, UnmanagedRecord

__all__ = ["AccessCodes", "UnmanagedCodes"]

_CODE_COLUMNS = "access_code_id, revision, updated_at, body"
_LIGHT_COLUMNS = "access_code_id, revision, updated_at, substr(body, 2, 12)"  # see body_tag
_CHUNK = 500  # ids per IN (...) query, well below SQLite's limit on parameters


def _in_clause(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join('?' for _ in values)})"


class AccessCodes:
    """Managed access codes with their slot, desired state, options and revision."""

    def __init__(self, db: Database, cache: CodeCache | None = None) -> None:
        self._db = db
        self.cache = cache if cache is not None else CodeCache()
        self._rows = self.count()  # this process's count from here on (sizes the cache)
        self.cache.hold(self._rows)

    # -- reading ------------------------------------------------------------------------

    def get(self, access_code_id: str) -> CodeRecord | None:
        row = self._db.one(
            f"SELECT {_CODE_COLUMNS} FROM access_codes WHERE access_code_id = ?",  # noqa: S608 - fixed SQL
            (access_code_id,),
        )
        return None if row is None else self._decode(row)

    def require(self, access_code_id: str) -> CodeRecord:
        record = self.get(access_code_id)
        if record is None:
            raise StoreNotFound(f"no access code {access_code_id}")
        return record

    def for_device(self, device_id: str) -> list[CodeRecord]:
        """Every managed code of a device, deleted-but-not-yet-removed ones included."""
        return self._select("device_id = ?", (device_id,))

    def with_code(self, device_id: str, code: str) -> list[CodeRecord]:
        """The codes of a device whose PIN is `code` (found by fingerprint)."""
        return self.with_fingerprint(device_id, self._db.cipher.fingerprint(code))

    def with_fingerprint(self, device_id: str, fingerprint: str) -> list[CodeRecord]:
        """The codes of a device with this PIN fingerprint, through its index (sorted here:
        asked to sort, SQLite would walk every code of the device in creation order)."""
        rows = self._db.all(
            f"SELECT {_CODE_COLUMNS}, created_at FROM access_codes "  # noqa: S608 - fixed SQL
            "WHERE device_id = ? AND code_fp = ?",
            (device_id, fingerprint),
        )
        rows.sort(key=lambda row: (row[4], row[0]))
        return [self._decode(row) for row in rows]

    def versions(self, device_id: str) -> list[tuple[str, int, str]]:
        """(id, revision, updated_at) of every code of a device, by id: a cheap way to tell
        whether any of them changed since (nothing is decrypted)."""
        rows = self._db.all(
            "SELECT access_code_id, revision, updated_at FROM access_codes "
            "WHERE device_id = ? ORDER BY access_code_id",
            (device_id,),
        )
        return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]

    def names(self, device_id: str, *, excluding: str | None = None) -> list[str | None]:
        """The names of the codes that stay on a device, but `excluding` (from their column:
        nothing is decrypted)."""
        rows = self._db.all(
            "SELECT name FROM access_codes WHERE device_id = ? AND desired = ? "
            "AND access_code_id IS NOT ?",
            (device_id, Desired.PRESENT.value, excluding),
        )
        return [None if r[0] is None else str(r[0]) for r in rows]

    def with_common_key(self, common_code_key: str) -> list[CodeRecord]:
        return self._select("common_code_key = ?", (common_code_key,))

    def device_ids_with_codes(self) -> list[str]:
        rows = self._db.all("SELECT DISTINCT device_id FROM access_codes ORDER BY device_id")
        return [str(r[0]) for r in rows]

    def count(self, device_id: str | None = None) -> int:
        if device_id is None:
            row = self._db.one("SELECT COUNT(*) FROM access_codes")
        else:
            row = self._db.one(
                "SELECT COUNT(*) FROM access_codes WHERE device_id = ?", (device_id,)
            )
        return int(row[0]) if row else 0

    def page(
        self,
        *,
        device_id: str | None = None,
        access_code_ids: Sequence[str] | None = None,
        user_identifier_key: str | None = None,
        include_absent: bool = True,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[CodeRecord], str | None]:
        """One page in creation order and the cursor of the next page (None on the last)."""
        where, params = _page_filter(
            device_id, access_code_ids, user_identifier_key, include_absent, cursor
        )
        if where is None:
            return [], None
        records = self._select(where, params, limit=None if limit is None else limit + 1)
        if limit is None or len(records) <= limit:
            return records, None
        records = records[:limit]
        last = records[-1].access_code
        return records, encode_cursor(format_time(last.created_at), last.access_code_id)

    def page_json(
        self,
        *,
        device_id: str | None = None,
        access_code_ids: Sequence[str] | None = None,
        user_identifier_key: str | None = None,
        include_absent: bool = True,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[bytes], str | None]:
        """`page`, each code as the UTF-8 JSON of Seam's object (`to_dict()`), mostly from
        the cache: a long list neither decodes nor encodes the codes that did not change."""
        where, params = _page_filter(
            device_id, access_code_ids, user_identifier_key, include_absent, cursor
        )
        if where is None:
            return [], None
        sql = (
            f"SELECT {_CODE_COLUMNS}, created_at FROM access_codes WHERE {where} "  # noqa: S608 - fixed SQL
            "ORDER BY created_at, access_code_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        rows = self._db.all(sql, params)
        more = limit is not None and len(rows) > limit
        if more:
            rows = rows[:limit]
        encoded = [self._json_of(row) for row in rows]
        if not more:
            return encoded, None
        return encoded, encode_cursor(str(rows[-1][4]), str(rows[-1][0]))

    def encode(self, record: CodeRecord) -> bytes:
        """The UTF-8 JSON of a record's `access_code` (`to_dict()`)."""
        return jsoncodec.dumps(record.access_code.to_dict())

    def _json_of(self, row: tuple[Any, ...]) -> bytes:
        access_code_id, revision, _, body = row[:4]
        tag = body_tag(body)
        cached = self.cache.json(access_code_id, int(revision), tag)
        if cached is not None:
            return cached
        record = self.cache.record(access_code_id, int(revision), tag)
        if record is None:  # decoded for the list only: the record tier is for re-readers
            record = self._decode(row, keep=False)
        data = self.encode(record)
        self.cache.keep_json(access_code_id, int(revision), tag, data)
        return data

    def _select(
        self, where: str, params: Sequence[Any], *, limit: int | None = None
    ) -> list[CodeRecord]:
        # Rows are listed without their sealed bodies (the nonce names the write the cache
        # may hold); only the bodies of rows not in the cache are read, in a second query.
        sql = (
            f"SELECT {_LIGHT_COLUMNS} FROM access_codes WHERE {where} "  # noqa: S608 - fixed SQL
            "ORDER BY created_at, access_code_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        found: list[CodeRecord | None] = []
        missing: dict[str, int] = {}
        cache = self.cache
        for access_code_id, revision, _, nonce in self._db.all(sql, params):
            tag = nonce if isinstance(nonce, bytes) else b""  # a damaged body: decoded below
            cached = cache.record(access_code_id, int(revision), tag)
            if cached is None:
                missing[access_code_id] = len(found)
            found.append(cached)
        if missing:
            for row in self._rows_of(list(missing)):
                found[missing[row[0]]] = self._decode(row)
        return [r for r in found if r is not None]  # a row deleted meanwhile is left out

    def _rows_of(self, access_code_ids: list[str]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(access_code_ids), _CHUNK):
            chunk = access_code_ids[start : start + _CHUNK]
            rows.extend(
                self._db.all(
                    f"SELECT {_CODE_COLUMNS} FROM access_codes "  # noqa: S608 - fixed SQL
                    f"WHERE {_in_clause('access_code_id', chunk)}",
                    chunk,
                )
            )
        return rows

    def _decode(self, row: tuple[Any, ...], *, keep: bool = True) -> CodeRecord:
        access_code_id, revision, updated_at, body = row[:4]
        tag = body_tag(body)
        cached = self.cache.record(access_code_id, int(revision), tag)
        if cached is not None:
            return cached
        data = self._db.open_json(body, f"access_codes:{access_code_id}")
        record = _record_from(access_code_id, int(revision), updated_at, data)
        if keep:
            self.cache.keep_record(int(revision), tag, record)
        return record

    # -- writing ------------------------------------------------------------------------

    def put(self, record: CodeRecord, *, expected_revision: int | None = None) -> CodeRecord:
        """Insert or replace a code; returns it with its new revision.

        With `expected_revision`, the write happens only if the stored revision is still that
        (0 = the code must not exist yet); otherwise `StoreConflict`.

        The common write, a new revision of a code whose indexed columns (device, PIN
        fingerprint, common code key, creation time) stay as they are, is one conditional
        UPDATE that leaves every index alone; anything else reads the row first. The record
        returned (and cached for later reads) is the one given, with its new revision and
        time: records are immutable, so it stands for the row without decoding it again.
        """
        code = record.access_code
        cipher = self._db.cipher
        updated_at = format_time(self._db.clock.now())
        plain = jsoncodec.dumps(
            {
                "access_code": code.to_dict(),
                "slot": record.slot,
                "slot_state": None if record.slot_state is None else dict(record.slot_state),
                "desired": record.desired.value,
                "options": record.options.to_dict(),
            },
            sort_keys=True,
        )
        sealed = cipher.seal(plain, f"access_codes:{code.access_code_id}")
        code_fp = None if code.code is None else cipher.fingerprint(code.code)
        created_at = format_time(code.created_at)
        state = (
            code.name,
            code.type.value,
            code.status.value,
            format_time_or_none(code.starts_at),
            format_time_or_none(code.ends_at),
            updated_at,
            record.slot,
            record.desired.value,
            record.options.user_identifier_key,
            sealed,
        )
        keys = (code.device_id, code_fp, code.common_code_key, created_at)
        written = False
        if expected_revision:  # one statement: atomic without a savepoint of its own
            revision = expected_revision + 1
            cursor = self._db.execute(
                "UPDATE access_codes SET name = ?, type = ?, status = ?, starts_at = ?, "
                "ends_at = ?, updated_at = ?, slot = ?, desired = ?, "
                "user_identifier_key = ?, body = ?, revision = ? "
                "WHERE access_code_id = ? AND revision = ? AND device_id = ? "
                "AND code_fp IS ? AND common_code_key IS ? AND created_at = ?",
                (*state, revision, code.access_code_id, expected_revision, *keys),
            )
            written = cursor.rowcount == 1
        elif expected_revision == 0:  # a new code: one INSERT, refused if the id exists
            revision = 1
            # refused (the id exists, or the device does not): the general path below
            # reads the row and says which
            with contextlib.suppress(StoreConflict):
                self._insert_row(code.access_code_id, state, keys, revision)
                written = True
        if not written:
            with self._db.transaction():
                revision = self._write_row(code.access_code_id, expected_revision, state, keys)
        stored = replace(
            record, revision=revision, updated_at=decode_time(updated_at, "updated_at")
        )
        self.cache.keep_record(revision, body_tag(sealed), stored)
        return stored

    def _write_row(
        self,
        access_code_id: str,
        expected_revision: int | None,
        state: tuple[Any, ...],
        keys: tuple[Any, ...],
    ) -> int:
        """Insert the row or rewrite all of it (indexes too); returns the new revision."""
        row = self._db.one(
            "SELECT revision FROM access_codes WHERE access_code_id = ?", (access_code_id,)
        )
        current = 0 if row is None else int(row[0])
        if expected_revision is not None and expected_revision != current:
            raise StoreConflict(
                f"access code {access_code_id} is at revision {current}, not {expected_revision}"
            )
        revision = current + 1
        if row is None:
            self._insert_row(access_code_id, state, keys, revision)
        else:
            self._db.execute(
                "UPDATE access_codes SET name = ?, type = ?, status = ?, starts_at = ?, "
                "ends_at = ?, updated_at = ?, slot = ?, desired = ?, user_identifier_key = ?, "
                "body = ?, device_id = ?, code_fp = ?, common_code_key = ?, created_at = ?, "
                "revision = ? WHERE access_code_id = ?",
                (*state, *keys, revision, access_code_id),
            )
        return revision

    def _insert_row(
        self, access_code_id: str, state: tuple[Any, ...], keys: tuple[Any, ...], revision: int
    ) -> None:
        self._db.execute(
            "INSERT INTO access_codes (name, type, status, starts_at, ends_at, updated_at, "
            "slot, desired, user_identifier_key, body, device_id, code_fp, "
            "common_code_key, created_at, revision, access_code_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*state, *keys, revision, access_code_id),
        )
        self._rows += 1  # a rolled-back insert leaves it high: it only sizes the cache
        self.cache.hold(self._rows)

    def update(self, access_code_id: str, change: Callable[[CodeRecord], CodeRecord]) -> CodeRecord:
        """Read, change and write one code atomically (no other writer can come between)."""
        with self._db.transaction():
            current = self.require(access_code_id)
            changed = change(current)
            if changed.access_code_id != access_code_id:
                raise ValueError("update() cannot change an access code's id")
            return self.put(changed, expected_revision=current.revision)

    def delete(self, access_code_id: str) -> bool:
        """Drop the row (after its slot was cleared); False if it was already gone."""
        with self._db.transaction():
            cursor = self._db.execute(
                "DELETE FROM access_codes WHERE access_code_id = ?", (access_code_id,)
            )
        self.cache.forget(access_code_id)
        if cursor.rowcount > 0:
            self._rows -= 1
            self.cache.hold(self._rows)
        return cursor.rowcount > 0


def _page_filter(
    device_id: str | None,
    access_code_ids: Sequence[str] | None,
    user_identifier_key: str | None,
    include_absent: bool,
    cursor: str | None,
) -> tuple[str | None, list[Any]]:
    """The WHERE clause of a page and its parameters (None: nothing can match)."""
    where: list[str] = []
    params: list[Any] = []
    if device_id is not None:
        where.append("device_id = ?")
        params.append(device_id)
    if access_code_ids is not None:
        if not access_code_ids:
            return None, []
        where.append(_in_clause("access_code_id", access_code_ids))
        params.extend(access_code_ids)
    if user_identifier_key is not None:
        where.append("user_identifier_key = ?")
        params.append(user_identifier_key)
    if not include_absent:
        where.append("desired = ?")
        params.append(Desired.PRESENT.value)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        where.append("(created_at, access_code_id) > (?, ?)")
        params.extend((created_at, last_id))
    return " AND ".join(where) or "1", params


_DEFAULT_OPTIONS = CodeOptions()
_DEFAULT_OPTIONS_JSON = _DEFAULT_OPTIONS.to_dict()


def _record_from(access_code_id: str, revision: int, updated_at: str, data: Any) -> CodeRecord:
    """A record from its decrypted body and plain columns.

    Strings that many codes share (device and workspace ids, mutation messages) are
    interned and default options shared, so cached records stay small.
    """
    try:
        code = data["access_code"]
        for key in ("device_id", "workspace_id"):
            if isinstance(code.get(key), str):
                code[key] = sys.intern(code[key])
        for mutation in code.get("pending_mutations") or ():
            if isinstance(mutation, dict) and isinstance(mutation.get("message"), str):
                mutation["message"] = sys.intern(mutation["message"])
        options = data.get("options") or {}
        return CodeRecord(
            access_code=AccessCode.from_dict(code),
            slot=data.get("slot"),
            slot_state=data.get("slot_state"),
            desired=Desired(data.get("desired", Desired.PRESENT.value)),
            options=(
                _DEFAULT_OPTIONS
                if options == _DEFAULT_OPTIONS_JSON
                else CodeOptions.from_dict(options)
            ),
            revision=revision,
            updated_at=decode_time(updated_at, "updated_at"),
        )
    except (ModelDecodeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise StoreCorrupt(f"access code {access_code_id} cannot be read back: {exc}") from exc


class UnmanagedCodes:
    """Codes found on a lock that keyslot did not put there."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, access_code_id: str) -> UnmanagedRecord | None:
        row = self._db.one(
            "SELECT access_code_id, slot, desired, body FROM unmanaged_access_codes "
            "WHERE access_code_id = ?",
            (access_code_id,),
        )
        return None if row is None else self._decode(row)

    def require(self, access_code_id: str) -> UnmanagedRecord:
        record = self.get(access_code_id)
        if record is None:
            raise StoreNotFound(f"no unmanaged access code {access_code_id}")
        return record

    def for_device(self, device_id: str) -> list[UnmanagedRecord]:
        return self._select("device_id = ?", (device_id,))

    def at_slot(self, device_id: str, slot: int) -> UnmanagedRecord | None:
        found = self._select("device_id = ? AND slot = ?", (device_id, slot))
        return found[0] if found else None

    def with_code(self, device_id: str, code: str) -> list[UnmanagedRecord]:
        fp = self._db.cipher.fingerprint(code)
        return self._select("device_id = ? AND code_fp = ?", (device_id, fp))

    def page(
        self,
        *,
        device_id: str | None = None,
        include_absent: bool = False,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[UnmanagedRecord], str | None]:
        """One page in creation order (codes being deleted left out unless asked for)."""
        where: list[str] = []
        params: list[Any] = []
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        if not include_absent:
            where.append("desired = ?")
            params.append(Desired.PRESENT.value)
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor)
            where.append("(created_at, access_code_id) > (?, ?)")
            params.extend((created_at, last_id))
        records = self._select(
            " AND ".join(where) or "1", params, limit=None if limit is None else limit + 1
        )
        if limit is None or len(records) <= limit:
            return records, None
        records = records[:limit]
        last = records[-1].access_code
        return records, encode_cursor(format_time(last.created_at), last.access_code_id)

    def _select(
        self, where: str, params: Sequence[Any], *, limit: int | None = None
    ) -> list[UnmanagedRecord]:
        sql = (
            f"SELECT access_code_id, slot, desired, body FROM unmanaged_access_codes WHERE {where} "  # noqa: S608 - fixed SQL
            "ORDER BY created_at, access_code_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._decode(row) for row in self._db.all(sql, params)]

    def _decode(self, row: tuple[Any, ...]) -> UnmanagedRecord:
        access_code_id, slot, desired, body = row
        data = self._db.open_json(body, f"unmanaged_access_codes:{access_code_id}")
        try:
            code = UnmanagedAccessCode.from_dict(data)
        except (ModelDecodeError, ValueError, TypeError) as exc:
            raise StoreCorrupt(
                f"unmanaged access code {access_code_id} cannot be read back: {exc}"
            ) from exc
        return UnmanagedRecord(
            access_code=code, slot=None if slot is None else int(slot), desired=Desired(desired)
        )

    def put(self, record: UnmanagedRecord) -> UnmanagedRecord:
        code = record.access_code
        body = self._db.seal_json(code.to_dict(), f"unmanaged_access_codes:{code.access_code_id}")
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO unmanaged_access_codes (access_code_id, device_id, slot, code_fp, "
                "name, status, desired, created_at, updated_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(access_code_id) DO UPDATE SET device_id = excluded.device_id, "
                "slot = excluded.slot, code_fp = excluded.code_fp, name = excluded.name, "
                "status = excluded.status, desired = excluded.desired, "
                "updated_at = excluded.updated_at, body = excluded.body",
                (
                    code.access_code_id,
                    code.device_id,
                    record.slot,
                    None if code.code is None else self._db.cipher.fingerprint(code.code),
                    code.name,
                    code.status.value,
                    record.desired.value,
                    format_time(code.created_at),
                    self._db.now_text(),
                    body,
                ),
            )
        return record

    def delete(self, access_code_id: str) -> bool:
        with self._db.transaction():
            cursor = self._db.execute(
                "DELETE FROM unmanaged_access_codes WHERE access_code_id = ?", (access_code_id,)
            )
        return cursor.rowcount > 0

    def delete_many(self, access_code_ids: Iterable[str]) -> int:
        ids = list(access_code_ids)
        if not ids:
            return 0
        with self._db.transaction():
            cursor = self._db.execute(
                f"DELETE FROM unmanaged_access_codes WHERE {_in_clause('access_code_id', ids)}",  # noqa: S608 - fixed SQL
                ids,
            )
        return cursor.rowcount

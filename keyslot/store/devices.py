"""Locks: URL (sealed, it may hold a password), capabilities, online and suspended state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from keyslot.model.common import (
    ModelDecodeError,
    decode_time,
    decode_time_or_none,
    format_time,
    format_time_or_none,
)
from keyslot.model.device import DeviceError, DeviceWarning, DeviceWarningCode
from keyslot.model.issues import DeviceErrorCode
from keyslot.store.cache import body_tag
from keyslot.store.db import Database
from keyslot.store.errors import StoreConflict, StoreCorrupt, StoreNotFound
from keyslot.store.lockinfo import lock_info_from_dict, lock_info_to_dict
from keyslot.store.records import DeviceRecord
from keyslot.store.urls import redact_url, url_scheme

__all__ = ["Devices"]

_COLUMNS = "device_id, created_at, updated_at, online, suspended_until, suspended_reason, body"


def _error_from_dict(data: Mapping[str, Any]) -> DeviceError:
    return DeviceError(
        DeviceErrorCode(data["error_code"]),
        str(data["message"]),
        decode_time(data.get("created_at"), "created_at"),
    )


def _warning_from_dict(data: Mapping[str, Any]) -> DeviceWarning:
    extra = {k: v for k, v in data.items() if k not in ("warning_code", "message", "created_at")}
    return DeviceWarning(
        DeviceWarningCode(data["warning_code"]),
        str(data["message"]),
        decode_time(data.get("created_at"), "created_at"),
        extra,
    )


_CACHED_DEVICES = 4096


class Devices:
    """The locks of this gateway. Decoded rows are kept while the row is unchanged (every
    write seals the body anew, so its nonce names one write)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[tuple[Any, ...], bytes, DeviceRecord]] = {}

    def get(self, device_id: str) -> DeviceRecord | None:
        row = self._db.one(f"SELECT {_COLUMNS} FROM devices WHERE device_id = ?", (device_id,))  # noqa: S608 - fixed SQL
        return None if row is None else self._decode(row)

    def exists(self, device_id: str) -> bool:
        """Whether the device is registered (without decoding it)."""
        return self._db.one("SELECT 1 FROM devices WHERE device_id = ?", (device_id,)) is not None

    def require(self, device_id: str) -> DeviceRecord:
        record = self.get(device_id)
        if record is None:
            raise StoreNotFound(f"no device {device_id}")
        return record

    def by_url(self, lock_url: str) -> DeviceRecord | None:
        row = self._db.one(
            f"SELECT {_COLUMNS} FROM devices WHERE url_fp = ?",  # noqa: S608 - fixed SQL
            (self._db.cipher.url_fingerprint(lock_url),),
        )
        return None if row is None else self._decode(row)

    def all(self, device_ids: list[str] | None = None) -> list[DeviceRecord]:
        """Every lock (or those in `device_ids`), oldest first."""
        if device_ids is None:
            rows = self._db.all(f"SELECT {_COLUMNS} FROM devices ORDER BY created_at, rowid")  # noqa: S608 - fixed SQL
        elif not device_ids:
            return []
        else:
            marks = ", ".join("?" for _ in device_ids)
            rows = self._db.all(
                f"SELECT {_COLUMNS} FROM devices WHERE device_id IN ({marks}) "  # noqa: S608 - fixed SQL
                "ORDER BY created_at, rowid",
                device_ids,
            )
        return [self._decode(row) for row in rows]

    def _decode(self, row: tuple[Any, ...]) -> DeviceRecord:
        columns, tag = row[:-1], body_tag(row[-1])
        known = self._cache.get(row[0])
        if known is not None and known[0] == columns and known[1] == tag:
            return known[2]
        record = self._decode_row(row)
        if len(self._cache) >= _CACHED_DEVICES:
            self._cache.clear()
        self._cache[record.device_id] = (columns, tag, record)
        return record

    def _decode_row(self, row: tuple[Any, ...]) -> DeviceRecord:
        device_id, created_at, updated_at, online, suspended_until, reason, body = row
        data = self._db.open_json(body, f"devices:{device_id}")
        try:
            info = data.get("lock_info")
            return DeviceRecord(
                device_id=device_id,
                lock_url=data["lock_url"],
                redacted_url=redact_url(data["lock_url"]),
                name=data["name"],
                transport=data["transport"],
                created_at=decode_time(created_at, "created_at"),
                lock_info=None if info is None else lock_info_from_dict(info),
                online=bool(online),
                suspended_until=decode_time_or_none(suspended_until, "suspended_until"),
                suspended_reason=reason,
                errors=tuple(_error_from_dict(e) for e in data.get("errors") or ()),
                warnings=tuple(_warning_from_dict(w) for w in data.get("warnings") or ()),
                settings=dict(data.get("settings") or {}),
                updated_at=decode_time(updated_at, "updated_at"),
            )
        except (ModelDecodeError, KeyError, ValueError, TypeError) as exc:
            raise StoreCorrupt(f"device {device_id} cannot be read back: {exc}") from exc

    def put(self, record: DeviceRecord) -> DeviceRecord:
        """Insert or replace a lock. Two devices cannot share a lock URL (`StoreConflict`)."""
        url_scheme(record.lock_url)
        redacted = redact_url(record.lock_url)
        url_fp = self._db.cipher.url_fingerprint(record.lock_url)
        now = self._db.clock.now()
        stored = replace(record, redacted_url=redacted, updated_at=now)
        body = {
            "lock_url": record.lock_url,
            "name": record.name,
            "transport": record.transport,
            "lock_info": None if record.lock_info is None else lock_info_to_dict(record.lock_info),
            "errors": [e.to_dict() for e in record.errors],
            "warnings": [w.to_dict() for w in record.warnings],
            "settings": dict(record.settings),
        }
        with self._db.transaction():
            other = self._db.one(
                "SELECT device_id FROM devices WHERE url_fp = ? AND device_id != ?",
                (url_fp, record.device_id),
            )
            if other is not None:
                raise StoreConflict(f"the lock {redacted} is already device {other[0]}")
            self._db.execute(
                "INSERT INTO devices (device_id, url_fp, lock_url, name, transport, created_at, "
                "updated_at, online, suspended_until, suspended_reason, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(device_id) DO UPDATE SET url_fp = excluded.url_fp, "
                "lock_url = excluded.lock_url, name = excluded.name, "
                "transport = excluded.transport, updated_at = excluded.updated_at, "
                "online = excluded.online, suspended_until = excluded.suspended_until, "
                "suspended_reason = excluded.suspended_reason, body = excluded.body",
                (
                    record.device_id,
                    url_fp,
                    redacted,
                    record.name,
                    record.transport,
                    format_time(record.created_at),
                    format_time(now),
                    int(record.online),
                    format_time_or_none(record.suspended_until),
                    record.suspended_reason,
                    self._db.seal_json(body, f"devices:{record.device_id}"),
                ),
            )
        return stored

    def update(
        self, device_id: str, change: Callable[[DeviceRecord], DeviceRecord]
    ) -> DeviceRecord:
        """Read, change and write one lock atomically."""
        with self._db.transaction():
            changed = change(self.require(device_id))
            if changed.device_id != device_id:
                raise ValueError("update() cannot change a device's id")
            return self.put(changed)

    def delete(self, device_id: str) -> bool:
        """Forget a lock and, by cascade, its codes and observed slots."""
        with self._db.transaction():
            cursor = self._db.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))
        self._cache.pop(device_id, None)
        return cursor.rowcount > 0

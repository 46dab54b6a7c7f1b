"""The append-only event log (a sequence number per event, for SSE and paging) and the
action attempts that API calls hand back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyslot.model.action_attempt import ActionAttempt, ActionType
from keyslot.model.common import ModelDecodeError, decode_enum, format_time
from keyslot.model.events import Event
from keyslot.store.db import Database
from keyslot.store.errors import StoreCorrupt, StoreNotFound

__all__ = ["ActionAttempts", "Events", "StoredEvent"]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event and its place in the log: `seq` only grows, so "after seq N" is a cursor."""

    seq: int
    event: Event


class Events:
    """Append-only: events are never changed, only added (and pruned by age)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._listeners: list[Callable[[StoredEvent], None]] = []

    def append(self, event: Event) -> int:
        """Record `event`; listeners hear of it once the enclosing transaction commits."""
        body = self._db.seal_json(event.to_dict(), f"events:{event.event_id}")
        cursor = self._db.execute(  # one statement: no savepoint of its own needed
            "INSERT INTO events (event_id, event_type, device_id, access_code_id, "
            "created_at, occurred_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                event.event_type.value,
                event.device_id,
                event.access_code_id,
                format_time(event.created_at),
                format_time(event.occurred_at),
                body,
            ),
        )
        seq = int(cursor.lastrowid or 0)
        stored = StoredEvent(seq, event)
        self._db.after_commit(lambda: self._notify(stored))
        return seq

    def subscribe(self, listener: Callable[[StoredEvent], None]) -> Callable[[], None]:
        """Call `listener` with each committed event, in the writing thread; returns unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, stored: StoredEvent) -> None:
        for listener in list(self._listeners):
            listener(stored)

    def get(self, event_id: str) -> StoredEvent | None:
        row = self._db.one("SELECT seq, event_id, body FROM events WHERE event_id = ?", (event_id,))
        return None if row is None else self._decode(row)

    def last_seq(self) -> int:
        row = self._db.one("SELECT MAX(seq) FROM events")
        return int(row[0] or 0) if row else 0

    def query(
        self,
        *,
        after_seq: int | None = None,
        device_ids: Sequence[str] | None = None,
        access_code_ids: Sequence[str] | None = None,
        event_types: Sequence[str] | None = None,
        event_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[StoredEvent]:
        """Events matching every filter given, in log order (or newest first).

        `since`/`until` bound `occurred_at` (inclusive, exclusive).
        """
        where: list[str] = []
        params: list[Any] = []
        if after_seq is not None:
            where.append("seq > ?")
            params.append(after_seq)
        for column, values in (
            ("device_id", device_ids),
            ("access_code_id", access_code_ids),
            ("event_type", event_types),
            ("event_id", event_ids),
        ):
            if values is None:
                continue
            if not values:
                return []
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        if since is not None:
            where.append("occurred_at >= ?")
            params.append(format_time(since))
        if until is not None:
            where.append("occurred_at < ?")
            params.append(format_time(until))
        sql = f"SELECT seq, event_id, body FROM events WHERE {' AND '.join(where) or '1'} "  # noqa: S608 - fixed SQL
        sql += "ORDER BY seq DESC" if newest_first else "ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._decode(row) for row in self._db.all(sql, params)]

    def prune(self, before: datetime) -> int:
        """Drop events that occurred before `before` (the log would otherwise grow forever)."""
        with self._db.transaction():
            cursor = self._db.execute(
                "DELETE FROM events WHERE occurred_at < ?", (format_time(before),)
            )
        return cursor.rowcount

    def _decode(self, row: tuple[Any, ...]) -> StoredEvent:
        seq, event_id, body = row
        data = self._db.open_json(body, f"events:{event_id}")
        try:
            return StoredEvent(int(seq), Event.from_dict(data))
        except (ModelDecodeError, ValueError) as exc:
            raise StoreCorrupt(f"event {event_id} cannot be read back: {exc}") from exc


class ActionAttempts:
    """Action attempts by id; the reconciler moves them from pending to success or error."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, attempt: ActionAttempt, *, access_code_id: str | None = None) -> ActionAttempt:
        """Insert or update an attempt; `access_code_id` links it to the code it acts on
        (kept from the first write when later writes leave it out)."""
        now = self._db.now_text()
        body = self._db.seal_json(attempt.to_dict(), f"action_attempts:{attempt.action_attempt_id}")
        self._db.execute(  # one statement: no savepoint of its own needed
            "INSERT INTO action_attempts (action_attempt_id, action_type, status, "
            "access_code_id, created_at, updated_at, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(action_attempt_id) DO UPDATE SET status = excluded.status, "
            "access_code_id = COALESCE(excluded.access_code_id, access_code_id), "
            "updated_at = excluded.updated_at, body = excluded.body",
            (
                attempt.action_attempt_id,
                attempt.action_type.value,
                attempt.status.value,
                access_code_id,
                now,
                now,
                body,
            ),
        )
        return attempt

    def get(self, action_attempt_id: str) -> ActionAttempt | None:
        row = self._db.one(
            "SELECT action_attempt_id, body FROM action_attempts WHERE action_attempt_id = ?",
            (action_attempt_id,),
        )
        return None if row is None else self._decode(row)

    def _decode(self, row: tuple[Any, ...]) -> ActionAttempt:
        data = self._db.open_json(row[1], f"action_attempts:{row[0]}")
        try:
            return ActionAttempt.from_dict(data)
        except ModelDecodeError as exc:
            raise StoreCorrupt(f"action attempt {row[0]} cannot be read back: {exc}") from exc

    def require(self, action_attempt_id: str) -> ActionAttempt:
        attempt = self.get(action_attempt_id)
        if attempt is None:
            raise StoreNotFound(f"no action attempt {action_attempt_id}")
        return attempt

    def pending_for_code(self, access_code_id: str) -> list[ActionAttempt]:
        """The attempts still pending for a code, oldest first (to settle when it lands).

        A pending attempt is its id and action type alone (no result, no error), both in
        plain columns: nothing is decrypted (the reconciler asks after every outcome)."""
        rows = self._db.all(
            "SELECT action_attempt_id, action_type FROM action_attempts "
            "WHERE access_code_id = ? AND status = 'pending' ORDER BY created_at",
            (access_code_id,),
        )
        try:
            return [
                ActionAttempt(str(attempt_id), decode_enum(ActionType, kind, "action_type"))
                for attempt_id, kind in rows
            ]
        except ModelDecodeError as exc:
            raise StoreCorrupt(f"a pending action attempt cannot be read back: {exc}") from exc

    def pending_ids(self) -> list[str]:
        rows = self._db.all(
            "SELECT action_attempt_id FROM action_attempts WHERE status = 'pending' "
            "ORDER BY created_at"
        )
        return [str(r[0]) for r in rows]

    def prune(self, before: datetime) -> int:
        """Drop finished attempts last changed before `before`."""
        with self._db.transaction():
            cursor = self._db.execute(
                "DELETE FROM action_attempts WHERE status != 'pending' AND updated_at < ?",
                (format_time(before),),
            )
        return cursor.rowcount

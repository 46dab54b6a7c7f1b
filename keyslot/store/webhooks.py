"""Webhook subscriptions; each signing secret is sealed with the store key."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from keyslot.model.common import decode_time, format_time, new_id
from keyslot.store.db import Database
from keyslot.store.errors import StoreCorrupt
from keyslot.store.records import Webhook

__all__ = ["Webhooks"]


class Webhooks:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, url: str, event_types: Sequence[str] = ()) -> Webhook:
        """A new subscription with a fresh signing secret (shown to the caller once)."""
        hook = Webhook(
            webhook_id=new_id(),
            url=url,
            event_types=tuple(event_types),
            secret=f"whsec_{secrets.token_urlsafe(24)}",
            created_at=self._db.clock.now(),
        )
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO webhooks (webhook_id, url, event_types, secret_ct, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    hook.webhook_id,
                    url,
                    json.dumps(list(hook.event_types)),
                    self._db.cipher.seal_text(hook.secret, f"webhooks:{hook.webhook_id}"),
                    format_time(self._db.clock.now()),
                ),
            )
        return hook

    def get(self, webhook_id: str) -> Webhook | None:
        row = self._db.one(
            "SELECT webhook_id, url, event_types, secret_ct, created_at FROM webhooks "
            "WHERE webhook_id = ?",
            (webhook_id,),
        )
        return None if row is None else self._decode(row)

    def all(self) -> list[Webhook]:
        rows = self._db.all(
            "SELECT webhook_id, url, event_types, secret_ct, created_at FROM webhooks "
            "ORDER BY created_at, webhook_id"
        )
        return [self._decode(row) for row in rows]

    def delete(self, webhook_id: str) -> bool:
        with self._db.transaction():
            cursor = self._db.execute("DELETE FROM webhooks WHERE webhook_id = ?", (webhook_id,))
        return cursor.rowcount > 0

    def _decode(self, row: tuple[Any, ...]) -> Webhook:
        webhook_id, url, event_types, secret_ct, created_at = row
        try:
            types = tuple(str(t) for t in json.loads(event_types))
        except (ValueError, TypeError) as exc:
            raise StoreCorrupt(f"webhook {webhook_id} has damaged event types") from exc
        return Webhook(
            webhook_id=webhook_id,
            url=url,
            event_types=types,
            secret=self._db.cipher.open_text(bytes(secret_ct), f"webhooks:{webhook_id}"),
            created_at=decode_time(created_at, "created_at"),
        )

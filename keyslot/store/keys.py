"""API keys (only a SHA-256 hash and a display prefix are kept) and driver pairing keys
(sealed with the store key)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from keyslot.model.common import decode_time, decode_time_or_none, format_time, new_id
from keyslot.store.db import Database
from keyslot.store.errors import StoreConflict
from keyslot.store.records import ApiKey
from keyslot.store.urls import redact_url

__all__ = ["ApiKeys", "PairingKeys", "hash_api_key"]

_PREFIX_CHARS = 13  # "seam_" + 8 hex digits: enough to tell keys apart in a list
_LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoid one fsync per request


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _new_api_key() -> str:
    # Hex after "seam_" can never spell the prefixes SDKs refuse (seam_cst, seam_at, seam_pk).
    return f"seam_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"


class ApiKeys:
    """Keys that open the HTTP API. The key is shown once, at creation."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, name: str) -> tuple[ApiKey, str]:
        """A new key: its listing entry and the key itself (never stored, print it once)."""
        key = _new_api_key()
        now = self._db.clock.now()
        record = ApiKey(new_id(), name, key[:_PREFIX_CHARS], now)
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO api_keys (api_key_id, name, prefix, key_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.api_key_id, name, record.prefix, hash_api_key(key), format_time(now)),
            )
        return record, key

    def all(self, *, include_revoked: bool = False) -> list[ApiKey]:
        sql = "SELECT api_key_id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        return [self._decode(row) for row in self._db.all(sql + " ORDER BY created_at")]

    def revoke(self, key_or_prefix_or_id: str) -> list[ApiKey]:
        """Revoke by id, display prefix or the key itself; returns what was revoked.

        A prefix shared by several keys revokes none (`StoreConflict`): name one by id.
        """
        needle = key_or_prefix_or_id.strip()
        if not needle:
            return []
        with self._db.transaction():
            targets = [
                k
                for k in self.all()
                if needle in (k.api_key_id, k.prefix) or self._matches(k, needle)
            ]
            if len(targets) > 1:
                raise StoreConflict(f"{len(targets)} keys match; give the key's id")
            for target in targets:
                self._db.execute(
                    "UPDATE api_keys SET revoked_at = ? WHERE api_key_id = ?",
                    (self._db.now_text(), target.api_key_id),
                )
        return targets

    def _matches(self, key: ApiKey, candidate: str) -> bool:
        row = self._db.one("SELECT key_hash FROM api_keys WHERE api_key_id = ?", (key.api_key_id,))
        return row is not None and hmac.compare_digest(str(row[0]), hash_api_key(candidate))

    def verify(self, key: str) -> bool:
        """Whether `key` is a live API key (constant-time compare of the hash)."""
        digest = hash_api_key(key)
        row = self._db.one(
            "SELECT api_key_id, key_hash, last_used_at FROM api_keys "
            "WHERE key_hash = ? AND revoked_at IS NULL",
            (digest,),
        )
        if row is None or not hmac.compare_digest(str(row[1]), digest):
            return False
        now = self._db.clock.now()
        last = decode_time_or_none(row[2], "last_used_at")
        if last is None or now - last >= _LAST_USED_RESOLUTION:
            with self._db.transaction():
                self._db.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE api_key_id = ?",
                    (format_time(now), row[0]),
                )
        return True

    @staticmethod
    def _decode(row: tuple[Any, ...]) -> ApiKey:
        api_key_id, name, prefix, created_at, last_used_at, revoked_at = row
        return ApiKey(
            api_key_id=api_key_id,
            name=name,
            prefix=prefix,
            created_at=decode_time(created_at, "created_at"),
            last_used_at=decode_time_or_none(last_used_at, "last_used_at"),
            revoked_at=decode_time_or_none(revoked_at, "revoked_at"),
        )


class PairingKeys:
    """Secrets agreed with a lock at pairing, sealed; implements `drivers.PairingKeyStore`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def load_key(self, lock_url: str) -> bytes | None:
        url_fp = self._db.cipher.url_fingerprint(lock_url)
        row = self._db.one("SELECT key_ct FROM pairing_keys WHERE url_fp = ?", (url_fp,))
        if row is None:
            return None
        return self._db.cipher.open(bytes(row[0]), f"pairing_keys:{url_fp}")

    def save_key(self, lock_url: str, key: bytes) -> None:
        url_fp = self._db.cipher.url_fingerprint(lock_url)
        sealed = self._db.cipher.seal(bytes(key), f"pairing_keys:{url_fp}")
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO pairing_keys (url_fp, lock_url, key_ct, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(url_fp) DO UPDATE SET "
                "key_ct = excluded.key_ct, updated_at = excluded.updated_at",
                (url_fp, redact_url(lock_url), sealed, self._db.now_text()),
            )

    def delete_key(self, lock_url: str) -> bool:
        url_fp = self._db.cipher.url_fingerprint(lock_url)
        with self._db.transaction():
            cursor = self._db.execute("DELETE FROM pairing_keys WHERE url_fp = ?", (url_fp,))
        return cursor.rowcount > 0

    def urls(self) -> list[str]:
        """The (redacted) URLs of the locks with a pairing key."""
        return [str(r[0]) for r in self._db.all("SELECT lock_url FROM pairing_keys ORDER BY 1")]

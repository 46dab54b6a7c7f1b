"""Errors of the store: a wrong key, a damaged or too-new database, a missing row."""

from __future__ import annotations

from keyslot.protocol.slots import FinalError

__all__ = [
    "StoreConflict",
    "StoreCorrupt",
    "StoreError",
    "StoreKeyError",
    "StoreNotFound",
    "StoreVersionError",
]


class StoreError(FinalError):
    """Root of the store's errors."""

    code = "store_error"


class StoreKeyError(StoreError):
    """The store key is missing, malformed, or is not the key this database was written with."""

    code = "store_key_error"


class StoreCorrupt(StoreError):
    """A row or the database file cannot be read back as written."""

    code = "store_corrupt"


class StoreVersionError(StoreError):
    """The database was written by a newer keyslot than this one."""

    code = "store_version_error"


class StoreNotFound(StoreError):
    """The row asked for does not exist."""

    code = "store_not_found"


class StoreConflict(StoreError):
    """A row changed since it was read (its revision moved on): read it again and retry."""

    code = "store_conflict"

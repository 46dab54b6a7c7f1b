"""Opaque page cursors for keyset pagination over (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json

from keyslot.model.api_errors import InvalidInput

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(created_at: str, row_id: str) -> str:
    raw = json.dumps([created_at, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The position after which the next page starts; a cursor not made here is bad input."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidInput.for_field("page_cursor", "is not a cursor this API gave") from None
    if not isinstance(created_at, str) or not isinstance(row_id, str):
        raise InvalidInput.for_field("page_cursor", "is not a cursor this API gave")
    return created_at, row_id

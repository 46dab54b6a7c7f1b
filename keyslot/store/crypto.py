"""Encryption at rest: the store key, AES-GCM sealing bound to a row, and PIN fingerprints.

The 256-bit key lives apart from the database (a 0600 key file or `KEYSLOT_STORE_KEY`), so a
copied database file alone reveals no PIN. Sub-keys are derived with HKDF so the key that
encrypts codes is never the key that fingerprints them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyslot.store.errors import StoreCorrupt, StoreKeyError

__all__ = ["ENV_KEY", "KEY_FILE_NAME", "Cipher", "load_or_create_key", "parse_key"]

ENV_KEY = "KEYSLOT_STORE_KEY"
KEY_FILE_NAME = "store.key"
KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT_V1 = b"\x01"
_REMEMBERED_FINGERPRINTS = 16384


def parse_key(text: str) -> bytes:
    """A 256-bit key written as 64 hex digits or as base64 (standard or URL-safe)."""
    text = text.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise StoreKeyError("the store key must be 32 bytes written as 64 hex digits or as base64")
    return raw


def load_or_create_key(key_file: Path, *, env: dict[str, str] | None = None) -> bytes:
    """The store key: `KEYSLOT_STORE_KEY` if set, else `key_file`, created 0600 if missing."""
    environ = os.environ if env is None else env
    from_env = environ.get(ENV_KEY)
    if from_env:
        return parse_key(from_env)
    try:
        text = key_file.read_text(encoding="ascii")
    except FileNotFoundError:
        return _create_key_file(key_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreKeyError(f"cannot read the store key file {key_file}: {exc}") from exc
    return parse_key(text)


def _create_key_file(key_file: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return parse_key(key_file.read_text(encoding="ascii"))
    except OSError as exc:
        raise StoreKeyError(f"cannot create the store key file {key_file}: {exc}") from exc
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, but be explicit
        os.write(fd, (key.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _derive(master: bytes, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose)
    return hkdf.derive(master)


class Cipher:
    """Seals small secrets (PINs, pairing keys) so each ciphertext only opens for its own row."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise StoreKeyError("the store key must be 32 bytes")
        self._aead = AESGCM(_derive(master_key, b"keyslot store aead v1"))
        self._fingerprint_key = _derive(master_key, b"keyslot code fingerprint v1")
        self._check = _derive(master_key, b"keyslot store key check v1")
        # The reconciler fingerprints every code of a lock on each pass: remember recent ones
        # (in memory only, like the decoded codes themselves).
        self._fingerprints = functools.lru_cache(maxsize=_REMEMBERED_FINGERPRINTS)(
            self._code_digest
        )

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, aad.encode())

    def open(self, blob: bytes, aad: str) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _FORMAT_V1:
            raise StoreCorrupt(f"an encrypted value of {aad.split(':', 1)[0]} is malformed")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, aad.encode())
        except InvalidTag as exc:
            raise StoreCorrupt(
                f"an encrypted value of {aad.split(':', 1)[0]} does not open with the store key "
                "(tampered, moved to another row, or a different key)"
            ) from exc

    def seal_text(self, text: str, aad: str) -> bytes:
        return self.seal(text.encode("utf-8"), aad)

    def open_text(self, blob: bytes, aad: str) -> str:
        return self.open(blob, aad).decode("utf-8")

    def fingerprint(self, code: str) -> str:
        """A keyed digest of a PIN: equal codes compare equal, but the digest reveals nothing."""
        return self._fingerprints(code)

    def _code_digest(self, code: str) -> str:
        mac = hmac.new(self._fingerprint_key, code.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()

    def url_fingerprint(self, url: str) -> str:
        """A keyed digest of a lock URL, so a URL's password never sits in an index."""
        mac = hmac.new(self._fingerprint_key, b"lock-url\0" + url.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()

    def key_check(self) -> str:
        """A value stored with the database that tells a wrong key from a corrupt row."""
        return hashlib.sha256(self._check).hexdigest()

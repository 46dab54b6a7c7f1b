"""The backup file: a store snapshot and its key in one file, encrypted with a passphrase.

Why one file and not two: the store key decrypts every PIN, and a key kept "separately"
ends up on the same USB stick or in the same cloud folder as the database. Sealing both
under a passphrase means the file alone reveals nothing, and the passphrase (kept in a
password manager, not on the gateway's SD card) is the one secret a restore needs.

Layout (all integers big-endian):

    magic      8 bytes  b"KSLOTBAK"
    format     1 byte   1
    kdf        1 byte   1 = scrypt
    log2 N     1 byte   scrypt cost (15 by default: 32 MiB, about a second on a Pi 3)
    r, p       1 byte each
    salt      16 bytes
    nonce     12 bytes
    sealed     AES-256-GCM over zlib(payload), the 40 bytes above as associated data

    payload    u32 manifest length | manifest (UTF-8 JSON) | the SQLite database

The manifest carries the store key, the database's SHA-256 and size, the schema version,
the workspace id and when the backup was made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import struct
import sys
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keyslot.protocol.slots import FinalError

__all__ = [
    "DEFAULT_LOG2_N",
    "MIN_PASSPHRASE",
    "PASSPHRASE_ENV",
    "BackupContents",
    "BackupError",
    "open_backup",
    "read_passphrase",
    "seal_backup",
]

MAGIC = b"KSLOTBAK"
FORMAT = 1
KDF_SCRYPT = 1
DEFAULT_LOG2_N = 15
MAX_LOG2_N = 18  # 256 MiB with r=8: refuse files that would exhaust a small gateway's memory
MAX_R, MAX_P = 16, 4
MIN_PASSPHRASE = 12
PASSPHRASE_ENV = "KEYSLOT_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
_HEADER = struct.Struct(">8sBBBBB16s12s")
_MANIFEST_LEN = struct.Struct(">I")


class BackupError(FinalError):
    """A backup cannot be written or read; the message says why and what to do."""

    code = "backup_error"


@dataclass(frozen=True, slots=True)
class BackupContents:
    manifest: Mapping[str, Any]
    database: bytes

    @property
    def store_key(self) -> bytes:
        return bytes.fromhex(str(self.manifest["store_key"]))


def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=2**log2_n, r=r, p=p)
    return kdf.derive(passphrase.encode("utf-8"))


def seal_backup(
    manifest: Mapping[str, Any],
    database: bytes,
    passphrase: str,
    *,
    log2_n: int = DEFAULT_LOG2_N,
    r: int = 8,
    p: int = 1,
) -> bytes:
    """The bytes of a backup file holding `manifest` (with the key) and `database`."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(
            f"the backup passphrase must have at least {MIN_PASSPHRASE} characters; "
            "make one with `openssl rand -base64 24`"
        )
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header = _HEADER.pack(MAGIC, FORMAT, KDF_SCRYPT, log2_n, r, p, salt, nonce)
    text = json.dumps(dict(manifest), sort_keys=True).encode("utf-8")
    payload = _MANIFEST_LEN.pack(len(text)) + text + database
    key = _derive(passphrase, salt, log2_n, r, p)
    return header + AESGCM(key).encrypt(nonce, zlib.compress(payload, 6), header)


def open_backup(blob: bytes, passphrase: str) -> BackupContents:
    """The manifest and database of a backup file; `BackupError` if anything is off."""
    if len(blob) < _HEADER.size + 16 or not blob.startswith(MAGIC):
        raise BackupError("this is not a keyslot backup file")
    _, version, kdf, log2_n, r, p, salt, nonce = _HEADER.unpack_from(blob)
    if version != FORMAT or kdf != KDF_SCRYPT:
        raise BackupError(
            f"the backup has format {version} (kdf {kdf}); this keyslot reads format {FORMAT}: "
            "restore it with a newer keyslot"
        )
    if not (1 <= log2_n <= MAX_LOG2_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        raise BackupError("the backup asks for an implausible key derivation cost; not restoring")
    header = blob[: _HEADER.size]
    key = _derive(passphrase, salt, log2_n, r, p)
    try:
        compressed = AESGCM(key).decrypt(nonce, blob[_HEADER.size :], header)
    except InvalidTag:
        raise BackupError("wrong passphrase, or the backup file is damaged") from None
    try:
        payload = zlib.decompress(compressed)
        (length,) = _MANIFEST_LEN.unpack_from(payload)
        manifest = json.loads(payload[4 : 4 + length].decode("utf-8"))
    except (zlib.error, struct.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"the backup's contents are damaged ({exc})") from None
    database = payload[4 + length :]
    if not isinstance(manifest, dict) or not {"store_key", "database_sha256"} <= set(manifest):
        raise BackupError("the backup's manifest is incomplete")
    if hashlib.sha256(database).hexdigest() != manifest["database_sha256"]:
        raise BackupError("the database in the backup does not match its checksum")
    key_hex = manifest["store_key"]
    if not isinstance(key_hex, str) or not re.fullmatch(r"[0-9a-f]{64}", key_hex):
        raise BackupError("the backup's store key is malformed")
    return BackupContents(manifest, database)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def read_passphrase(
    passphrase_file: Path | None,
    *,
    confirm: bool,
    environ: Mapping[str, str] | None = None,
) -> str:
    """From `--passphrase-file` (first line; `-` is stdin), `$KEYSLOT_BACKUP_PASSPHRASE`,
    or typed at a terminal (twice when making a backup)."""
    env = os.environ if environ is None else environ
    if passphrase_file is not None:
        if str(passphrase_file) == "-":
            return _first_line(sys.stdin.read())
        try:
            info = passphrase_file.stat()
            text = passphrase_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BackupError(f"cannot read the passphrase file {passphrase_file}: {exc}") from None
        if info.st_mode & 0o077:
            sys.stderr.write(
                f"keyslot: warning: {passphrase_file} can be read by other users "
                f"(chmod 600 {passphrase_file})\n"
            )
        return _first_line(text)
    if env.get(PASSPHRASE_ENV):
        return env[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise BackupError(
            f"no passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV} "
            "(or run at a terminal to type it)"
        )
    import getpass

    first = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise BackupError("the two passphrases differ")
    return first

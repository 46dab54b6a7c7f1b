"""A simulated lock's memory on disk: encrypted (AES-GCM) and replaced atomically.

The state holds PINs, so it is never written in the clear. The key comes from the
environment variable `KEYSLOT_SIM_KEY` (hex, 16/24/32 bytes) or from a key file beside the
state (`<state>.key`, created with mode 0600 on first save). A state file is replaced by
write-to-temp, fsync, rename, so a power cut leaves either the old or the new state.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyslot.protocol.slots import FinalError

__all__ = [
    "KEY_ENV",
    "STATE_FORMAT",
    "SimulatorStateError",
    "key_path",
    "read_state",
    "replace_state",
    "seal_state",
    "write_state",
]

KEY_ENV = "KEYSLOT_SIM_KEY"
STATE_FORMAT = 1  # the "format" every state file carries
_MAGIC = b"KSSIM1\n"
_NONCE = 12


class SimulatorStateError(FinalError):
    """A simulated lock's state file cannot be read or written (corrupt, wrong key, disk)."""

    code = "simulator_state_error"


def key_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".key")


def _env_key() -> bytes | None:
    text = os.environ.get(KEY_ENV)
    if not text:
        return None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise SimulatorStateError(f"{KEY_ENV} must be hex") from None
    if len(key) not in (16, 24, 32):
        raise SimulatorStateError(f"{KEY_ENV} must be 16, 24 or 32 bytes of hex")
    return key


def _load_key(state_path: Path, *, create: bool) -> bytes:
    key = _env_key()
    if key is not None:
        return key
    path = key_path(state_path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise SimulatorStateError(
                f"the key file {path.name} for simulator state {state_path.name} is missing "
                f"(or set {KEY_ENV})"
            ) from None
        return _create_key(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulatorStateError(f"cannot read key file {path.name}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise SimulatorStateError(f"key file {path.name} is not hex") from None
    if len(key) not in (16, 24, 32):
        raise SimulatorStateError(f"key file {path.name} does not hold an AES key")
    return key


def _create_key(path: Path) -> bytes:
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _load_key(path.with_name(path.name.removesuffix(".key")), create=False)
    except OSError as exc:
        raise SimulatorStateError(f"cannot create key file {path.name}: {exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Encrypt `state` (JSON-able) and replace the file at `path` atomically."""
    replace_state(path, seal_state(path, state))


def seal_state(path: Path, state: dict[str, Any]) -> bytes:
    """The encrypted file content of `state`, for `replace_state`."""
    key = _load_key(path, create=True)
    nonce = secrets.token_bytes(_NONCE)
    plaintext = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return _MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, _MAGIC)


def replace_state(path: Path, blob: bytes) -> None:
    """Replace the file at `path` with `blob`: write-to-temp, fsync, rename, fsync the
    directory (blocking: an event loop runs it in a thread)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise SimulatorStateError(f"cannot save simulator state {path.name}: {exc}") from None


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_state(path: Path, *, unversioned: bool = False) -> dict[str, Any]:
    """Decrypt and parse the state at `path`; SimulatorStateError says what is wrong.

    Every state carries `"format": 1`; `unversioned` also accepts a state without one (what
    early versions wrote for a serial pairing key), which is returned as format 1.
    """
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise SimulatorStateError(f"cannot read simulator state {path.name}: {exc}") from None
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE + 16:
        raise SimulatorStateError(f"{path.name} is not a keyslot simulator state file")
    key = _load_key(path, create=False)
    nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
    try:
        plaintext = AESGCM(key).decrypt(nonce, blob[len(_MAGIC) + _NONCE :], _MAGIC)
    except InvalidTag:
        raise SimulatorStateError(
            f"{path.name} cannot be decrypted: wrong key or a damaged file"
        ) from None
    try:
        state = json.loads(plaintext)
    except ValueError:
        raise SimulatorStateError(f"{path.name} decrypted to something that is not JSON") from None
    if isinstance(state, dict) and unversioned and "format" not in state:
        state["format"] = STATE_FORMAT
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise SimulatorStateError(f"{path.name} has an unknown state format")
    return state

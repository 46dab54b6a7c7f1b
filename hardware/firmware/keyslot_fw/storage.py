"""Flash files, sealed with a device key kept in a file of its own.

The lock has no secure element, so the device key lives on the same flash: the sealing
keeps PINs and the pairing key out of a copied file, a backup or a quick look at the
filesystem, and detects a damaged or edited file; it does not stop someone who dumps the
whole flash. Every write goes to a temporary file first and is renamed over the old one, so
a power cut leaves either the old or the new file.
"""

import os

from keyslot_fw.ccm import CCM

MAGIC = b"KSF1"
KEY_FILE = "device.key"
_NONCE = 13


class Damaged(Exception):
    """A flash file that does not open with the device key (damaged, edited or foreign)."""


def _exists(path):
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        if hasattr(os, "fsync"):  # CPython; MicroPython's files reach flash on close
            f.flush()
            os.fsync(f.fileno())
    if hasattr(os, "chmod"):  # CPython: only the owner reads the lock's files
        os.chmod(tmp, 0o600)
    os.rename(tmp, path)


class Flash:
    """Sealed files in `directory` (a folder on the board's littlefs, or any folder)."""

    def __init__(self, directory, aes, random_bytes):
        self.directory = directory.rstrip("/") if directory != "/" else ""
        self._random = random_bytes
        self._ccm = CCM(aes(self._device_key()), 8)

    def path(self, name):
        return self.directory + "/" + name

    def _device_key(self):
        path = self.path(KEY_FILE)
        if _exists(path):
            with open(path, "rb") as f:
                key = f.read()
            if len(key) == 16:
                return key
            os.rename(path, path + ".bad")
        key = self._random(16)
        _write_atomic(path, key)
        return key

    def save(self, name, data):
        nonce = self._random(_NONCE)
        sealed = self._ccm.seal(nonce, data, MAGIC + name.encode())
        _write_atomic(self.path(name), MAGIC + nonce + sealed)

    def load(self, name):
        """The plaintext of file `name`; None if there is none; Damaged if it does not open."""
        path = self.path(name)
        if not _exists(path):
            return None
        with open(path, "rb") as f:
            blob = f.read()
        plain = None
        if blob[:4] == MAGIC:
            nonce = blob[4 : 4 + _NONCE]
            plain = self._ccm.open(nonce, blob[4 + _NONCE :], MAGIC + name.encode())
        if plain is None:
            raise Damaged(name)
        return plain

    def set_aside(self, name):
        """Keep a damaged file for inspection (`NAME.bad`) and start without it."""
        path = self.path(name)
        if _exists(path):
            os.rename(path, path + ".bad")

    def remove(self, name):
        path = self.path(name)
        if _exists(path):
            os.remove(path)

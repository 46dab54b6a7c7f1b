"""Decoded access codes kept in memory, so reading an unchanged row again costs a dict
look-up instead of AES-GCM, JSON parsing and model decoding.

An entry stands for one stored version of a row: its revision and the nonce of its sealed
body. Every write seals the body anew, so the nonce names one write, even one made by
another process or one whose transaction rolled back after the entry was made; a row
that does not match is decoded again and replaces the entry.

Two bounded tiers, least recently used first out:

- records (`CodeRecord`, about 1 KB each in CPython): what the reconciler and the service
  re-read, a device's codes at a time. A pass reads every code of its lock, round by round
  over the locks, and least recently used goes first: a working set just above the size
  would miss on every read (a pass over a lock then decodes all of its codes). So the
  store sizes this tier to the codes it holds (`hold`), a quarter more, never below the
  size given;
- Seam's JSON of each code (`to_dict()`), zlib-compressed against a dictionary made from
  the first code encoded (about 100 bytes instead of 830), for long lists: a list of
  10,000 codes is then 10,000 decompressions instead of 10,000 decodes and encodes.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from keyslot.store.records import CodeRecord

__all__ = ["DEFAULT_JSON", "DEFAULT_RECORDS", "CacheStats", "CodeCache", "body_tag"]

DEFAULT_RECORDS = 4096  # a pass reads a lock's codes at a time; every lock's, round by round
DEFAULT_JSON = 50_000  # about 6 MB at most
_NONCE = slice(1, 13)  # the sealed body's nonce (see crypto.Cipher.seal)
_WBITS = -15  # raw deflate: no header or checksum on every entry


def body_tag(body: bytes) -> bytes:
    """What names one write of a row: the nonce its body was sealed with."""
    return bytes(body[_NONCE])


@dataclass(slots=True)
class CacheStats:
    record_hits: int = 0
    record_misses: int = 0
    json_hits: int = 0
    json_misses: int = 0


class CodeCache:
    """Records and JSON of access codes by id, each valid for one (revision, tag)."""

    def __init__(self, *, records: int = DEFAULT_RECORDS, json: int = DEFAULT_JSON) -> None:
        self._min_records = records
        self._max_records = records
        self._max_json = json
        self._records: OrderedDict[str, tuple[int, bytes, CodeRecord]] = OrderedDict()
        self._json: OrderedDict[str, tuple[int, bytes]] = OrderedDict()  # tag + deflated
        self._zdict: bytes | None = None
        self._lock = threading.Lock()
        self.stats = CacheStats()

    # -- records ------------------------------------------------------------------------

    def record(self, access_code_id: str, revision: int, tag: bytes) -> CodeRecord | None:
        with self._lock:
            entry = self._records.get(access_code_id)
            if entry is None or entry[0] != revision or entry[1] != tag:
                self.stats.record_misses += 1
                return None
            self._records.move_to_end(access_code_id)
            self.stats.record_hits += 1
            return entry[2]

    def keep_record(self, revision: int, tag: bytes, record: CodeRecord) -> None:
        if self._max_records <= 0:
            return
        with self._lock:
            self._records[record.access_code_id] = (revision, tag, record)
            self._records.move_to_end(record.access_code_id)
            while len(self._records) > self._max_records:
                self._records.popitem(last=False)

    def hold(self, codes: int) -> None:
        """The store holds `codes` codes: keep room for all of them (and a quarter more, for
        growth), or the size given at creation if that is more. A size of 0 stays off."""
        if self._min_records > 0:
            self._max_records = max(self._min_records, codes + codes // 4)

    @property
    def record_limit(self) -> int:
        return self._max_records

    # -- JSON -------------------------------------------------------------------------

    def json(self, access_code_id: str, revision: int, tag: bytes) -> bytes | None:
        with self._lock:
            entry = self._json.get(access_code_id)
            if entry is None or entry[0] != revision or not entry[1].startswith(tag):
                self.stats.json_misses += 1
                return None
            self._json.move_to_end(access_code_id)
            self.stats.json_hits += 1
            packed, zdict = entry[1], self._zdict
        inflater = zlib.decompressobj(_WBITS, zdict=zdict or b"")
        return inflater.decompress(packed[len(tag) :]) + inflater.flush()

    def keep_json(self, access_code_id: str, revision: int, tag: bytes, data: bytes) -> None:
        if self._max_json <= 0:
            return
        with self._lock:
            if self._zdict is None:
                self._zdict = data  # later codes share most of its keys and values
            zdict = self._zdict
        deflater = zlib.compressobj(6, zlib.DEFLATED, _WBITS, 1, zlib.Z_DEFAULT_STRATEGY, zdict)
        packed = tag + deflater.compress(data) + deflater.flush()
        with self._lock:
            self._json[access_code_id] = (revision, packed)
            self._json.move_to_end(access_code_id)
            while len(self._json) > self._max_json:
                self._json.popitem(last=False)

    # -- both ---------------------------------------------------------------------------

    def forget(self, access_code_id: str) -> None:
        with self._lock:
            self._records.pop(access_code_id, None)
            self._json.pop(access_code_id, None)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._json.clear()

    def __len__(self) -> int:
        """Entries held (records and JSON counted apart)."""
        return len(self._records) + len(self._json)

    @property
    def sizes(self) -> tuple[int, int]:
        """(records, JSON entries) held now."""
        return len(self._records), len(self._json)

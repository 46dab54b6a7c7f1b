"""What a lock's worker remembers between passes about codes that did not change, so a pass
over a lock with many codes does not redo the same per-code work after every change.

A code's stored version is its (revision, updated_at): every write of the row moves both.
Kept per code: its planner spec (a pure function of the stored record), and whether settling
it changed nothing last time, for a code without a time frame (its status then depends on the
record and the lock's capabilities alone, never on the clock). Nothing here holds a record.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from keyslot.protocol.slots import LockInfo
from keyslot.reconciler.ledger import spec_of
from keyslot.reconciler.state import CodeSpec, Fingerprint
from keyslot.store import CodeRecord

__all__ = ["PassMemo", "timeless"]

_Version = tuple[int, datetime | None]


def _version(record: CodeRecord) -> _Version:
    return record.revision, record.updated_at


def timeless(record: CodeRecord) -> bool:
    """Whether nothing about the code changes with time alone (no time frame)."""
    code = record.access_code
    return code.starts_at is None and code.ends_at is None


class PassMemo:
    """Planner specs and settled-and-unchanged marks of one device's codes, by version."""

    def __init__(self) -> None:
        self._specs: dict[str, tuple[_Version, CodeSpec]] = {}
        self._quiet: dict[str, tuple[_Version, LockInfo]] = {}

    def spec(self, record: CodeRecord, fingerprint: Fingerprint) -> CodeSpec:
        """`spec_of(record)`, computed once per stored version of the code."""
        version = _version(record)
        known = self._specs.get(record.access_code_id)
        if known is not None and known[0] == version:
            return known[1]
        spec = spec_of(record, fingerprint)
        if record.revision > 0:  # a stored version (an unsaved record has revision 0)
            self._specs[record.access_code_id] = (version, spec)
        return spec

    def quiet(self, record: CodeRecord, lock: LockInfo) -> bool:
        """Whether settling this version under `lock` is known to change nothing."""
        known = self._quiet.get(record.access_code_id)
        return known is not None and known[0] == _version(record) and known[1] is lock

    def settled_unchanged(self, record: CodeRecord, lock: LockInfo) -> None:
        """Settling `record` under `lock` changed nothing; remember it if time cannot."""
        if record.revision > 0 and timeless(record):
            self._quiet[record.access_code_id] = (_version(record), lock)

    def keep_only(self, access_code_ids: Collection[str]) -> None:
        """Forget codes that are gone from the device."""
        for memory in (self._specs, self._quiet):
            if len(memory) > len(access_code_ids):
                for gone in [cid for cid in memory if cid not in access_code_ids]:
                    del memory[gone]

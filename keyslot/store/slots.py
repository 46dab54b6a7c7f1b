"""Observed slot tables: what each lock held when last read, with PINs as fingerprints only.

The reconciler compares `Store.fingerprint(code)` of a wanted code with a slot's
`code_fingerprint`; the PIN itself is never written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from keyslot.model.common import decode_time, decode_time_or_none, format_time, format_time_or_none
from keyslot.protocol.slots import Schedule, Slot, SlotStatus
from keyslot.store.db import Database
from keyslot.store.records import ObservedSlot, ObservedTable

__all__ = ["ObservedSlots"]

_COLUMNS = (
    "slot, status, code_fp, code_masked, name, first_name, last_name, "
    "schedule_starts_at, schedule_ends_at, one_time"
)


class ObservedSlots:
    """The last read slot table of each lock."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # device -> (read_at, checksum, slots) as last saved by this connection: a save
        # compares with it instead of reading the table back, while the head row shows
        # that nobody wrote the table since
        self._saved: dict[str, tuple[str, int | None, dict[int, ObservedSlot]]] = {}

    def observe(self, slot: Slot) -> ObservedSlot:
        """A slot as read from the lock, its PIN replaced by the keyed fingerprint."""
        return ObservedSlot(
            index=slot.index,
            status=slot.status,
            code_fingerprint=None if slot.code is None else self._db.cipher.fingerprint(slot.code),
            code_masked=slot.code_masked,
            name=slot.name,
            first_name=slot.first_name,
            last_name=slot.last_name,
            schedule=slot.schedule,
            one_time=slot.one_time,
        )

    def save_table(
        self,
        device_id: str,
        slots: Iterable[Slot | ObservedSlot],
        *,
        read_at: datetime,
        checksum: int | None = None,
    ) -> ObservedTable:
        """Replace the whole observed table of a lock with a fresh full read.

        Only the slots that differ from the stored table are written (a pass after one write
        changes one row, not the lock's whole table); a row keeps the time it last changed.
        """
        observed = tuple(s if isinstance(s, ObservedSlot) else self.observe(s) for s in slots)
        read_text = format_time(read_at)
        with self._db.transaction():
            stored = self._stored(device_id)
            wanted = {item.index: item for item in observed}
            for index in stored.keys() - wanted.keys():
                self._db.execute(
                    "DELETE FROM observed_slots WHERE device_id = ? AND slot = ?",
                    (device_id, index),
                )
            for index, item in wanted.items():
                if stored.get(index) != item:
                    self._write(device_id, item, read_at)
            self._db.execute(
                "INSERT INTO observed_tables (device_id, read_at, checksum) VALUES (?, ?, ?) "
                "ON CONFLICT(device_id) DO UPDATE SET read_at = excluded.read_at, "
                "checksum = excluded.checksum",
                (device_id, read_text, checksum),
            )
            saved = (read_text, checksum, wanted)
            self._saved.pop(device_id, None)
            self._db.after_commit(lambda: self._saved.__setitem__(device_id, saved))
        return ObservedTable(device_id, read_at, observed, checksum)

    def _stored(self, device_id: str) -> dict[int, ObservedSlot]:
        """The stored slots of a lock: as last saved here if the table's head still says so
        (set only once that save committed), else read back."""
        known = self._saved.get(device_id)
        if known is not None:
            head = self._db.one(
                "SELECT read_at, checksum FROM observed_tables WHERE device_id = ?", (device_id,)
            )
            if head is not None and (head[0], head[1]) == known[:2]:
                return known[2]
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM observed_slots WHERE device_id = ?",  # noqa: S608 - fixed SQL
            (device_id,),
        )
        return {item.index: item for item in map(self._decode, rows)}

    def save_slot(
        self, device_id: str, slot: Slot | ObservedSlot, *, read_at: datetime
    ) -> ObservedSlot:
        """Record one slot after a write or clear; the table's checksum is no longer known."""
        item = slot if isinstance(slot, ObservedSlot) else self.observe(slot)
        self._saved.pop(device_id, None)
        with self._db.transaction():
            self._write(device_id, item, read_at)
            self._db.execute(
                "UPDATE observed_tables SET checksum = NULL WHERE device_id = ?", (device_id,)
            )
        return item

    def cleared(self, device_id: str, index: int, *, read_at: datetime) -> ObservedSlot:
        """Record that a slot is now empty."""
        return self.save_slot(device_id, ObservedSlot(index, SlotStatus.EMPTY), read_at=read_at)

    def _write(self, device_id: str, item: ObservedSlot, read_at: datetime) -> None:
        schedule = item.schedule
        self._db.execute(
            "INSERT INTO observed_slots (device_id, slot, status, code_fp, code_masked, name, "
            "first_name, last_name, schedule_starts_at, schedule_ends_at, one_time, read_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(device_id, slot) DO UPDATE SET status = excluded.status, "
            "code_fp = excluded.code_fp, code_masked = excluded.code_masked, "
            "name = excluded.name, first_name = excluded.first_name, "
            "last_name = excluded.last_name, schedule_starts_at = excluded.schedule_starts_at, "
            "schedule_ends_at = excluded.schedule_ends_at, one_time = excluded.one_time, "
            "read_at = excluded.read_at",
            (
                device_id,
                item.index,
                item.status.value,
                item.code_fingerprint,
                int(item.code_masked),
                item.name,
                item.first_name,
                item.last_name,
                format_time_or_none(None if schedule is None else schedule.starts_at),
                format_time_or_none(None if schedule is None else schedule.ends_at),
                int(item.one_time),
                format_time(read_at),
            ),
        )

    def table(self, device_id: str) -> ObservedTable | None:
        """The last observed table, or None if the lock was never read in full."""
        head = self._db.one(
            "SELECT read_at, checksum FROM observed_tables WHERE device_id = ?", (device_id,)
        )
        if head is None:
            return None
        rows = self._db.all(
            f"SELECT {_COLUMNS} FROM observed_slots WHERE device_id = ? ORDER BY slot",  # noqa: S608 - fixed SQL
            (device_id,),
        )
        return ObservedTable(
            device_id=device_id,
            read_at=decode_time(head[0], "read_at"),
            slots=tuple(self._decode(row) for row in rows),
            checksum=None if head[1] is None else int(head[1]),
        )

    def forget(self, device_id: str) -> None:
        """Drop what was observed (the next pass reads the lock in full)."""
        self._saved.pop(device_id, None)
        with self._db.transaction():
            self._db.execute("DELETE FROM observed_slots WHERE device_id = ?", (device_id,))
            self._db.execute("DELETE FROM observed_tables WHERE device_id = ?", (device_id,))

    @staticmethod
    def _decode(row: tuple[Any, ...]) -> ObservedSlot:
        index, status, fp, masked, name, first, last, starts, ends, one_time = row
        start = decode_time_or_none(starts, "schedule_starts_at")
        end = decode_time_or_none(ends, "schedule_ends_at")
        return ObservedSlot(
            index=int(index),
            status=SlotStatus(status),
            code_fingerprint=fp,
            code_masked=bool(masked),
            name=name,
            first_name=first,
            last_name=last,
            schedule=None if start is None or end is None else Schedule(start, end),
            one_time=bool(one_time),
        )

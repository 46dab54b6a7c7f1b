"""Changes made at a lock while keyslot was not listening to it (no connection open, or the
gateway down): their events are lost. The full read after a reconnect shows most of them,
but not a PIN changed on a lock that masks codes. Where such a lock has a slot table
checksum, the first pass on a new connection compares it with the last one read while the
lock's events were followed; if it moved, the codes in masked slots are marked for the
planner, since the lock cannot tell which of them changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from keyslot.reconciler.jobs import slot_codes
from keyslot.reconciler.ledger import Ledger, spec_of
from keyslot.reconciler.state import Phase, SlotState
from keyslot.store import CodeRecord

if TYPE_CHECKING:
    from keyslot.reconciler.worker import DeviceWorker

__all__ = ["Heard", "marked"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Heard:
    """The lock's checksum as last read while its events were followed, and how many writes
    and clears keyslot had done by then (any later one may explain a different checksum)."""

    checksum: int | None = None
    ops: int = 0
    loaded: bool = False  # after a restart, the checksum stored with the table was taken

    def hear(self, checksum: int, ops: int) -> None:
        self.checksum, self.ops = checksum, ops

    async def catch_up(self, worker: DeviceWorker, checksum: int | None) -> None:
        """`checksum` is the lock's, read first thing on a new connection."""
        if not self.loaded:
            self.loaded = True
            if self.checksum is None:
                table = worker.shared.store.slots.table(worker.device_id)
                self.checksum = None if table is None else table.checksum
        ops = worker.stats.writes + worker.stats.clears
        if checksum is None:
            return
        if self.checksum is not None and checksum != self.checksum:
            log.info("lock %s: its slot table changed while not connected", worker.device_id)
            await _mark_all(worker, own_changes=ops != self.ops)
        self.hear(checksum, ops)


async def _mark_all(worker: DeviceWorker, *, own_changes: bool) -> None:
    """Every code a change may have hit is marked as changed at the keypad: the planner sets
    it again, or accepts the change where the code allows external modification. If keyslot's
    own operations may explain the new checksum (`own_changes`, or one whose outcome is not
    known yet), nobody need have touched the keypad: the codes are written again, silently.
    """
    shared = worker.shared
    at = shared.clock.now()

    def job() -> None:
        ledger = worker.ledger(at)
        records = slot_codes(shared.store, worker.device_id)
        open_ops = any(
            (rec := spec_of(r, ledger.fingerprint).record) is not None
            and rec.phase is not Phase.SET
            for r in records
        )
        sure = not (own_changes or open_ops)
        for record in records:
            changed = marked(ledger, record, tampered=sure, unverified=not sure)
            if changed != record:
                shared.store.access_codes.put(changed, expected_revision=record.revision)

    await shared.committer.run(job)


def marked(
    ledger: Ledger, record: CodeRecord, *, tampered: bool = False, unverified: bool = False
) -> CodeRecord:
    """`record` after a change in its slot that a read may not show.

    A set code gets the flags. A write into an empty slot not confirmed yet is no longer
    `fresh`: an occupied slot would prove nothing, so the write is sent again in place.
    """
    rec = spec_of(record, ledger.fingerprint).record
    if rec is None:
        return record
    if rec.phase is Phase.WRITING and rec.fresh:
        flagged = replace(rec, fresh=False)
    elif rec.phase is Phase.SET:
        flagged = replace(
            rec, tampered=rec.tampered or tampered, unverified=rec.unverified or unverified
        )
    else:
        return record
    if flagged == rec:
        return record
    # A damaged state reads as a write that was not fresh, so it parses here.
    state = SlotState(rec) if record.slot_state is None else SlotState.from_json(record.slot_state)
    return ledger.with_state(record, replace(state, record=flagged))

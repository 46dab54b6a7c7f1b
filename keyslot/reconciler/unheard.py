"""Changes made at a lock while keyslot was not listening to it (no connection open, the
gateway down, the lock's event stream broken, or events dropped by a reader that fell
behind): their events are lost. A full read shows most of them, but not a PIN changed on a
lock that masks codes. Where such a lock has a slot table checksum, the next pass (the first
on a new connection) compares it with the last one read while every event was followed; if
it moved, the codes in masked slots are marked for the planner, since the lock cannot tell
which of them changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
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
    and clears keyslot had done by then (any later one may explain a different checksum).

    `unheard`: events may have been lost since that read (a new connection, a broken
    stream, events dropped): a checksum read now is not taken as heard, and the next pass
    compares (`catch_up`). `broken`: the stream failed; the next pass opens a new connection.
    """

    checksum: int | None = None
    ops: int = 0
    loaded: bool = False  # after a restart, the checksum stored with the table was taken
    unheard: bool = False
    broken: bool = False
    began: float = 0.0  # when the stream began (monotonic)
    _events: object = field(default=None, init=False, repr=False)  # it may count drops
    _dropped: int = field(default=0, init=False, repr=False)  # as many as last looked at

    def listen(self, events: object, at: float = 0.0) -> None:
        """A new connection's stream, from `at`: what changed before it was not heard."""
        self._events, self._dropped = events, _dropped(events)
        self.unheard, self.broken, self.began = True, False, at

    def lost(self) -> None:
        """The stream failed while the lock stayed connected."""
        self.unheard = self.broken = True

    def dropped(self) -> bool:
        """Whether the stream dropped events since last looked at (they count as unheard)."""
        dropped = _dropped(self._events)
        if dropped <= self._dropped:
            return False
        self._dropped = dropped
        self.unheard = True
        return True

    def hear(self, checksum: int, ops: int) -> None:
        """`checksum` was read just now; it counts unless events may have been lost since
        the last one that did."""
        if not self.dropped() and not self.unheard:
            self.checksum, self.ops = checksum, ops

    def caught_up(self, checksum: int | None, ops: int) -> None:
        """What was not heard is dealt with: `checksum` (if any) is the last one heard."""
        self.unheard = False
        if checksum is not None:
            self.checksum, self.ops = checksum, ops

    async def catch_up(self, worker: DeviceWorker, checksum: int | None) -> None:
        """`checksum` is the lock's, read first thing in the pass."""
        if not self.loaded:
            self.loaded = True
            if self.checksum is None:
                table = worker.shared.store.slots.table(worker.device_id)
                self.checksum = None if table is None else table.checksum
        ops = worker.stats.writes + worker.stats.clears
        if checksum is not None and self.checksum is not None and checksum != self.checksum:
            log.info("lock %s: its slot table changed while not heard", worker.device_id)
            await _mark_all(worker, own_changes=ops != self.ops)
        self.caught_up(checksum, ops)


def _dropped(events: object) -> int:
    """How many events `events` dropped, where it counts them (`BoundedEventStream`)."""
    dropped = getattr(events, "dropped", 0)
    return dropped if isinstance(dropped, int) else 0


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

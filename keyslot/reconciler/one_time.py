"""One-time codes: a code that opens the lock once and then stays off it.

Where the lock has one-time codes the code is programmed as one (`Content.one_time`) and the
lock drops it by itself; elsewhere keyslot clears the slot as soon as the keypad reports the
first use. Either way the use marks the code spent (`SlotState.spent`), so no later pass
programs it again, even when the report arrives after the slot was found empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keyslot.reconciler.worker import DeviceWorker

__all__ = ["after_use"]


async def after_use(worker: DeviceWorker, access_code_id: str | None) -> bool:
    """The keypad says `access_code_id` opened the lock: spend it if it is a one-time code
    and wake the worker to take it off the lock. True when the code was spent just now."""
    if access_code_id is None:
        return False
    shared = worker.shared
    at = shared.clock.now()

    def job() -> bool:
        store = shared.store
        record = store.access_codes.get(access_code_id)
        if record is None:  # an unmanaged code, or deleted meanwhile
            return False
        code = record.access_code
        if not code.is_one_time_use or code.is_offline_access_code:
            return False
        outcome = worker.ledger(at).used(record)
        if outcome.record is None or outcome.record == record:
            return False  # spent before (the lock reports a use and the removal)
        for event in outcome.events:
            store.events.append(event)
        store.access_codes.put(outcome.record, expected_revision=record.revision)
        return True

    spent = await shared.committer.run(job)
    if spent:
        worker.wake()
    return spent

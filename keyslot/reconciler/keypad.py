"""What a lock reports by itself: keypad use becomes Seam's `lock.unlocked` (with the access
code that opened it) and `lock.access_denied`; a change made at the keypad wakes the worker
to set the code again or accept the change (a masked lock cannot show what changed, so the
event marks the slot for it; changes made while nobody listened, or whose events were lost:
`unheard`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from keyslot.model import AccessDeniedReason, EventType, UnlockMethod
from keyslot.protocol.slots import KeyslotError, LockEvent, LockEventKind
from keyslot.reconciler.one_time import after_use
from keyslot.reconciler.unheard import marked

if TYPE_CHECKING:
    from keyslot.reconciler.worker import DeviceWorker

__all__ = ["follow", "handle"]

log = logging.getLogger(__name__)

_TABLE_CHANGES = frozenset(
    {
        LockEventKind.CODE_ADDED,
        LockEventKind.CODE_CHANGED,
        LockEventKind.CODE_DELETED,
        LockEventKind.ALL_CODES_DELETED,
        LockEventKind.ONE_TIME_CODE_USED,
        LockEventKind.REBOOTED,
    }
)
_DENIALS = {reason.value for reason in AccessDeniedReason}


async def follow(worker: DeviceWorker, events: AsyncIterator[LockEvent]) -> None:
    """Handle the lock's events until their stream ends (the lock was closed). Events that
    the stream dropped (its reader fell behind) or lost as it failed may have reported a
    change: the next pass looks for it (`unheard`)."""
    heard = worker.heard
    try:
        async for event in events:
            worker.handling += 1
            try:
                if heard.dropped():  # older than this one
                    log.warning("lock %s: events were dropped", worker.device_id)
                    worker.invalidate()
                    worker.wake()
                await handle(worker, event)
            except KeyslotError as exc:
                log.warning("lock %s: event %s lost: %s", worker.device_id, event.kind, exc)
            finally:
                worker.handling -= 1
    except KeyslotError as exc:
        log.info("lock %s: event stream failed: %s", worker.device_id, exc.message)
        heard.lost()
        worker.invalidate()
        await _reopen(worker)


async def _reopen(worker: DeviceWorker) -> None:
    """Wake the worker to open a new connection, with a new stream (this task cannot close
    its own): once the failed stream is `RetryPolicy.base_delay` old, so that a stream that
    keeps failing costs a reconnect that often at most."""
    shared = worker.shared
    clock = shared.clock
    began = worker.heard.began
    await clock.sleep(max(0.0, began + shared.settings.retry.base_delay - clock.monotonic()))
    worker.wake()


def _code_at(worker: DeviceWorker, slot: int | None) -> str | None:
    """The id of the managed (or else unmanaged) code in `slot`."""
    if slot is None:
        return None
    store = worker.shared.store
    for record in store.access_codes.for_device(worker.device_id):
        if record.slot == slot:
            return record.access_code_id
    found = store.unmanaged.at_slot(worker.device_id, slot)
    return None if found is None else found.access_code_id


async def handle(worker: DeviceWorker, event: LockEvent) -> None:
    kind = event.kind
    shared = worker.shared
    if kind in _TABLE_CHANGES:
        worker.invalidate()
        info = worker.info
        masked = info is not None and not info.codes_readable
        if kind is LockEventKind.CODE_CHANGED or (masked and kind is LockEventKind.CODE_ADDED):
            await _mark_changed(worker, event.slot, masked=masked)
        if kind is LockEventKind.ONE_TIME_CODE_USED:  # spent before the next read finds it gone
            await after_use(worker, _code_at(worker, event.slot))
        worker.wake()
        return
    if kind is LockEventKind.ONLINE:
        worker.resume()
        return
    data: dict[str, Any]
    if kind is LockEventKind.KEYPAD_UNLOCK:
        event_type, data = EventType.LOCK_UNLOCKED, {"method": UnlockMethod.KEYCODE.value}
    elif kind is LockEventKind.MANUAL_UNLOCK:
        event_type, data = EventType.LOCK_UNLOCKED, {"method": UnlockMethod.MANUAL.value}
    elif kind is LockEventKind.ACCESS_DENIED:
        reason = event.reason if event.reason in _DENIALS else AccessDeniedReason.UNKNOWN_CODE
        event_type, data = EventType.LOCK_ACCESS_DENIED, {"reason": {"reason_code": reason}}
    else:
        return
    at = shared.clock.now()
    code_id = _code_at(worker, event.slot)

    def job() -> None:
        record = worker.ledger(at).event(event_type, **data)
        shared.store.events.append(
            replace(record, access_code_id=code_id, occurred_at=event.at or at)
        )

    await shared.committer.run(job)
    if kind is LockEventKind.KEYPAD_UNLOCK:
        await after_use(worker, code_id)  # a one-time code comes off the lock now


async def _mark_changed(worker: DeviceWorker, slot: int | None, *, masked: bool) -> None:
    """A new PIN in `slot`. A change proves that an unconfirmed write there had landed; on a
    lock that masks codes the read cannot show the new PIN, and an addition counts too (the
    slot was emptied first, perhaps unheard, so a code keyslot put there is gone)."""
    code_id = _code_at(worker, slot)
    if code_id is None:
        return
    shared = worker.shared
    at = shared.clock.now()

    def job() -> None:
        record = shared.store.access_codes.get(code_id)
        if record is None:
            return
        changed = marked(worker.ledger(at), record, tampered=masked)
        if changed != record:
            shared.store.access_codes.put(changed, expected_revision=record.revision)

    await shared.committer.run(job)

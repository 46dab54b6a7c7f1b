"""What happens at the keypad: codes changed or deleted there, codes keyslot did not set, and
entries that open the lock (or do not)."""

from __future__ import annotations

from keyslot.model import (
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeWarningCode,
    ChangeType,
    EventType,
)
from keyslot.protocol.clock import ManualClock
from tests.reconciler_rig import Rig, rig


def events(r: Rig, kind: EventType) -> list[dict[str, object]]:
    return [e.event.to_dict() for e in r.store.events.query(event_types=[kind.value])]


async def test_a_code_changed_at_the_keypad_is_set_again(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(device_id=dev, name="Dora", code="2468")
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        r.firmware[dev].faults.inject("fail", ops={"write_slot"}, count=3)  # writes fail a while
        r.firmware[dev].manager_set(slot, "9753")
        await r.settle(seconds=2, step=0.25)
        conflicted = r.code(cid).access_code
        (error,) = conflicted.errors
        assert error.error_code is AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION
        assert error.change_type is ChangeType.MODIFIED
        assert [f.field for f in error.modified_fields] == ["code"]
        assert conflicted.status is AccessCodeStatus.SETTING
        await r.settle(seconds=30, step=1)
        restored = r.code(cid).access_code
        assert restored.status is AccessCodeStatus.SET
        assert restored.errors == ()
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == "2468"
        assert len(events(r, EventType.ACCESS_CODE_MODIFIED_EXTERNAL_TO_SEAM)) == 1


async def test_a_change_at_the_keypad_is_kept_when_allowed(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(
            device_id=dev, code="2468", allow_external_modification=True
        )
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        r.firmware[dev].manager_set(slot, "9753")
        await r.settle()
        kept = r.code(cid).access_code
        assert kept.code == "9753"
        assert kept.status is AccessCodeStatus.SET
        assert [w.warning_code for w in kept.warnings] == [
            AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT
        ]
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == "9753"
        worker = r.reconciler.worker(dev)
        assert worker is not None
        assert worker.stats.writes == 1


async def test_a_code_deleted_at_the_keypad_is_set_again_in_its_slot(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(device_id=dev, code="1357")
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        r.firmware[dev].manager_delete(slot)
        await r.settle()
        assert r.code(cid).slot == slot
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == "1357"
        assert len(events(r, EventType.ACCESS_CODE_DELETED_EXTERNAL_TO_SEAM)) == 1


async def test_a_deletion_at_the_keypad_is_accepted_when_allowed(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(
            device_id=dev, code="1357", allow_external_modification=True
        )
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        r.firmware[dev].manager_delete(slot)
        await r.settle(seconds=1800, step=300)
        gone = r.code(cid)
        assert gone.slot is None
        assert gone.access_code.status is AccessCodeStatus.UNSET
        (warning,) = gone.access_code.warnings
        assert warning.change_type is ChangeType.REMOVED
        assert r.firmware[dev].occupied == 0


async def test_a_masked_lock_reports_a_change_that_only_the_event_shows(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("schlage")
        code, _ = r.service.create_access_code(device_id=dev, code="24680")
        cid = code.access_code_id
        await r.settle()
        worker = r.reconciler.worker(dev)
        assert worker is not None
        await r.settle(seconds=3600, step=300)  # audits: masked reads are never rewritten
        assert worker.stats.writes == 1
        assert worker.stats.reads == 1  # an unchanged checksum spares the full read
        assert worker.stats.checksum_hits >= 2
        slot = r.code(cid).slot
        assert slot is not None
        r.firmware[dev].manager_set(slot, "97531")
        await r.settle()
        assert worker.stats.writes == 2
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.code == "24680"
        assert r.code(cid).access_code.status is AccessCodeStatus.SET


async def test_codes_found_on_the_lock_become_unmanaged_codes(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        await r.settle()
        r.firmware[dev].manager_set(7, "8080", name="Cleaner")
        await r.settle()
        (found,) = r.store.unmanaged.for_device(dev)
        assert found.slot == 7
        assert found.access_code.code == "8080"
        assert found.access_code.name == "Cleaner"
        assert found.access_code.status is AccessCodeStatus.SET
        code, _ = r.service.create_access_code(device_id=dev, code="1111")
        await r.settle()
        assert r.code(code.access_code_id).slot != 7
        r.firmware[dev].manager_delete(7)
        await r.settle()
        assert r.store.unmanaged.for_device(dev) == []
        kinds = [e.event.event_type for e in r.store.events.query(device_ids=[dev])]
        assert EventType.ACCESS_CODE_UNMANAGED_CREATED in kinds
        assert EventType.ACCESS_CODE_UNMANAGED_REMOVED in kinds


async def test_an_unmanaged_code_its_owner_deletes_is_cleared_from_the_lock(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        r.firmware[dev].manager_set(3, "3030")
        await r.settle()
        (found,) = r.store.unmanaged.for_device(dev)
        r.service.delete_unmanaged_access_code(access_code_id=found.access_code_id)
        await r.settle()
        assert r.firmware[dev].occupied == 0
        assert r.store.unmanaged.for_device(dev) == []


async def test_an_unmanaged_code_taken_over_is_not_written_again(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        r.firmware[dev].manager_set(3, "3030", name="Pool")
        await r.settle()
        (found,) = r.store.unmanaged.for_device(dev)
        managed = r.service.convert_to_managed(access_code_id=found.access_code_id)
        await r.settle()
        record = r.code(managed.access_code_id)
        assert record.slot == 3
        assert record.access_code.status is AccessCodeStatus.SET
        worker = r.reconciler.worker(dev)
        assert worker is not None
        assert worker.stats.writes == 0
        assert r.store.unmanaged.for_device(dev) == []


async def test_keypad_entries_become_lock_events_with_the_code_that_opened(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(device_id=dev, code="6543")
        await r.settle()
        assert r.firmware[dev].enter("6543").unlocked
        assert not r.firmware[dev].enter("0000").unlocked
        await r.settle()
        (unlocked,) = events(r, EventType.LOCK_UNLOCKED)
        assert unlocked["access_code_id"] == code.access_code_id
        assert unlocked["method"] == "keycode"
        assert unlocked["device_id"] == dev
        (denied,) = events(r, EventType.LOCK_ACCESS_DENIED)
        assert denied["reason"] == {"reason_code": "unknown_code"}
        assert "access_code_id" not in denied

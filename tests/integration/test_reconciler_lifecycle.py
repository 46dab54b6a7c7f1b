"""Seam's access-code lifecycle driven through the service onto simulated locks."""

from __future__ import annotations

from datetime import timedelta

from keyslot.model import AccessCodeStatus, ActionAttemptStatus, EventType, MutationCode
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import Schedule
from tests.reconciler_rig import Rig, rig


def kinds(r: Rig, access_code_id: str) -> list[str]:
    return [
        e.event.event_type.value for e in r.store.events.query(access_code_ids=[access_code_id])
    ]


def pins(r: Rig, device_id: str) -> dict[int, str]:
    fw = r.firmware[device_id]
    out: dict[int, str] = {}
    for index in fw.profile.slot_range:
        stored = fw.stored(index)
        if stored is not None:
            out[index] = stored.code
    return out


async def test_a_new_code_goes_from_setting_to_set_with_the_name_the_lock_shows(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        await r.settle()
        code, attempt = r.service.create_access_code(
            device_id=dev, name="Alexandria Ocasio-Cortez", code="4821"
        )
        assert code.status is AccessCodeStatus.SETTING
        assert [m.mutation_code for m in code.pending_mutations] == [MutationCode.CREATING]
        await r.settle()
        stored = r.code(code.access_code_id)
        done = stored.access_code
        assert done.status is AccessCodeStatus.SET
        assert done.pending_mutations == ()
        assert done.appearance is not None
        assert done.appearance.name == "Alexandria Oca"  # Kwikset keeps 14 characters
        assert done.name == "Alexandria Ocasio-Cortez"
        assert pins(r, dev) == {stored.slot: "4821"}
        assert kinds(r, code.access_code_id) == [
            EventType.ACCESS_CODE_CREATED.value,
            EventType.ACCESS_CODE_SET_ON_DEVICE.value,
        ]
        finished = r.store.action_attempts.require(attempt.action_attempt_id)
        assert finished.status is ActionAttemptStatus.SUCCESS
        worker = r.reconciler.worker(dev)
        assert worker is not None
        assert (worker.stats.writes, worker.stats.clears) == (1, 0)


async def test_each_change_is_one_write_in_the_codes_own_slot(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        a, _ = r.service.create_access_code(device_id=dev, name="Ann", code="1111")
        b, _ = r.service.create_access_code(device_id=dev, name="Ben", code="2222")
        await r.settle()
        worker = r.reconciler.worker(dev)
        assert worker is not None
        slot_a, slot_b = r.code(a.access_code_id).slot, r.code(b.access_code_id).slot
        writes = worker.stats.writes
        r.service.update_access_code(access_code_id=a.access_code_id, code="3333")
        updated = r.code(a.access_code_id).access_code
        assert [m.mutation_code for m in updated.pending_mutations] == [MutationCode.UPDATING_CODE]
        r.service.update_access_code(access_code_id=b.access_code_id, name="Benjamin")
        await r.settle()
        assert worker.stats.writes == writes + 2
        assert r.code(a.access_code_id).slot == slot_a
        assert r.code(b.access_code_id).slot == slot_b
        assert pins(r, dev) == {slot_a: "3333", slot_b: "2222"}
        renamed = r.code(b.access_code_id).access_code
        assert renamed.appearance is not None
        assert renamed.appearance.name == "Benjamin"
        assert renamed.pending_mutations == ()
        assert r.code(a.access_code_id).access_code.pending_mutations == ()


async def test_a_deleted_code_is_removing_until_the_lock_lets_go(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(device_id=dev, code="5678")
        await r.settle()
        attempt = r.service.delete_access_code(access_code_id=code.access_code_id)
        removing = r.code(code.access_code_id).access_code
        assert removing.status is AccessCodeStatus.REMOVING
        assert [m.mutation_code for m in removing.pending_mutations] == [MutationCode.DELETING]
        await r.settle()
        assert r.store.access_codes.get(code.access_code_id) is None
        assert pins(r, dev) == {}
        assert EventType.ACCESS_CODE_REMOVED_FROM_DEVICE.value in kinds(r, code.access_code_id)
        done = r.store.action_attempts.require(attempt.action_attempt_id)
        assert done.status is ActionAttemptStatus.SUCCESS


async def test_just_in_time_codes_are_programmed_at_the_lead_and_removed_at_the_end(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        starts = clock.now() + timedelta(hours=3)
        ends = starts + timedelta(hours=2)
        code, _ = r.service.create_access_code(
            device_id=dev, code="2468", starts_at=starts, ends_at=ends
        )
        cid = code.access_code_id
        await r.settle()
        waiting = r.code(cid).access_code
        assert waiting.status is AccessCodeStatus.UNSET
        assert [m.mutation_code for m in waiting.pending_mutations] == [
            MutationCode.DEFERRING_CREATION
        ]
        assert pins(r, dev) == {}
        await r.settle(seconds=2 * 3600 - 60, step=600)  # one minute before the lead
        assert pins(r, dev) == {}
        await r.settle(seconds=120, step=30)
        on = r.code(cid).access_code
        assert on.status is AccessCodeStatus.SET
        assert not on.is_scheduled_on_device
        assert list(pins(r, dev).values()) == ["2468"]
        await r.settle(seconds=3 * 3600, step=600)
        off = r.code(cid)
        assert off.access_code.status is AccessCodeStatus.UNSET
        assert off.slot is None
        assert pins(r, dev) == {}
        assert kinds(r, cid)[-2:] == [
            EventType.ACCESS_CODE_SET_ON_DEVICE.value,
            EventType.ACCESS_CODE_REMOVED_FROM_DEVICE.value,
        ]


async def test_native_schedules_are_preloaded_and_enforced_by_the_lock(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("split")
        starts = clock.now() + timedelta(hours=10)
        ends = starts + timedelta(hours=5)
        code, _ = r.service.create_access_code(
            device_id=dev, name="Guest Person", code="1357", starts_at=starts, ends_at=ends
        )
        cid = code.access_code_id
        await r.settle()
        early = r.code(cid).access_code
        assert early.status is AccessCodeStatus.UNSET
        assert early.is_scheduled_on_device
        fw = r.firmware[dev]
        slot = r.code(cid).slot
        assert slot is not None
        stored = fw.stored(slot)
        assert stored is not None
        assert stored.schedule == Schedule(starts, ends)
        assert not fw.enter("1357").unlocked  # the lock itself keeps the guest out
        assert EventType.ACCESS_CODE_SCHEDULED_ON_DEVICE.value in kinds(r, cid)
        await r.settle(seconds=10 * 3600 + 60, step=1800)
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        assert fw.enter("1357").unlocked
        assert kinds(r, cid)[-1] == EventType.ACCESS_CODE_SET_ON_DEVICE.value
        worker = r.reconciler.worker(dev)
        assert worker is not None
        assert worker.stats.writes == 1  # the start needed no lock operation
        await r.settle(seconds=5 * 3600, step=1800)
        assert r.code(cid).slot is None
        assert r.code(cid).access_code.status is AccessCodeStatus.UNSET
        assert fw.stored(slot) is None


async def test_a_code_moved_into_the_future_leaves_the_lock_until_its_time(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code, _ = r.service.create_access_code(device_id=dev, code="8642")
        cid = code.access_code_id
        await r.settle()
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        starts = clock.now() + timedelta(days=2)
        r.service.update_access_code(
            access_code_id=cid, starts_at=starts, ends_at=starts + timedelta(days=1)
        )
        await r.settle()
        moved = r.code(cid)
        assert moved.slot is None
        assert moved.access_code.status is AccessCodeStatus.UNSET
        assert moved.access_code.pending_mutations == ()
        assert pins(r, dev) == {}


async def test_offline_codes_live_in_no_slot_and_are_left_alone(clock: ManualClock) -> None:
    from keyslot.model import AccessCode
    from keyslot.store import CodeRecord

    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        offline = AccessCode(
            access_code_id="offline-1",
            device_id=dev,
            workspace_id=r.store.workspace_id,
            created_at=clock.now(),
            code="4711002233",
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(hours=2),
            status=AccessCodeStatus.SET,
            is_offline_access_code=True,
        )
        r.store.access_codes.put(CodeRecord(offline), expected_revision=0)
        online, _ = r.service.create_access_code(device_id=dev, code="5820")
        await r.settle(seconds=600, step=60)
        assert r.code(online.access_code_id).access_code.status is AccessCodeStatus.SET
        kept = r.code("offline-1")
        assert kept.access_code == offline
        assert kept.slot is None
        assert kept.slot_state is None
        assert pins(r, dev) == {r.code(online.access_code_id).slot: "5820"}

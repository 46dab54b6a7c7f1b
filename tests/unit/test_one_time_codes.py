"""One-time codes online: programmed as such where the lock has them (it drops the code after
its use), cleared by keyslot right after the first use elsewhere; either way the code ends
`unset`, is never programmed again, and the use shows up as `lock.unlocked`."""

from __future__ import annotations

import random
from datetime import timedelta

from keyslot.drivers import open_lock
from keyslot.model import AccessCodeStatus, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockInfo, SlotProgrammer
from keyslot.reconciler import Reconciler, Settings
from keyslot.reconciler.planner import External, OpKind, Used, plan
from keyslot.reconciler.state import CodeSpec, Content, Phase, SlotRecord, SlotState
from keyslot.store import DeviceRecord
from tests.reconciler_fakes import fp
from tests.reconciler_rig import FAST_RETRY, Rig, rig


def events(r: Rig, kind: EventType, access_code_id: str) -> list[dict[str, object]]:
    found = r.store.events.query(event_types=[kind.value], access_code_ids=[access_code_id])
    return [e.event.to_dict() for e in found]


async def _used_once(r: Rig, dev: str, cid: str, pin: str, slot: int) -> None:
    """The code opens the lock once, then comes off it for good."""
    firmware = r.firmware[dev]
    assert firmware.enter(pin).unlocked
    await r.settle()
    spent = r.code(cid)
    assert spent.access_code.status is AccessCodeStatus.UNSET
    assert spent.slot is None
    assert spent.access_code.errors == ()
    assert firmware.stored(slot) is None
    assert [e["access_code_id"] for e in events(r, EventType.LOCK_UNLOCKED, cid)] == [cid]
    assert len(events(r, EventType.ACCESS_CODE_REMOVED_FROM_DEVICE, cid)) == 1
    assert not events(r, EventType.ACCESS_CODE_DELETED_EXTERNAL_TO_SEAM, cid)
    denied = firmware.enter(pin)
    assert not denied.unlocked
    await r.settle(seconds=r.reconciler.settings.audit_interval + 1, step=60)
    assert r.code(cid).access_code.status is AccessCodeStatus.UNSET
    assert firmware.stored(slot) is None  # not programmed again, audits included


async def test_the_lock_drops_a_native_one_time_code(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("split")
        await r.settle()
        code, _ = r.service.create_access_code(
            device_id=dev, name="Once Only", code="4826", is_one_time_use=True
        )
        cid = code.access_code_id
        await r.settle()
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        slot = r.code(cid).slot
        assert slot is not None
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert stored.one_time
        worker = r.reconciler.worker(dev)
        assert worker is not None
        writes, clears = worker.stats.writes, worker.stats.clears
        await _used_once(r, dev, cid, "4826", slot)
        assert (worker.stats.writes, worker.stats.clears) == (writes, clears)  # the lock did it


async def test_keyslot_clears_a_one_time_code_after_its_use(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        await r.settle()
        code, _ = r.service.create_access_code(device_id=dev, code="7315", is_one_time_use=True)
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        stored = r.firmware[dev].stored(slot)
        assert stored is not None
        assert not stored.one_time  # this lock has no one-time codes
        worker = r.reconciler.worker(dev)
        assert worker is not None
        clears = worker.stats.clears
        await _used_once(r, dev, cid, "7315", slot)
        assert worker.stats.clears == clears + 1


async def test_other_codes_stay_after_a_use(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        await r.settle()
        code, _ = r.service.create_access_code(device_id=dev, code="2580")
        await r.settle()
        for _ in range(2):
            assert r.firmware[dev].enter("2580").unlocked
            await r.settle()
        assert r.code(code.access_code_id).access_code.status is AccessCodeStatus.SET


async def test_a_use_missed_while_disconnected_is_not_undone(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("split")
        await r.settle()
        code, _ = r.service.create_access_code(device_id=dev, code="5937", is_one_time_use=True)
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        await r.reconciler.stop()  # the gateway is down while the guest comes
        assert r.firmware[dev].enter("5937").unlocked

        async def opener(device: DeviceRecord) -> SlotProgrammer:
            return await open_lock(device.lock_url, clock=clock, firmware=r.firmware[dev])

        again = Reconciler(
            r.store,
            opener=opener,
            clock=clock,
            settings=Settings(retry=FAST_RETRY),
            rng=random.Random(3),
        )
        r.service.set_wake(again.wake)
        async with again:
            assert await again.until_idle()
            worker = again.worker(dev)
            assert worker is not None
            assert worker.stats.writes == 0
        spent = r.code(cid)
        assert spent.access_code.status is AccessCodeStatus.UNSET
        assert spent.access_code.errors == ()
        assert r.firmware[dev].stored(slot) is None
        assert len(events(r, EventType.ACCESS_CODE_REMOVED_FROM_DEVICE, cid)) == 1


async def test_a_one_time_code_with_a_time_frame(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("split")
        await r.settle()
        start = clock.now() + timedelta(hours=1)
        code, _ = r.service.create_access_code(
            device_id=dev,
            code="8462",
            is_one_time_use=True,
            starts_at=start,
            ends_at=start + timedelta(hours=4),
        )
        cid = code.access_code_id
        await r.settle()
        slot = r.code(cid).slot
        assert slot is not None
        assert not r.firmware[dev].enter("8462").unlocked  # not yet
        await r.settle(seconds=3600, step=300)
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        await _used_once(r, dev, cid, "8462", slot)


# --------------------------------------------------------------------------- pure parts


def _info(*, one_time_codes: bool) -> LockInfo:
    return LockInfo(model="t", vendor="t", slot_count=4, one_time_codes=one_time_codes)


def _spec(*, spent: bool = False) -> CodeSpec:
    record = SlotRecord(index=2, phase=Phase.SET, code_fp=fp("1357"))
    return CodeSpec("c1", "1357", record=record, one_time=True, spent=spent)


def test_an_emptied_one_time_slot_is_a_use_where_the_lock_has_them(clock: ManualClock) -> None:
    result = plan([_spec()], [], _info(one_time_codes=True), clock.now(), fingerprint=fp)
    assert result.operations == ()
    assert result.findings == (Used("c1", 2),)
    # Without lock support an emptied slot was a change at the keypad: set it again.
    other = plan([_spec()], [], _info(one_time_codes=False), clock.now(), fingerprint=fp)
    assert isinstance(other.findings[0], External)
    assert [op.kind for op in other.operations] == [OpKind.WRITE]
    # A spent code is never written.
    spent = plan([_spec(spent=True)], [], _info(one_time_codes=False), clock.now(), fingerprint=fp)
    assert spent.operations == ()


def test_one_time_content_and_spent_state_round_trip() -> None:
    assert Content("1357", one_time=True).entry().one_time
    assert not Content("1357").entry().one_time
    state = SlotState(spent=True)
    assert not state.empty
    data = state.to_json()
    assert data is not None
    assert SlotState.from_json(data) == state
    assert "spent" not in (SlotState(refused="x").to_json() or {})

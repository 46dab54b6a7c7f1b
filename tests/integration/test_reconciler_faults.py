"""Failures: retries with backoff, delay warnings, offline suspension, lost replies, final
errors from the lock, the per-transport cap and a graceful stop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from keyslot.model import (
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeWarningCode,
    ActionAttemptStatus,
    DeviceErrorCode,
    EventType,
)
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockEvent, LockInfo, Slot, SlotEntry, SlotProgrammer
from keyslot.reconciler import Settings
from keyslot.simulator.faults import FaultPlan
from tests.reconciler_rig import FAST_RETRY, Rig, rig


def errors(r: Rig, cid: str) -> set[str]:
    return {e.error_code.value for e in r.code(cid).access_code.errors}


def warnings(r: Rig, cid: str) -> set[str]:
    return {w.warning_code.value for w in r.code(cid).access_code.warnings}


def write_attempts(r: Rig, device_id: str) -> int:
    return sum(1 for op, _ in r.firmware[device_id].faults.history if op == "write_slot")


async def test_a_failing_lock_is_retried_with_backoff_then_marked_offline_and_recovers(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        await r.settle()
        r.firmware[dev].faults.set_rates(fail=1.0)
        code, attempt = r.service.create_access_code(device_id=dev, code="1470")
        cid = code.access_code_id
        await r.settle()
        worker = r.reconciler.worker(dev)
        assert worker is not None
        assert worker.backoff.failures == 1
        assert warnings(r, cid) == set()
        await r.settle(seconds=1.6, step=0.1)  # first retry: 1 s with jitter
        assert worker.backoff.failures == 2
        assert warnings(r, cid) == {AccessCodeWarningCode.DELAY_IN_SETTING_ON_DEVICE.value}
        assert r.code(cid).access_code.status is AccessCodeStatus.SETTING
        await r.settle(seconds=20, step=0.5)
        assert worker.backoff.offline
        assert DeviceErrorCode.DEVICE_OFFLINE.value in errors(r, cid)
        device = r.store.devices.require(dev)
        assert not device.online
        assert device.suspended_until is not None
        failures = worker.backoff.failures
        r.service.update_access_code(access_code_id=cid, name="still suspended")
        await r.settle(seconds=5, step=0.5)
        assert worker.backoff.failures == failures  # a wake does not end a suspension
        r.firmware[dev].faults.clear()
        await r.settle(seconds=60, step=2)
        done = r.code(cid).access_code
        assert done.status is AccessCodeStatus.SET
        assert done.errors == ()
        assert done.warnings == ()
        assert r.store.devices.require(dev).online
        assert r.store.devices.require(dev).errors == ()
        finished = r.store.action_attempts.require(attempt.action_attempt_id)
        assert finished.status is ActionAttemptStatus.SUCCESS
        kinds = [e.event.event_type for e in r.store.events.query(access_code_ids=[cid])]
        assert kinds.count(EventType.ACCESS_CODE_DELAY_IN_SETTING_ON_DEVICE) == 1


async def test_backoff_delays_grow_and_are_jittered(clock: ManualClock) -> None:
    import random

    from keyslot.reconciler.policy import Backoff

    backoff = Backoff(FAST_RETRY, random.Random(1))
    waits = [backoff.fail(0.0) for _ in range(6)]
    nominal = [1.0, 2.0, 4.0, 30.0, 60.0, 120.0]  # suspended from the 4th failure
    for wait, expected in zip(waits, nominal, strict=True):
        assert expected * 0.5 <= wait <= expected * 1.5
    assert len({round(w / e, 6) for w, e in zip(waits, nominal, strict=True)}) > 1


async def test_a_write_whose_answer_was_lost_is_found_on_the_lock_not_sent_twice(
    clock: ManualClock,
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        await r.settle()
        r.firmware[dev].faults.inject("lose_reply", ops={"write_slot"})
        code, _ = r.service.create_access_code(device_id=dev, code="9630")
        await r.settle()
        assert r.code(code.access_code_id).access_code.status is AccessCodeStatus.SETTING
        await r.settle(seconds=3, step=0.25)
        assert r.code(code.access_code_id).access_code.status is AccessCodeStatus.SET
        assert write_attempts(r, dev) == 1


async def test_a_masked_lock_proves_a_lost_write_by_an_occupied_slot(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("schlage")
        await r.settle()
        r.firmware[dev].faults.inject("lose_reply", ops={"write_slot"})
        code, _ = r.service.create_access_code(device_id=dev, code="73519")
        await r.settle(seconds=3, step=0.25)
        assert r.code(code.access_code_id).access_code.status is AccessCodeStatus.SET
        assert write_attempts(r, dev) == 1


async def test_a_code_the_lock_refuses_is_not_retried_until_it_changes(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("nuki")
        # The lock was never reached, so the service cannot know Nuki's rules yet.
        code, attempt = r.service.create_access_code(device_id=dev, code="1034")
        cid = code.access_code_id
        await r.settle()
        assert errors(r, cid) == {AccessCodeErrorCode.CODE_CONSTRAINTS_VIOLATED.value}
        assert r.code(cid).access_code.status is AccessCodeStatus.SETTING
        failed = r.store.action_attempts.require(attempt.action_attempt_id)
        assert failed.status is ActionAttemptStatus.ERROR
        tried = write_attempts(r, dev)
        await r.settle(seconds=1800, step=300)  # audits pass; the same code is not sent
        assert write_attempts(r, dev) == tried
        clock.advance(1)
        r.service.update_access_code(access_code_id=cid, code="356789")
        await r.settle()
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        assert errors(r, cid) == set()


async def test_a_full_lock_reports_no_space_until_a_slot_frees(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("nuki")  # 20 slots, at most 10 codes at once
        await r.settle()
        ids = []
        pins = [f"{a}{b}4567" for a in (3, 4) for b in range(1, 10)][:11]  # no zeros on Nuki
        for pin in pins:
            code, _ = r.service.create_access_code(device_id=dev, code=pin)
            ids.append(code.access_code_id)
        await r.settle()
        statuses = [r.code(cid).access_code.status for cid in ids]
        assert statuses.count(AccessCodeStatus.SET) == 10
        (left,) = [cid for cid in ids if r.code(cid).access_code.status is not AccessCodeStatus.SET]
        assert errors(r, left) == {AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE.value}
        r.service.delete_access_code(access_code_id=next(c for c in ids if c != left))
        await r.settle(seconds=400, step=50)  # past the time a "full" answer is believed
        assert r.code(left).access_code.status is AccessCodeStatus.SET
        assert errors(r, left) == set()


async def test_a_duplicate_hidden_by_a_masked_lock_is_reported(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("schlage")
        await r.settle()
        r.firmware[dev].manager_set(5, "55501")
        await r.settle()
        code, _ = r.service.create_access_code(device_id=dev, code="55501")
        await r.settle()
        found = r.code(code.access_code_id).access_code
        assert {e.error_code for e in found.errors} == {
            AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE
        }
        assert found.status is AccessCodeStatus.SETTING
        assert r.firmware[dev].occupied == 1


class _Counting:
    """A lock wrapper that records how many operations are in flight across all locks."""

    in_flight = 0
    peak = 0

    def __init__(self, inner: SlotProgrammer) -> None:
        self._inner = inner

    async def _track(self, aw: object) -> object:
        _Counting.in_flight += 1
        _Counting.peak = max(_Counting.peak, _Counting.in_flight)
        try:
            return await aw  # type: ignore[misc]
        finally:
            _Counting.in_flight -= 1

    async def info(self) -> LockInfo:
        return await self._inner.info()

    async def read_slots(self) -> Sequence[Slot]:
        return await self._inner.read_slots()

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        return await self._track(self._inner.write_slot(index, entry))  # type: ignore[return-value]

    async def clear_slot(self, index: int) -> None:
        await self._track(self._inner.clear_slot(index))

    def events(self) -> AsyncIterator[LockEvent]:
        return self._inner.events()

    async def set_clock(self, now: datetime) -> None:
        await self._inner.set_clock(now)

    async def slots_checksum(self) -> int | None:
        return await self._inner.slots_checksum()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_the_transport_cap_bounds_operations_in_flight_across_locks(
    clock: ManualClock,
) -> None:
    settings = Settings(retry=FAST_RETRY, transport_limits={"sim": 2})
    async with rig(clock, settings=settings) as r:
        inner = r.reconciler._opener

        async def counting(device: object) -> SlotProgrammer:
            return _Counting(await inner(device))  # type: ignore[arg-type]

        r.reconciler._opener = counting
        assert r.reconciler._shared is not None
        r.reconciler._shared.opener = counting
        devices = [
            r.add_lock("kwikset", faults=FaultPlan(delay=1.0, delay_seconds=1.0)) for _ in range(4)
        ]
        for dev in devices:
            for n in range(3):
                r.service.create_access_code(device_id=dev, code=f"{n + 1}{n + 2}{n + 3}{n + 4}")
        await r.settle(seconds=12, step=0.25)
        assert _Counting.peak == 2
        assert all(r.firmware[d].occupied == 3 for d in devices)


async def test_stopping_finishes_and_commits_the_operation_in_flight(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset", faults=FaultPlan(delay=1.0, delay_seconds=5.0))
        await r.settle(seconds=30, step=1)
        code, _ = r.service.create_access_code(device_id=dev, code="2580")
        second, _ = r.service.create_access_code(device_id=dev, code="3690")
        await r.clock.run_for(7, step=0.5)  # read (5 s) done, the first write under way
        stopping = asyncio.ensure_future(r.reconciler.stop())
        await r.clock.run_for(12, step=0.5)
        await asyncio.wait_for(stopping, timeout=5)
        held = {s.code for s in r.firmware[dev].read_slots() if s.occupied}
        statuses = {
            cid: r.code(cid).access_code.status
            for cid in (code.access_code_id, second.access_code_id)
        }
        assert len(held) == 1  # one write finished; the next was not started
        assert sorted(statuses.values()) == [AccessCodeStatus.SET, AccessCodeStatus.SETTING]
        (done,) = [cid for cid, s in statuses.items() if s is AccessCodeStatus.SET]
        assert r.code(done).access_code.code in held
        assert dataclasses.is_dataclass(r.code(done).access_code)


async def test_configured_transport_limits_keep_the_defaults_of_other_transports() -> None:
    import random

    from keyslot.reconciler.committer import Committer
    from keyslot.reconciler.settings import Shared
    from keyslot.store import Store

    store = Store.memory()
    try:
        settings = Settings(transport_limits={"sim": 3})
        shared = Shared(
            store, ManualClock(), _no_opener, settings, Committer(store), random.Random(0), "w"
        )
        assert shared.transport_cap("sim")._value == 3
        assert shared.transport_cap("zwave+mqtt")._value == 1
        assert shared.transport_cap("serial")._value == settings.default_transport_limit
    finally:
        store.close()


async def _no_opener(device: object) -> SlotProgrammer:
    raise AssertionError("no lock is opened here")

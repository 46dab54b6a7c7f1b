"""The backup access code pool over simulated locks: filled in spare slots, reported on the
device, pulled (idempotently) for a code that failed to reach its lock, used at the keypad,
refilled, and giving way to regular codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from keyslot.backup_codes import FREE_SLOTS_KEPT, in_pool
from keyslot.codes import check_code
from keyslot.model import (
    AccessCode,
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeNotFound,
    AccessCodeStatus,
    AccessCodeWarningCode,
    Conflict,
    DeviceErrorCode,
    DeviceWarningCode,
    EventType,
    InvalidInput,
)
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockInfo
from keyslot.reconciler.backup_pool import PoolPlan, plan_pool
from keyslot.reconciler.timing import Timing
from keyslot.simulator.profiles import get_profile
from keyslot.store import CodeRecord, Desired
from tests.reconciler_fakes import fp
from tests.reconciler_rig import Rig, rig
from tests.unit.service_fixtures import T0


def backups(r: Rig, device_id: str, *, pooled: bool = True) -> list[AccessCode]:
    """The device's backups (those waiting in the pool, or every one)."""
    return [
        rec.access_code
        for rec in r.store.access_codes.for_device(device_id)
        if rec.access_code.is_backup
        and rec.desired is Desired.PRESENT
        and (in_pool(rec.access_code) or not pooled)
    ]


def ready(r: Rig, device_id: str) -> list[AccessCode]:
    return [b for b in backups(r, device_id) if b.status is AccessCodeStatus.SET]


def issues(r: Rig, device_id: str) -> tuple[set[str], set[str]]:
    device = r.store.devices.require(device_id)
    return (
        {e.error_code.value for e in device.errors},
        {w.warning_code.value for w in device.warnings},
    )


def events(r: Rig, kind: EventType, access_code_id: str | None = None) -> list[dict[str, object]]:
    ids = None if access_code_id is None else [access_code_id]
    found = r.store.events.query(event_types=[kind.value], access_code_ids=ids)
    return [e.event.to_dict() for e in found]


def time_bound(r: Rig, device_id: str, **params: object) -> AccessCode:
    now = r.clock.now()
    code, _ = r.service.create_access_code(
        device_id=device_id,
        starts_at=now,
        ends_at=now + timedelta(days=2),
        use_backup_access_code_pool=True,
        **params,  # type: ignore[arg-type]
    )
    return code


@pytest.mark.parametrize("profile", ["nuki", "schlage", "split"])
async def test_the_pool_fills_spare_slots_with_valid_codes(
    clock: ManualClock, profile: str
) -> None:
    async with rig(clock) as r:
        dev = r.add_lock(profile)
        await r.settle()  # reached once: codes are generated under its rules
        plain, _ = r.service.create_access_code(device_id=dev, name="Plain")
        await r.settle()
        assert backups(r, dev) == []  # no pool until a code asks for one
        code = time_bound(r, dev, name="Guest")
        await r.settle()
        pool = ready(r, dev)
        assert len(pool) == 2
        rules = get_profile(profile)
        pins = {b.code for b in pool}
        assert len(pins) == 2
        assert plain.code not in pins
        assert code.code not in pins
        for backup in pool:
            assert backup.code is not None
            others = [c for c in (plain.code, code.code, *pins) if c and c != backup.code]
            assert check_code(backup.code, rules.code_lengths, rules.constraints, others) == []
            assert backup.type.value == "ongoing"
            assert backup.name == f"Backup {backup.access_code_id[-8:]}"
            slot = r.code(backup.access_code_id).slot
            assert slot is not None
            stored = r.firmware[dev].stored(slot)
            assert stored is not None
            assert stored.code == backup.code
            if rules.name_rules is not None:  # as the lock shows it
                assert backup.appearance is not None
                assert backup.appearance.name.replace(" ", "") == backup.name.replace(" ", "")
        assert r.code(code.access_code_id).access_code.is_backup_access_code_available
        assert not r.code(plain.access_code_id).access_code.is_backup_access_code_available
        assert issues(r, dev) == (set(), set())
        props = r.service.get_device(device_id=dev).properties.to_dict()
        assert props["supports_backup_access_code_pool"] is True
        assert props["backup_access_code_pool_enabled"] is True
        created = {e["access_code_id"] for e in events(r, EventType.ACCESS_CODE_CREATED)}
        assert {b.access_code_id for b in pool} <= created


async def test_pull_after_a_failure_to_set_enter_and_refill(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        first = time_bound(r, dev, name="First guest")
        await r.settle()
        assert len(ready(r, dev)) == 2
        assert r.code(first.access_code_id).access_code.status is AccessCodeStatus.SET
        # The lock refuses the next write: its table reports full.
        r.firmware[dev].faults.inject("full", ops={"write_slot"}, count=1)
        code = time_bound(r, dev, name="Second guest")
        cid = code.access_code_id
        await r.settle()
        failed = r.code(cid).access_code
        assert failed.status is AccessCodeStatus.SETTING
        assert [e.error_code for e in failed.errors] == [
            AccessCodeErrorCode.NO_SPACE_FOR_ACCESS_CODE_ON_DEVICE
        ]
        assert events(r, EventType.ACCESS_CODE_FAILED_TO_SET_ON_DEVICE, cid)
        assert failed.is_backup_access_code_available
        oldest = min(ready(r, dev), key=lambda b: b.created_at)

        original, backup = r.service.pull_backup_access_code(access_code_id=cid)
        assert backup.access_code_id == oldest.access_code_id
        assert backup.is_backup
        assert backup.code == oldest.code
        assert backup.status is AccessCodeStatus.SET  # it is on the lock already
        assert backup.starts_at == r.service.now()
        assert backup.ends_at == code.ends_at
        assert original.pulled_backup_access_code_id == backup.access_code_id
        assert original.is_backup_access_code_available
        assert [w.warning_code for w in original.warnings] == [
            AccessCodeWarningCode.USING_BACKUP_ACCESS_CODE
        ]
        # The same backup every time, and one event.
        again_original, again = r.service.pull_backup_access_code(access_code_id=cid)
        assert again.access_code_id == backup.access_code_id
        assert again_original.pulled_backup_access_code_id == backup.access_code_id
        pulled = events(r, EventType.ACCESS_CODE_BACKUP_ACCESS_CODE_PULLED, cid)
        assert len(pulled) == 1
        assert pulled[0]["backup_access_code_id"] == backup.access_code_id

        assert backup.code is not None
        assert r.firmware[dev].enter(backup.code).unlocked
        await r.settle()
        unlocked = events(r, EventType.LOCK_UNLOCKED)
        assert [e["access_code_id"] for e in unlocked] == [backup.access_code_id]
        # The lock said "full", so it is not offered a new code for a while; the next audit
        # refills the pool beside the pulled backup, and the failed code gets its slot too.
        await r.settle(seconds=r.reconciler.settings.audit_interval + 5, step=15)
        assert len(ready(r, dev)) == 2
        assert backup.access_code_id not in {b.access_code_id for b in backups(r, dev)}
        assert r.code(backup.access_code_id).access_code.status is AccessCodeStatus.SET
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        assert issues(r, dev) == (set(), set())
        # At the original's end the pulled backup leaves the lock.
        slot = r.code(backup.access_code_id).slot
        assert slot is not None
        await r.settle(seconds=2 * 86400, step=3600)
        assert r.code(backup.access_code_id).access_code.status is AccessCodeStatus.UNSET
        assert r.firmware[dev].stored(slot) is None
        assert not r.firmware[dev].enter(backup.code).unlocked


async def test_a_backup_works_while_the_lock_is_offline(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        time_bound(r, dev)
        await r.settle()
        assert len(ready(r, dev)) == 2
        r.firmware[dev].faults.go_offline(clock.monotonic(), 3600)
        code = time_bound(r, dev, name="Late guest")
        cid = code.access_code_id
        await r.settle(seconds=120, step=2)
        waiting = r.code(cid).access_code
        assert waiting.status is not AccessCodeStatus.SET
        assert DeviceErrorCode.DEVICE_OFFLINE in {e.error_code for e in waiting.errors}
        assert waiting.is_backup_access_code_available
        # The backups were set before the lock went quiet: unknown now, still on the lock.
        assert {b.status for b in backups(r, dev)} == {AccessCodeStatus.UNKNOWN}
        _, backup = r.service.pull_backup_access_code(access_code_id=cid)
        assert backup.code is not None
        assert r.firmware[dev].enter(backup.code).unlocked
        r.firmware[dev].faults.clear()
        await r.settle(seconds=r.reconciler.settings.retry.suspend_max + 60, step=30)
        assert r.code(cid).access_code.status is AccessCodeStatus.SET
        assert r.code(backup.access_code_id).access_code.status is AccessCodeStatus.SET
        assert len(ready(r, dev)) == 2
        assert issues(r, dev) == (set(), set())


async def test_pull_is_refused_when_it_cannot_be_honoured(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        r.firmware[dev].faults.inject("fail", ops={"write_slot"}, count=1000)
        code = time_bound(r, dev)
        ongoing, _ = r.service.create_access_code(device_id=dev, use_backup_access_code_pool=True)
        plain, _ = r.service.create_access_code(
            device_id=dev, starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=3)
        )
        await r.settle(seconds=4, step=1)
        # No write lands: no backup is ready, the device says its pool is empty.
        assert ready(r, dev) == []
        assert issues(r, dev)[0] == {DeviceErrorCode.EMPTY_BACKUP_ACCESS_CODE_POOL.value}
        assert not r.code(code.access_code_id).access_code.is_backup_access_code_available
        with pytest.raises(Conflict) as empty:
            r.service.pull_backup_access_code(access_code_id=code.access_code_id)
        assert empty.value.type == "no_backup_access_code_available"
        with pytest.raises(InvalidInput, match="time-bound"):
            r.service.pull_backup_access_code(access_code_id=ongoing.access_code_id)
        with pytest.raises(InvalidInput, match="use_backup_access_code_pool"):
            r.service.pull_backup_access_code(access_code_id=plain.access_code_id)
        with pytest.raises(AccessCodeNotFound):
            r.service.pull_backup_access_code(access_code_id="nope")
        r.firmware[dev].faults.clear()
        await r.settle(seconds=120, step=5)
        assert len(ready(r, dev)) == 2
        assert issues(r, dev) == (set(), set())
        backup_id = ready(r, dev)[0].access_code_id
        with pytest.raises(InvalidInput, match="backup access code has no backup"):
            r.service.pull_backup_access_code(access_code_id=backup_id)
        # A code that has ended has nothing to stand in for.
        clock.advance(timedelta(days=3).total_seconds())
        with pytest.raises(InvalidInput, match="ended"):
            r.service.pull_backup_access_code(access_code_id=code.access_code_id)


async def test_backups_give_way_to_regular_codes(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("nuki")  # at most 10 codes at once
        await r.settle()
        capacity = 10
        codes = [time_bound(r, dev).access_code_id]
        await r.settle()
        assert len(ready(r, dev)) == 2

        def check(regular: int) -> None:
            expected = max(0, min(2, capacity - regular - FREE_SLOTS_KEPT))
            assert len(ready(r, dev)) == expected
            for cid in codes:
                assert r.code(cid).access_code.status is AccessCodeStatus.SET
            held = [s for s in r.firmware[dev].read_slots() if s.occupied]
            assert len(held) == regular + expected

        for _ in range(6):
            codes.append(r.service.create_access_code(device_id=dev)[0].access_code_id)
        await r.settle()
        check(7)
        codes.append(r.service.create_access_code(device_id=dev)[0].access_code_id)
        await r.settle()
        check(8)
        errors, warnings = issues(r, dev)
        assert warnings == {DeviceWarningCode.PARTIAL_BACKUP_ACCESS_CODE_POOL.value}
        assert errors == set()
        codes.append(r.service.create_access_code(device_id=dev)[0].access_code_id)
        await r.settle()
        check(9)
        assert issues(r, dev) == ({DeviceErrorCode.EMPTY_BACKUP_ACCESS_CODE_POOL.value}, set())
        assert not r.code(codes[0]).access_code.is_backup_access_code_available
        for cid in codes[-3:]:
            r.service.delete_access_code(access_code_id=cid)
            codes.remove(cid)
        await r.settle()
        check(6)
        assert issues(r, dev) == (set(), set())
        assert r.code(codes[0]).access_code.is_backup_access_code_available


async def test_a_backup_the_lock_refuses_is_replaced(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        time_bound(r, dev)
        await r.settle()
        broken = ready(r, dev)[0]
        slot = r.code(broken.access_code_id).slot
        error = AccessCodeError(
            AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE, "the lock holds it", clock.now()
        )
        r.store.access_codes.update(
            broken.access_code_id,
            lambda rec: replace(rec, access_code=rec.access_code.with_error(error)),
        )
        r.reconciler.wake(dev)
        await r.settle()
        assert r.store.access_codes.get(broken.access_code_id) is None  # cleared, then dropped
        assert slot is not None
        held = [r.firmware[dev].stored(s.index) for s in r.firmware[dev].read_slots()]
        assert broken.code not in {h.code for h in held if h is not None}
        pool = ready(r, dev)
        assert len(pool) == 2
        assert broken.access_code_id not in {b.access_code_id for b in pool}
        assert events(r, EventType.ACCESS_CODE_DELETED, broken.access_code_id)


async def test_turning_the_pool_off_removes_backups_not_pulled(clock: ManualClock) -> None:
    async with rig(clock) as r:
        dev = r.add_lock("kwikset")
        code = time_bound(r, dev)
        await r.settle()
        _, pulled = r.service.pull_backup_access_code(access_code_id=code.access_code_id)
        await r.settle()
        assert len(ready(r, dev)) == 2
        r.service.set_backup_access_code_pool(device_id=dev, size=0)
        await r.settle()
        assert backups(r, dev) == []
        assert [b.access_code_id for b in backups(r, dev, pooled=False)] == [pulled.access_code_id]
        assert issues(r, dev) == (set(), set())
        assert not r.service.get_device(device_id=dev).properties.backup_access_code_pool_enabled
        held = [s for s in r.firmware[dev].read_slots() if s.occupied]
        assert len(held) == 2  # the code and the pulled backup
        r.service.set_backup_access_code_pool(device_id=dev, size=3)
        await r.settle()
        assert len(ready(r, dev)) == 3
        with pytest.raises(InvalidInput):
            r.service.set_backup_access_code_pool(device_id=dev, size=-1)


# --------------------------------------------------------------------------- the rule, pure


def _record(
    cid: str,
    minute: int,
    *,
    backup: bool = False,
    status: AccessCodeStatus = AccessCodeStatus.SET,
    errors: tuple[AccessCodeError, ...] = (),
) -> CodeRecord:
    code = AccessCode(
        access_code_id=cid,
        device_id="lock",
        workspace_id="w",
        created_at=T0 + timedelta(minutes=minute),
        code=f"{2000 + minute}",
        status=status,
        is_backup=backup,
        errors=errors,
    )
    return CodeRecord(code)


def test_the_pool_takes_spare_slots_only_and_keeps_its_oldest_ready_backups() -> None:
    lock = LockInfo(model="t", vendor="t", slot_count=8)
    duplicate = AccessCodeError(AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE, "taken", T0)
    records = [
        *(_record(f"regular-{n}", n) for n in range(3)),
        _record("old", 10, backup=True),
        _record("new", 11, backup=True),
        _record("unset", 5, backup=True, status=AccessCodeStatus.SETTING),
        _record("broken", 1, backup=True, errors=(duplicate,)),
    ]

    def planned(size: int, unmanaged: int) -> PoolPlan:
        return plan_pool(records, unmanaged, lock, T0, size, fingerprint=fp, timing=Timing())

    # 8 slots - 3 regular - 2 unmanaged - 1 kept free = 2 spare
    assert planned(2, 2) == PoolPlan(target=2, add=0, retire=("broken", "unset"))
    assert planned(2, 3) == PoolPlan(target=1, add=0, retire=("broken", "new", "unset"))
    assert planned(4, 0) == PoolPlan(target=4, add=1, retire=("broken",))
    assert planned(0, 0) == PoolPlan(target=0, add=0, retire=("broken", "old", "new", "unset"))
    full = planned(2, 5)
    assert full.target == 0  # no spare slot: every backup gives way
    assert set(full.retire) == {"old", "new", "unset", "broken"}

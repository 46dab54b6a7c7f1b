"""The whole reconciler against simulated locks under random changes, clock jumps, keypad
edits and injected faults (lost requests and replies, failures, delays, offline periods).

Always: no two managed codes share a slot, every occupied slot of every lock is accounted
for by that lock's own records (so no code ever lands on the wrong lock), and a status says
what the lock holds. Once the faults stop, every lock converges to exactly what is wanted.

Each run explores new programs (KEYSLOT_STATE_MACHINE_EXAMPLES sets how many; more for a
longer search); a failing one is kept in hypothesis' example database and replayed first.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import keyslot.model.common
from keyslot.model import (
    AccessCodeStatus,
    AccessCodeWarningCode,
    MutationCode,
    SeamApiError,
)
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import KeyslotError
from keyslot.reconciler import RetryPolicy, Settings
from keyslot.reconciler.ledger import spec_of
from keyslot.reconciler.timing import target_content
from keyslot.store import CodeRecord, Desired
from tests.reconciler_rig import Rig, rig

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROFILES = ("kwikset", "schlage", "split")
# Valid on every profile; first four digits all distinct (Schlage), never all the same (Yale).
PINS = ("13579", "24681", "35792", "46813", "57924", "68135", "79246", "81357")
KEYPAD_PINS = ("90817", "91726", "92635", "93544")  # a manager's codes: never keyslot's
NAMES = (None, "Ann", "Bob Builder", "Cleaning Crew", "Dan")
RETRY = RetryPolicy(
    base_delay=1.0,
    max_delay=8.0,
    warn_after=2,
    offline_after=4,
    suspend_delay=15.0,
    suspend_max=30.0,
)
SETTINGS = Settings(retry=RETRY, op_timeout=5.0, capacity_ttl=20.0)
CALM = 200.0  # seconds without faults after which every lock must have converged
EXAMPLES = int(os.environ.get("KEYSLOT_STATE_MACHINE_EXAMPLES", "200"))

# A passing run takes seconds; a failing program is shrunk for up to five minutes before it
# is reported, which the default per-test timeout would cut off.
pytestmark = pytest.mark.timeout(420)


class _CountedIds:
    """Stands in for `os` in `keyslot.model.common`: the random bits of ids decide the order
    in which codes made in the same millisecond are planned, so counting them makes a
    program replay exactly, as hypothesis needs to shrink a failure and to replay it from
    its database."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def urandom(self, size: int) -> bytes:
        return next(self._next).to_bytes(size, "big")


class ReconcilerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ids = mock.patch.object(keyslot.model.common, "os", _CountedIds())
        self.ids.start()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(START)
        self.stack = AsyncExitStack()
        self.codes: list[str] = []
        self.seen_after: dict[str, int] = {}  # device -> pass serial a keypad change needs
        try:
            self.rig: Rig = self.run(self._setup())
        except BaseException:
            self.run(self.stack.aclose())
            self.loop.close()
            self.ids.stop()
            raise

    async def _setup(self) -> Rig:
        the_rig = await self.stack.enter_async_context(rig(self.clock, settings=SETTINGS))
        self.devices = [the_rig.add_lock(p) for p in PROFILES]
        await the_rig.settle()
        return the_rig

    def run(self, aw):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(aw)

    def teardown(self) -> None:
        try:
            self.converge()
        finally:
            try:
                self.run(self.stack.aclose())
                self.loop.close()
            finally:
                self.ids.stop()

    # -- helpers -----------------------------------------------------------------------

    def record(self, cid: str) -> CodeRecord | None:
        return self.rig.store.access_codes.get(cid)

    def live(self) -> list[str]:
        return [c for c in self.codes if (r := self.record(c)) and r.desired is Desired.PRESENT]

    def _mark_keypad(self, device: str) -> None:
        worker = self.rig.reconciler.worker(device)
        assert worker is not None
        self.seen_after[device] = worker.stats.passes

    def _seen(self, device: str) -> bool:
        """Whether a pass that started after the last keypad change has completed."""
        worker = self.rig.reconciler.worker(device)
        assert worker is not None
        return worker.stats.last_completed > self.seen_after.get(device, -1)

    # -- the owner ---------------------------------------------------------------------

    @rule(
        dev=st.integers(0, 2),
        pin=st.sampled_from(PINS),
        name=st.sampled_from(NAMES),
        timed=st.none() | st.tuples(st.integers(-60, 240), st.integers(10, 300)),
        allow=st.booleans(),
    )
    def create(
        self, dev: int, pin: str, name: str | None, timed: tuple[int, int] | None, allow: bool
    ) -> None:
        device = self.devices[dev]
        starts = ends = None
        if timed is not None:
            starts = self.clock.now() + timedelta(minutes=timed[0])
            ends = starts + timedelta(minutes=timed[1])
            if ends <= self.clock.now():
                return
        masked = PROFILES[dev] == "schlage"  # an accepted change on it could not be read
        try:
            code, _ = self.rig.service.create_access_code(
                device_id=device,
                code=pin,
                name=name,
                starts_at=starts,
                ends_at=ends,
                allow_external_modification=allow and not masked,
            )
        except SeamApiError:
            return
        self.codes.append(code.access_code_id)

    @precondition(lambda self: self.live())
    @rule(data=st.data(), pin=st.sampled_from(PINS), name=st.sampled_from(NAMES))
    def update(self, data: st.DataObject, pin: str, name: str | None) -> None:
        cid = data.draw(st.sampled_from(self.live()))
        change = data.draw(st.sampled_from(["code", "name", "frame"]))
        try:
            if change == "code":
                self.rig.service.update_access_code(access_code_id=cid, code=pin)
            elif change == "name":
                self.rig.service.update_access_code(access_code_id=cid, name=name or "Eve")
            else:
                starts = self.clock.now() + timedelta(minutes=data.draw(st.integers(-30, 120)))
                self.rig.service.update_access_code(
                    access_code_id=cid, starts_at=starts, ends_at=starts + timedelta(hours=2)
                )
        except SeamApiError:
            return

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(self.live()))
        self.rig.service.delete_access_code(access_code_id=cid)

    @rule(seconds=st.sampled_from([0.5, 2.0, 10.0, 60.0, 900.0, 4 * 3600.0]))
    def time_passes(self, seconds: float) -> None:
        self.run(self.clock.run_for(seconds, step=max(0.5, seconds / 40)))

    # -- the keypad --------------------------------------------------------------------

    @rule(dev=st.integers(0, 2), slot=st.integers(1, 6), pin=st.sampled_from(KEYPAD_PINS))
    def keypad_sets(self, dev: int, slot: int, pin: str) -> None:
        device = self.devices[dev]
        try:
            self.rig.firmware[device].manager_set(slot, pin)
        except KeyslotError:  # the lock refused it (a duplicate, a rule)
            return
        self._mark_keypad(device)

    @rule(dev=st.integers(0, 2), slot=st.integers(1, 6))
    def keypad_deletes(self, dev: int, slot: int) -> None:
        device = self.devices[dev]
        self.rig.firmware[device].manager_delete(slot)
        self._mark_keypad(device)

    # -- faults ------------------------------------------------------------------------

    @rule(
        dev=st.integers(0, 2),
        kind=st.sampled_from(["lose", "lose_reply", "fail", "delay"]),
        rate=st.sampled_from([0.2, 0.5, 1.0]),
    )
    def faults(self, dev: int, kind: str, rate: float) -> None:
        plan = self.rig.firmware[self.devices[dev]].faults
        plan.set_rates(**{kind: rate}, delay_seconds=2.0)

    @rule(dev=st.integers(0, 2), seconds=st.sampled_from([5.0, 60.0, 600.0]))
    def offline(self, dev: int, seconds: float) -> None:
        self.rig.firmware[self.devices[dev]].faults.go_offline(self.clock.monotonic(), seconds)

    @rule()
    def converge(self) -> None:
        """The faults stop: within a bounded calm every lock holds exactly what is wanted."""
        for firmware in self.rig.firmware.values():
            firmware.faults.clear()
        self.run(self.rig.settle(seconds=CALM, step=1.0))
        for worker in self.rig.reconciler.workers:
            for name in ("writes", "clears", "failures", "refusals"):
                if getattr(worker.stats, name):
                    event(f"some lock saw {name}")
            if worker.stats.failures >= RETRY.offline_after:
                event("a lock went offline")
        now = self.clock.now()
        fp = self.rig.store.fingerprint
        for device in self.devices:
            worker = self.rig.reconciler.worker(device)
            assert worker is not None
            assert worker.info is not None
            firmware = self.rig.firmware[device]
            held = {i: s.code for i in firmware.profile.slot_range if (s := firmware.stored(i))}
            wanted: dict[int, str] = {}
            for record in self.rig.store.access_codes.for_device(device):
                assert record.desired is Desired.PRESENT, "a deleted code outlived its slot"
                code = record.access_code
                spec = spec_of(record, fp)
                target = target_content(spec, now, worker.info, SETTINGS.timing)
                if target is None:
                    assert record.slot is None
                    assert code.status is AccessCodeStatus.UNSET
                    waiting = {m.mutation_code for m in code.pending_mutations}
                    assert waiting <= {MutationCode.DEFERRING_CREATION}, code
                    continue
                assert code.pending_mutations == (), code
                assert record.slot is not None, code
                assert code.status in (AccessCodeStatus.SET, AccessCodeStatus.UNSET)
                assert code.code is not None
                wanted[record.slot] = code.code
            for found in self.rig.store.unmanaged.for_device(device):
                assert found.slot is not None
                assert found.slot not in wanted
                wanted[found.slot] = held.get(found.slot, "missing")
            assert held == wanted

    # -- always ------------------------------------------------------------------------

    @invariant()
    def every_slot_is_accounted_for_by_its_own_lock(self) -> None:
        store = self.rig.store
        for device in self.devices:
            records = store.access_codes.for_device(device)
            slots = [r.slot for r in records if r.slot is not None]
            assert len(slots) == len(set(slots)), "two managed codes in one slot"
            if not self._seen(device):
                continue  # a keypad change is not seen yet; it is not keyslot's doing
            claimed = set(slots) | {
                u.slot for u in store.unmanaged.for_device(device) if u.slot is not None
            }
            firmware = self.rig.firmware[device]
            for index in firmware.profile.slot_range:
                if firmware.stored(index) is not None:
                    assert index in claimed, f"slot {index} of {device} holds a stray code"

    @invariant()
    def statuses_say_what_the_lock_holds(self) -> None:
        fp = self.rig.store.fingerprint
        for device in self.devices:
            if not self._seen(device):
                continue
            firmware = self.rig.firmware[device]
            for record in self.rig.store.access_codes.for_device(device):
                code = record.access_code
                accepted = any(
                    w.warning_code is AccessCodeWarningCode.EXTERNAL_MODIFICATION_IN_EFFECT
                    for w in code.warnings
                )
                if code.status is AccessCodeStatus.SET and not accepted:
                    assert record.slot is not None
                    stored = firmware.stored(record.slot)
                    assert stored is not None, f"{code} is set but its slot is empty"
                    # While a new PIN is on its way (a pending update) the lock holds the
                    # version keyslot recorded setting; otherwise the code's own PIN.
                    written = spec_of(record, fp).record
                    assert written is not None
                    allowed = {fp(code.code or "")}
                    if code.pending_mutations:
                        allowed.add(written.code_fp)
                    assert fp(stored.code) in allowed, f"{code} is set but its slot holds another"
                if code.status is AccessCodeStatus.UNSET and not code.is_scheduled_on_device:
                    assert record.slot is None, f"{code} is unset but holds a slot"


ReconcilerMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestReconciler = ReconcilerMachine.TestCase

"""The access-code lifecycle, live: simulated locks on a fast clock, driven through the service
and the reconciler, printing each code's name, appearance, slot, status and pending mutations
as they change, and the events they cause. PINs are shown masked.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from keyslot.drivers import open_lock
from keyslot.model import AccessCode
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import SlotProgrammer
from keyslot.reconciler import Reconciler, RetryPolicy, Settings, Timing
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import DeviceRecord, Store

__all__ = ["run_lifecycle_demo"]

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
_SHOWN_EVENTS = (
    "access_code.set_on_device",
    "access_code.scheduled_on_device",
    "access_code.removed_from_device",
    "access_code.delay_in_setting_on_device",
    "access_code.failed_to_set_on_device",
    "access_code.modified_external_to_seam",
    "lock.unlocked",
    "lock.access_denied",
)


def _mask(code: str | None) -> str:
    return "(none)" if code is None else "*" * len(code)


def _row(code: AccessCode, slot: int | None) -> str:
    shown = "-" if code.appearance is None else f'"{code.appearance.name}"'
    pending = ",".join(m.mutation_code.value for m in code.pending_mutations) or "-"
    issues = [e.error_code.value for e in code.errors] + [
        w.warning_code.value for w in code.warnings
    ]
    line = (
        f"{(code.name or '(no name)')[:24]:<24} shown {shown:<18} {_mask(code.code):<6} "
        f"slot {'-' if slot is None else slot:<3} {code.status.value:<8} pending {pending}"
    )
    if code.is_scheduled_on_device:
        line += "  [scheduled on the lock]"
    if issues:
        line += "  ! " + ", ".join(issues)
    return line


@dataclass
class _Stage:
    out: TextIO
    clock: ManualClock
    store: Store
    service: Service
    reconciler: Reconciler
    locks: dict[str, str] = field(default_factory=dict)  # device id -> label
    seen: dict[str, str] = field(default_factory=dict)
    last_event: int = 0

    def say(self, text: str) -> None:
        self.out.write(f"\n== {text}\n")

    def show(self) -> None:
        """Print the codes whose state changed, and the new events."""
        stamp = self.clock.now().strftime("%H:%M")
        live: set[str] = set()
        for device_id, label in self.locks.items():
            for record in self.store.access_codes.for_device(device_id):
                row = _row(record.access_code, record.slot)
                live.add(record.access_code_id)
                if self.seen.get(record.access_code_id) != row:
                    self.seen[record.access_code_id] = row
                    self.out.write(f"  {stamp} {label:<8} {row}\n")
        for gone in [cid for cid in self.seen if cid not in live]:
            del self.seen[gone]
            self.out.write(f"  {stamp} a deleted code left its lock and the store\n")
        for stored in self.store.events.query(after_seq=self.last_event):
            self.last_event = stored.seq
            event = stored.event
            if event.event_type.value in _SHOWN_EVENTS:
                who = ""
                if event.access_code_id is not None:
                    found = self.store.access_codes.get(event.access_code_id)
                    if found is not None and found.access_code.name:
                        who = f" ({found.access_code.name})"
                extra = event.data.get("method") or event.data.get("reason") or ""
                self.out.write(f"  {stamp}   event {event.event_type.value}{who} {extra}\n")

    async def run(self, minutes: float, step: float = 5.0) -> None:
        """Let `minutes` of the demo's clock pass, showing changes as they happen."""
        left = minutes * 60
        while True:
            await self.reconciler.until_idle()
            self.show()
            if left <= 0:
                return
            hop = min(step * 60, left)
            await self.clock.run_for(hop, step=min(hop, 1.0))
            left -= hop


async def run_lifecycle_demo(out: TextIO) -> None:
    """Walk through the life of access codes on simulated locks (about a second of real time)."""
    clock = ManualClock(START)
    store = Store.memory(clock=clock)
    firmware: dict[str, LockFirmware] = {}

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, firmware=firmware[device.device_id])

    settings = Settings(
        timing=Timing(jit_lead=timedelta(minutes=30)),
        retry=RetryPolicy(base_delay=20.0, max_delay=120.0, warn_after=2, offline_after=6),
    )
    reconciler = Reconciler(
        store, opener=opener, clock=clock, settings=settings, rng=random.Random(1)
    )
    service = Service(store, clock=clock, wake=reconciler.wake)
    stage = _Stage(out, clock, store, service, reconciler)

    def add(profile: str, label: str) -> str:
        device = service.add_device(lock_url=f"sim://{profile}?id=demo-{label}")
        firmware[device.device_id] = LockFirmware(get_profile(profile), clock=clock, lock_id=label)
        stage.locks[device.device_id] = label
        return device.device_id

    async with reconciler:
        front = add("kwikset", "front")  # names cut to 14 characters, no schedules
        cabin = add("split", "cabin")  # first/last names, schedules kept by the lock
        await _scenes(stage, front, cabin, firmware, add)
    store.close()


async def _scenes(
    stage: _Stage,
    front: str,
    cabin: str,
    firmware: dict[str, LockFirmware],
    add: Callable[[str, str], str],
) -> None:
    service, clock = stage.service, stage.clock
    stage.say("Two codes on the front door: the lock shows at most 14 characters of a name")
    long_name, _ = service.create_access_code(
        device_id=front, name="Alexandria Ocasio-Cortez", code="4821"
    )
    bob, _ = service.create_access_code(device_id=front, name="Bob", code="7305")
    await stage.run(0)

    stage.say("A cleaner's code from 10:30 to 11:30, programmed just in time (30 min lead)")
    starts = clock.now() + timedelta(minutes=90)
    service.create_access_code(
        device_id=front,
        name="Cleaner",
        code="6142",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
    )
    await stage.run(160, step=10)

    stage.say("A guest at the cabin: the lock keeps the schedule itself, loaded ahead of time")
    starts = clock.now() + timedelta(hours=2)
    service.create_access_code(
        device_id=cabin,
        name="Grace Hopper",
        code="9035",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
    )
    await stage.run(190, step=30)

    stage.say("A failure to set: the front lock stops answering for a while; keyslot retries")
    firmware[front].faults.inject("fail", ops={"write_slot"}, count=3)
    service.update_access_code(access_code_id=bob.access_code_id, name="Robert")
    await stage.run(6, step=0.5)

    stage.say("A lock that refuses the code: no zeros on this keypad, so it is not retried")
    garage = add("nuki", "garage")
    refused, _ = service.create_access_code(device_id=garage, name="Gardener", code="102030")
    await stage.run(30, step=10)
    clock.advance(60)
    service.update_access_code(access_code_id=refused.access_code_id, code="415263")
    await stage.run(1)

    stage.say("Someone changes Bob's code at the keypad: keyslot sets it again")
    slot = stage.store.access_codes.require(bob.access_code_id).slot
    if slot is not None:
        firmware[front].faults.inject("fail", ops={"write_slot"})  # the first re-set fails
        firmware[front].manager_set(slot, "1111")
    await stage.run(3, step=0.5)

    stage.say("Codes typed at the keypad")
    firmware[front].enter("4821")
    firmware[front].enter("0000")
    await stage.run(1)

    stage.say("The long name is deleted: removing until the lock has let go")
    service.delete_access_code(access_code_id=long_name.access_code_id)
    stage.show()
    await stage.run(1)

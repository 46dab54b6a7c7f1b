"""Programming Z-Wave locks through the simulated zwave-js-ui gateway on a real mosquitto.

Each test starts its own broker. The simulated radio's delays run on an InstantClock
unless a test drives them on a ManualClock of its own to look inside a write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from keyslot.drivers.zwave_mqtt import ZwaveMqttLock
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import (
    DuplicateCode,
    LockTimeout,
    SlotEntry,
    SlotStatus,
    WriteConfirmation,
)
from keyslot.simulator.faults import FaultKind
from keyslot.simulator.profiles import get_profile
from tests.support_zwave import Spy, eventually, spy, until_deadline, until_waiting, zwave_rig

pytestmark = pytest.mark.mosquitto

CODES = ["0123", "4567", "8901", "2345", "6789", "1357", "2468", "0987", "7654", "3210"]


async def test_a_write_is_confirmed_only_by_the_verification_read(
    tmp_path: Path, clock: ManualClock
) -> None:
    radio = ManualClock()
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}, delay_clock=radio) as rig:
        lock = await rig.open(2)
        await lock.info()
        write = asyncio.ensure_future(lock.write_slot(4, SlotEntry("0123")))
        await until_waiting(radio)  # the lock took the Set; zwave-js waits ~1 s to verify
        assert rig.firmware[2].read_slot(4).code == "0123"
        assert not write.done()
        assert 4 in lock.unverified_slots
        radio.advance(1.0)
        slot = await asyncio.wait_for(write, 5)
        assert slot.confirmation is WriteConfirmation.CONFIRMED
        assert (slot.code, slot.status) == ("0123", SlotStatus.ENABLED)
        assert not lock.unverified_slots


async def test_one_message_per_write_and_codes_as_json_strings(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}) as rig:
        lock = await rig.open(2)
        await lock.info()
        await lock.read_slots()
        async with spy(rig.broker) as seen:
            await seen.barrier()
            before = len(seen.on(Spy.is_request))
            for index, code in enumerate(CODES[:5], start=1):
                await lock.write_slot(index, SlotEntry(code))
            await seen.barrier()
            requests = seen.on(Spy.is_request)[before:]
        assert len(requests) == 5  # nothing else was published: no reads, no syncs
        for (topic, payload), code in zip(requests, CODES, strict=False):
            assert topic.endswith("/api/writeValue/set")
            args = json.loads(payload)["args"]
            assert args[1] == code
            assert isinstance(args[1], str)
        assert f'"{CODES[0]}"'.encode() in requests[0][1]
        assert lock.network.stats["writeValue"] == 5


async def test_a_leading_zero_survives_the_round_trip(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset", 3: "kwikset"}) as rig:
        api_lock = await rig.open(2)
        set_lock = await rig.open(3, write="set")
        async with spy(rig.broker) as seen:
            assert (await api_lock.write_slot(1, SlotEntry("0123"))).code == "0123"
            assert (await set_lock.write_slot(1, SlotEntry("0123"))).code == "0123"
            await seen.barrier()
            sets = seen.on(lambda t: t.endswith("/99/0/userCode/1/set"))
        assert sets == [("zwave/nodeID_3/99/0/userCode/1/set", b'{"value":"0123"}')]
        for node in (2, 3):
            assert rig.firmware[node].read_slot(1).code == "0123"
        # a fresh driver, from retained topics alone
        fresh = await rig.open(2, client_id="fresh")
        assert fresh.network is not api_lock.network
        slots = await fresh.read_slots()
        assert slots[0].code == "0123"
        # the simulated gateway rejects a code sent as a bare number, as zwave-js does
        await fresh.network.publish(
            fresh.network.topics.set(fresh.network.topics.user_code("nodeID_2", 2)),
            b"0456",
            kind="test",
        )
        await rig.settle()
        assert rig.sim.nodes[2].writes[2] == 1
        assert not rig.firmware[2].read_slot(2).occupied


async def test_a_masked_lock_is_not_written_again_and_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with zwave_rig(tmp_path, clock, {2: "schlage"}) as rig:
        lock = await rig.open(2, masked=1)
        entries = {index: SlotEntry(code) for index, code in enumerate(CODES[:5], start=1)}
        for _ in range(3):  # three passes of "make the lock hold these", as a reconciler does
            for index, entry in entries.items():
                slot = await lock.write_slot(index, entry)
                assert slot.code is None
                assert slot.code_masked
            for slot in await lock.read_slots():
                assert slot.code is None
                assert slot.occupied == (slot.index in entries)
        node = rig.sim.nodes[2]
        assert sum(node.writes.values()) == 5
        assert node.full_reads == 0  # the checksum of the codes keyslot wrote matched
        assert lock.stats["no_change"] == 10


async def test_the_checksum_spares_full_reads(tmp_path: Path, clock: ManualClock) -> None:
    unknown = dict(enumerate(CODES[:4], start=1))  # codes keyslot never saw
    async with zwave_rig(tmp_path, clock, {2: "schlage"}, prefill={2: unknown}) as rig:
        lock = await rig.open(2, masked=1)
        node = rig.sim.nodes[2]
        assert len([s for s in await lock.read_slots() if s.occupied]) == 4
        assert node.full_reads == 1  # masked codes keyslot does not know: read once
        for _ in range(3):
            await lock.read_slots()
        assert node.full_reads == 1
        assert lock.stats["full_reads_avoided"] == 3
        gets = node.gets
        await lock.slots_checksum()  # the reconciler asks this first, then reads:
        await lock.read_slots()  # one Get for both
        assert node.gets == gets + 1
        rig.firmware[2].manager_set(7, "7777")  # the lock reports this change itself
        await rig.settle()
        slots = await lock.read_slots()
        assert slots[6].occupied
        assert node.full_reads == 1  # the report explains the new checksum
        rig.firmware[2].write_slot(9, SlotEntry("9999"))  # changed silently, no notification
        slots = await lock.read_slots()
        assert node.full_reads == 2
        assert slots[8].occupied
        await lock.read_slots()
        assert node.full_reads == 2


async def test_a_readable_lock_starts_from_retained_topics_alone(
    tmp_path: Path, clock: ManualClock
) -> None:
    profile = dataclasses.replace(get_profile("kwikset"), checksum=True)
    table = dict(enumerate(CODES, start=1))
    async with zwave_rig(tmp_path, clock, {2: profile}, prefill={2: table}) as rig:
        lock = await rig.open(2)
        slots = await lock.read_slots()
        assert {s.index: s.code for s in slots if s.occupied} == table
        node = rig.sim.nodes[2]
        assert node.full_reads == 0
        assert node.gets == 1  # the checksum, nothing else
        assert lock.stats["full_reads_avoided"] == 1


async def test_an_unconfirmed_write_is_checked_not_rewritten(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with zwave_rig(tmp_path, clock, {2: "schlage"}) as rig:
        lock = await rig.open(2, masked=1, confirm_timeout=20)
        await lock.info()
        rig.firmware[2].faults.inject(FaultKind.LOSE_REPLY, ops={"write_slot"})
        write = asyncio.ensure_future(lock.write_slot(3, SlotEntry("0123")))
        await eventually(lambda: rig.sim.nodes[2].writes[3] == 1)
        await until_deadline(clock, 20)
        clock.advance(20)
        with pytest.raises(LockTimeout, match="not confirmed"):
            await asyncio.wait_for(write, 5)
        assert lock.unverified_slots == {3}
        again = await lock.write_slot(3, SlotEntry("0123"))
        assert again.confirmation is WriteConfirmation.NO_CHANGE
        assert rig.sim.nodes[2].writes[3] == 1  # checked with one read, never sent twice
        assert lock.stats["verified_applied"] == 1


async def test_a_lost_write_is_sent_again_once(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}) as rig:
        lock = await rig.open(2, confirm_timeout=20)
        await lock.info()
        rig.firmware[2].faults.inject(FaultKind.LOSE, ops={"write_slot"})
        write = asyncio.ensure_future(lock.write_slot(3, SlotEntry("0123")))
        await eventually(lambda: lock.stats["writes"] == 1)
        await until_deadline(clock, 20)
        clock.advance(20)
        with pytest.raises(LockTimeout):
            await asyncio.wait_for(write, 5)
        assert not rig.firmware[2].read_slot(3).occupied
        again = await lock.write_slot(3, SlotEntry("0123"))
        assert again.confirmation is WriteConfirmation.CONFIRMED
        assert rig.sim.nodes[2].writes[3] == 1
        assert lock.stats["verified_not_applied"] == 1
        assert rig.firmware[2].read_slot(3).code == "0123"


async def test_a_duplicate_is_refused_by_the_lock(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "schlage"}) as rig:
        lock = await rig.open(2, masked=1)
        await lock.info()
        rig.firmware[2].manager_set(1, "5678")  # keyslot cannot read it: masked
        await rig.settle()
        with pytest.raises(DuplicateCode) as info:
            await lock.write_slot(2, SlotEntry("5678"))
        assert "5678" not in info.value.message
        assert rig.sim.nodes[2].writes[2] == 1  # the lock said no, after one try
        assert not (await lock.read_slots())[1].occupied


@pytest.mark.parametrize("supervised", [False, True])
async def test_writes_and_clears_in_both_write_modes(
    tmp_path: Path, clock: ManualClock, supervised: bool
) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}, supervised=supervised) as rig:
        for mode in ("api", "set"):
            lock: ZwaveMqttLock = await rig.open(2, write=mode, client_id=f"c-{mode}")
            written = await lock.write_slot(1, SlotEntry("2580"))
            assert written.code == "2580"
            assert written.confirmation is WriteConfirmation.CONFIRMED
            await lock.clear_slot(1)
            assert not rig.firmware[2].read_slot(1).occupied
            assert not (await lock.read_slots())[0].occupied
            await lock.clear_slot(1)  # already empty: nothing is sent
            assert lock.stats["no_change"] == 1
            await lock.aclose()
        if supervised:
            first = await rig.open(2)
            await first.write_slot(1, SlotEntry("2580"))
            rig.firmware[2].manager_set(2, "1111")
            await rig.settle()
            with pytest.raises(DuplicateCode):
                await first.write_slot(3, SlotEntry("1111"))


async def test_keypad_changes_reach_the_driver(tmp_path: Path, clock: ManualClock) -> None:
    async with zwave_rig(tmp_path, clock, {2: "kwikset"}) as rig:
        lock = await rig.open(2)
        events = lock.events()
        await lock.write_slot(1, SlotEntry("0123"))
        rig.firmware[2].manager_set(1, "9876")
        rig.firmware[2].enter("9876")
        kinds = []
        async for event in events:
            kinds.append((event.kind.value, event.slot))
            if len(kinds) == 2:
                break
        assert kinds == [("code_changed", 1), ("keypad_unlock", 1)]
        slots = await lock.read_slots()
        assert slots[0].code == "9876"
        assert (await lock.write_slot(1, SlotEntry("0123"))).confirmation is (
            WriteConfirmation.CONFIRMED
        )

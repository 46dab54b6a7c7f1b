"""The production BLE driver (bleak + bleak-retry-connector) against the simulated lock, a
bumble GATT server, over a virtual radio link: batches, forced disconnects, pairing, scan,
events, timeouts and error wrapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import pytest
from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bumble.link import LocalLink

from keyslot.drivers import ble
from keyslot.drivers import open_lock as open_lock_by_url
from keyslot.drivers.ble_bumble_backend import BumbleClientBackend, BumbleRadio
from keyslot.drivers.ble_link import PairingRefused
from keyslot.protocol.ble_session import PairedKey
from keyslot.protocol.clock import ManualClock, SystemClock
from keyslot.protocol.slots import (
    AuthenticationFailed,
    DuplicateCode,
    KeyslotError,
    LockEvent,
    LockEventKind,
    LockTimeout,
    LockUnavailable,
    NotPaired,
    SlotEntry,
)
from keyslot.simulator.ble_peripheral import BlePeripheral, virtual_device
from keyslot.simulator.faults import FaultKind
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from tests.conformance.targets.ble import LOCK_ADDRESS, MemoryKeys, VirtualBle, virtual_ble

T = TypeVar("T")
REAL_LIMIT = 5.0  # real seconds any single step may take on the virtual link


async def bounded(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, REAL_LIMIT)


@pytest.fixture
def firmware(clock: ManualClock) -> LockFirmware:
    return LockFirmware(get_profile("kwikset"), clock=clock, lock_id="front")


@pytest.fixture
async def rig(firmware: LockFirmware) -> AsyncIterator[VirtualBle]:
    async with virtual_ble(firmware) as setup:
        yield setup


async def open_lock(rig: VirtualBle, clock: ManualClock, options: str = "") -> ble.BleLock:
    url = ble.parse_ble_url(rig.url + options)
    return await ble.open_url(url, clock=clock, keys=rig.keys, **rig.context)


def code_for(i: int) -> str:
    return f"{(7919 * i) % 9000 + 1000}"


async def test_a_batch_of_fifty_writes_uses_one_connection(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    before = rig.radio.connections_opened
    lock = await open_lock(rig, clock)
    try:
        for n in range(50):
            index = n % 30 + 1
            slot = await bounded(lock.write_slot(index, SlotEntry(code_for(n), f"Guest {n}")))
            assert slot.index == index
        assert lock.connections_opened == 1
        assert rig.radio.connections_opened - before == 1
        assert rig.peripheral.connections_accepted == 2  # pairing + this batch
        for n in range(20, 50):
            stored = firmware.stored(n % 30 + 1)
            assert stored is not None
            assert stored.code == code_for(n)
    finally:
        await lock.aclose()


async def test_forced_disconnects_mid_batch_lose_and_double_nothing(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    rig.peripheral.service.drop_after_requests(3, repeat=True)
    lock = await open_lock(rig, clock)
    try:
        for i in range(1, 21):
            await bounded(lock.write_slot(i, SlotEntry(code_for(i), f"G{i}")))
        await bounded(lock.clear_slot(4))
        slots = await bounded(lock.read_slots())
    finally:
        await lock.aclose()
    assert rig.peripheral.service.drops >= 6
    assert lock.connections_opened == rig.peripheral.service.drops + 1
    assert lock.resends >= rig.peripheral.service.drops
    by_index = {s.index: s for s in slots}
    for i in range(1, 21):
        expected = None if i == 4 else code_for(i)
        assert by_index[i].code == expected
        stored = firmware.stored(i)
        assert (stored.code if stored else None) == expected
    assert firmware.occupied == 19


async def test_a_disconnect_between_operations_is_invisible(
    rig: VirtualBle, clock: ManualClock
) -> None:
    lock = await open_lock(rig, clock)
    try:
        await bounded(lock.write_slot(1, SlotEntry("1234")))
        await rig.peripheral.disconnect_all()
        slots = await bounded(lock.read_slots())
        assert slots[0].code == "1234"
        assert lock.connections_opened == 2
    finally:
        await lock.aclose()


async def test_a_lock_that_keeps_dropping_gives_up_retryably(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    rig.peripheral.service.drop_after_requests(1, repeat=True)
    lock = await open_lock(rig, clock, "?resume=2")
    try:
        with pytest.raises(LockUnavailable, match="kept dropping") as err:
            await bounded(lock.write_slot(1, SlotEntry("1234")))
        assert err.value.retryable
        assert lock.connections_opened == 3
    finally:
        await lock.aclose()
    del firmware


@pytest.mark.parametrize("mtu", [23, 247])
async def test_listing_in_pages_at_any_mtu(
    firmware: LockFirmware, clock: ManualClock, mtu: int
) -> None:
    async with virtual_ble(firmware, mtu=mtu) as rig:
        lock = await open_lock(rig, clock, "?page=7")
        try:
            long_name = "Maximilian Alexander"
            for i in (1, 15, 30):
                await bounded(lock.write_slot(i, SlotEntry(code_for(i), long_name)))
            slots = await bounded(lock.read_slots())
        finally:
            await lock.aclose()
    assert [s.index for s in slots] == list(range(1, 31))
    assert [s.index for s in slots if s.occupied] == [1, 15, 30]
    assert slots[14].name == long_name[:14]
    assert slots[14].code == code_for(15)


async def test_lock_refusals_arrive_as_final_errors(rig: VirtualBle, clock: ManualClock) -> None:
    lock = await open_lock(rig, clock)
    try:
        await bounded(lock.write_slot(1, SlotEntry("5555")))
        with pytest.raises(DuplicateCode) as err:
            await bounded(lock.write_slot(2, SlotEntry("5555")))
        assert err.value.existing_slot == 1
        assert not err.value.retryable
        assert "5555" not in str(err.value)
        # the refusal used up the challenge; the next change gets a new one by itself
        await bounded(lock.write_slot(2, SlotEntry("6666")))
    finally:
        await lock.aclose()


async def test_an_expired_challenge_is_replaced_once(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    lock = await open_lock(rig, clock, "?idle=0")
    try:
        await bounded(lock.write_slot(1, SlotEntry("1111")))
        clock.advance(45)  # the challenge the write returned is now stale
        await bounded(lock.write_slot(2, SlotEntry("2222")))
        assert lock.sessions_started == 1
        assert firmware.stored(2) is not None
    finally:
        await lock.aclose()


async def test_set_clock_and_checksum(clock: ManualClock) -> None:
    firmware = LockFirmware(get_profile("schlage"), clock=clock, lock_id="z")
    async with virtual_ble(firmware) as rig:
        lock = await open_lock(rig, clock)
        try:
            wanted = clock.now().replace(year=2027)
            await bounded(lock.set_clock(wanted))
            assert abs((firmware.now() - wanted).total_seconds()) < 1
            info = await bounded(lock.info())
            checksum = await bounded(lock.slots_checksum())
            if info.checksum:
                assert checksum == firmware.checksum()
            else:
                assert checksum is None
        finally:
            await lock.aclose()


async def test_a_lost_request_times_out_on_the_clock_and_the_session_goes_on(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    lock = await open_lock(rig, clock, "?timeout=4")
    try:
        await bounded(lock.info())
        firmware.faults.inject(FaultKind.LOSE, ops={"read_slots"})
        task = asyncio.ensure_future(lock.read_slots())
        await asyncio.sleep(0.05)
        assert not task.done()
        clock.advance(4.5)
        with pytest.raises(LockTimeout):
            await bounded(task)
        assert len(await bounded(lock.read_slots())) == 30
        assert lock.sessions_started == 1
    finally:
        await lock.aclose()


async def test_an_idle_link_is_dropped_and_reopened_on_use(
    rig: VirtualBle, clock: ManualClock
) -> None:
    lock = await open_lock(rig, clock, "?idle=30")
    try:
        await bounded(lock.info())
        assert lock.connected
        await clock.run_for(31, step=1)
        assert not lock.connected
        await bounded(lock.write_slot(3, SlotEntry("3333")))
        assert lock.connections_opened == 2
    finally:
        await lock.aclose()


async def next_event(stream: AsyncIterator[LockEvent], kind: LockEventKind) -> LockEvent:
    async def find() -> LockEvent:
        async for event in stream:
            if event.kind is kind:
                return event
        raise AssertionError("stream ended")

    return await bounded(find())


async def test_events_from_the_keypad_and_across_a_drop(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    lock = await open_lock(rig, clock)
    stream = lock.events()
    try:
        await bounded(lock.write_slot(5, SlotEntry("2580", "Pat")))
        assert firmware.enter("2580").unlocked
        event = await next_event(stream, LockEventKind.KEYPAD_UNLOCK)
        assert event.slot == 5
        await rig.peripheral.disconnect_all()
        await next_event(stream, LockEventKind.OFFLINE)
        await next_event(stream, LockEventKind.ONLINE)  # the driver reconnects for its readers
        firmware.manager_set(6, "9630", "Manager")
        event = await next_event(stream, LockEventKind.CODE_ADDED)
        assert event.slot == 6
        for _ in range(get_profile("kwikset").lockout_attempts):
            firmware.enter("0000")
        await next_event(stream, LockEventKind.LOCKOUT)
    finally:
        await lock.aclose()
    assert [e async for e in stream] == []


async def test_not_paired_and_wrong_keys(rig: VirtualBle, clock: ManualClock) -> None:
    with pytest.raises(NotPaired):
        await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=MemoryKeys())
    stored = PairedKey.from_bytes(rig.keys.keys[rig.url])
    unknown = MemoryKeys({rig.url: PairedKey(b"\x07" * 8, b"\x01" * 32).to_bytes()})
    lock = await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=unknown, **rig.context)
    with pytest.raises(NotPaired):
        await bounded(lock.info())
    await lock.aclose()
    wrong = MemoryKeys({rig.url: PairedKey(stored.key_id, b"\x01" * 32).to_bytes()})
    lock = await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=wrong, **rig.context)
    with pytest.raises(AuthenticationFailed):
        await bounded(lock.info())
    await lock.aclose()
    damaged = MemoryKeys({rig.url: b"\x01\x02"})
    with pytest.raises(NotPaired, match="damaged"):
        await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=damaged)


async def test_pairing_needs_pairing_mode_and_matching_codes(
    firmware: LockFirmware, clock: ManualClock
) -> None:
    async with virtual_ble(firmware, pairing=False, paired=False) as rig:

        async def advertises_pairing() -> bool:
            (found,) = await bounded(
                ble.scan(clock=SystemClock(), timeout=3, limit=1, **rig.context)
            )
            return found.pairing

        keys = rig.keys
        assert not await advertises_pairing()
        with pytest.raises(PairingRefused, match="pairing mode"):
            await bounded(ble.pair(rig.url, keys, clock, **rig.context))
        await rig.peripheral.set_pairing(True)
        assert await advertises_pairing()

        async def mismatch(code: str) -> bool:
            return False

        with pytest.raises(PairingRefused, match="did not match"):
            await bounded(ble.pair(rig.url, keys, clock, confirm=mismatch, **rig.context))
        assert keys.keys == {}
        assert rig.peripheral.service.keys == {}

        shown: list[str] = []

        async def agree(code: str) -> bool:
            shown.append(code)
            return True

        code = await bounded(ble.pair(rig.url, keys, clock, confirm=agree, **rig.context))
        assert shown == [code]
        assert list(keys.keys) == [f"ble://{LOCK_ADDRESS}"]
        assert not rig.peripheral.pairing  # one host per pairing-mode press
        assert not await advertises_pairing()
        lock = await open_lock(rig, clock)
        assert (await bounded(lock.info())).slot_count == 30
        await lock.aclose()


async def test_scan_lists_keyslot_locks_with_rssi(clock: ManualClock) -> None:
    link = LocalLink()
    real = SystemClock()
    peripherals = []
    for n, pairing in ((1, True), (2, False)):
        firmware = LockFirmware(get_profile("nuki"), clock=clock, lock_id=f"lock-{n}")
        device = virtual_device(link, f"C0:00:00:00:00:0{n}", f"keyslot lock-{n}")
        peripheral = BlePeripheral(firmware, device, pairing=pairing, advertising_interval_ms=10)
        await peripheral.start()
        peripherals.append(peripheral)
    radio = await BumbleRadio.on_link(link)
    try:
        found = await bounded(
            ble.scan(clock=real, timeout=3, limit=2, ble_scanner_backend=radio.scanner_backend)
        )
        by_address = {f.address: f for f in found}
        assert set(by_address) == {"C0:00:00:00:00:01", "C0:00:00:00:00:02"}
        assert by_address["C0:00:00:00:00:01"].pairing
        assert not by_address["C0:00:00:00:00:02"].pairing
        assert all(f.rssi == -50 for f in found)
        assert found[0].url.startswith("ble://C0:00:00:00:00:0")
        # an empty room: the scan ends at its timeout with nothing
        for peripheral in peripherals:
            await peripheral.stop()
        none = await bounded(
            ble.scan(clock=real, timeout=0.2, ble_scanner_backend=radio.scanner_backend)
        )
        assert none == []
    finally:
        await radio.close()
        for peripheral in peripherals:
            await peripheral.stop()


async def test_the_driver_scans_for_the_address_without_a_device(
    rig: VirtualBle, clock: ManualClock
) -> None:
    context = dict(rig.context)
    del context["ble_device"]
    lock = await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=rig.keys, **context)
    try:
        assert (await bounded(lock.info())).vendor == "Kwikset"
    finally:
        await lock.aclose()


async def expect_unavailable(lock: ble.BleLock) -> LockUnavailable:
    """The error the lock's first operation raises: retryable, and keyslot's own."""
    try:
        with pytest.raises(KeyslotError) as err:
            await bounded(lock.info())
    finally:
        await lock.aclose()
    assert isinstance(err.value, LockUnavailable), type(err.value)
    return err.value


async def test_unreachable_locks_are_retryable_and_no_foreign_error_escapes(
    rig: VirtualBle, clock: ManualClock
) -> None:
    real = SystemClock()
    rig.radio.connect_timeout = 0.1
    url = ble.parse_ble_url("ble://C0:DE:AD:00:00:01?attempts=1&scan_timeout=0.2")
    key = {"ble://C0:DE:AD:00:00:01": rig.keys.keys[rig.url]}
    base: dict[str, Any] = {"ble_client_backend": BumbleClientBackend}
    cases: list[dict[str, Any]] = [
        # nothing advertises at this address
        {**base, "ble_device": rig.radio.ble_device("C0:DE:AD:00:00:01")},
        # a scan that never hears it
        {**base, "ble_scanner_backend": rig.radio.scanner_backend},
        # a device the backend cannot use (bleak raises inside the backend)
        {**base, "ble_device": BLEDevice("C0:DE:AD:00:00:01", None, details=object())},
        # no context at all: the platform's own bleak backend (no BlueZ/D-Bus here)
        {},
    ]
    for context in cases:
        lock = await ble.open_url(url, clock=real, keys=MemoryKeys(dict(key)), **context)
        error = await expect_unavailable(lock)
        assert error.retryable


async def test_events_while_the_link_was_down_are_fetched_once(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    lock = await open_lock(rig, clock)
    stream = lock.events()
    try:
        await bounded(lock.write_slot(5, SlotEntry("2580", "Pat")))
        await next_event(stream, LockEventKind.ONLINE)
        firmware.faults.go_offline(clock.monotonic(), 10)  # the lock refuses sessions a while
        await rig.peripheral.disconnect_all()
        await next_event(stream, LockEventKind.OFFLINE)
        assert firmware.enter("2580").unlocked  # nobody is connected to hear it live

        async def back_online() -> LockEvent:
            waiter = asyncio.ensure_future(next_event(stream, LockEventKind.KEYPAD_UNLOCK))
            while not waiter.done():
                clock.advance(1)  # the driver retries on its clock, the lock comes back
                await asyncio.wait({waiter}, timeout=0.02)
            return waiter.result()

        replayed = await bounded(back_online())
        assert replayed.slot == 5
        firmware.manager_set(6, "9630")
        seen: list[LockEventKind] = []
        async for event in stream:
            seen.append(event.kind)
            if event.kind is LockEventKind.CODE_ADDED:
                break
        assert LockEventKind.KEYPAD_UNLOCK not in seen  # handed on once, not again live
    finally:
        await lock.aclose()


async def test_a_cancelled_connect_leaves_no_connection_behind(clock: ManualClock) -> None:
    link = LocalLink()
    radio = await BumbleRadio.on_link(link)
    firmware = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="late")
    peripheral = BlePeripheral(firmware, virtual_device(link, LOCK_ADDRESS, "late"))
    client = BleakClient(radio.ble_device(LOCK_ADDRESS), backend=BumbleClientBackend)
    try:
        attempt = asyncio.ensure_future(client.connect())
        await asyncio.sleep(0.05)  # the radio is looking for an advertiser that is silent
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(attempt)
        await peripheral.start()  # now it advertises: a forgotten connect would complete
        found = await bounded(
            ble.scan(
                clock=SystemClock(),
                timeout=2,
                limit=1,
                ble_scanner_backend=radio.scanner_backend,
            )
        )
        assert [f.address for f in found] == [LOCK_ADDRESS]
        assert peripheral.connections_accepted == 0
        assert radio.device.connections == {}
    finally:
        await radio.close()
        await peripheral.stop()


@pytest.mark.parametrize(
    "url",
    [f"ble://{LOCK_ADDRESS}?page=10", "ble://" + LOCK_ADDRESS.replace(":", "-").lower()],
)
async def test_open_lock_by_url_reaches_the_ble_driver(
    rig: VirtualBle, clock: ManualClock, url: str
) -> None:
    lock = await open_lock_by_url(url, clock=clock, keys=rig.keys, **rig.context)
    try:
        assert isinstance(lock, ble.BleLock)
        assert lock.address == LOCK_ADDRESS
        assert len(await bounded(lock.read_slots())) == 30
    finally:
        await lock.aclose()

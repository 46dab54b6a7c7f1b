"""Attacks on the simulated BLE lock over real GATT on the virtual link: replayed, reordered
and tampered frames, wrong keys, pairing outside pairing mode, code changes without a fresh
challenge. Each is refused, and the production driver keeps working afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from bleak import BleakClient

from keyslot.drivers import ble
from keyslot.drivers.ble_bumble_backend import BumbleClientBackend
from keyslot.protocol.ble_frames import (
    Alert,
    AlertReason,
    Frame,
    HelloAck,
    PairCommit,
    Sealed,
    decode_frame,
    encode_frame,
)
from keyslot.protocol.ble_messages import (
    ChallengeReply,
    ClearSlot,
    ErrorCode,
    ErrorReply,
    GetChallenge,
    GetInfo,
    InfoReply,
    Message,
    Request,
    WriteReply,
    WriteSlot,
    decode_message,
    encode_message,
)
from keyslot.protocol.ble_session import (
    HostHandshake,
    HostPairing,
    PairedKey,
    SecureChannel,
)
from keyslot.protocol.ble_wire import NOTIFY_CHAR_UUID, WRITE_CHAR_UUID, Reassembler, fragment
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import SlotEntry
from keyslot.simulator.ble_lock_service import LockConnection
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from tests.conformance.targets.ble import LOCK_ADDRESS, VirtualBle, virtual_ble

REAL_LIMIT = 5.0


class RawHost:
    """A host that speaks the protocol by hand over GATT, to send what a driver never would."""

    def __init__(self, rig: VirtualBle) -> None:
        self._client = BleakClient(rig.radio.ble_device(LOCK_ADDRESS), backend=BumbleClientBackend)
        self._frames: asyncio.Queue[Frame] = asyncio.Queue()
        self._reassembler = Reassembler()
        self.channel: SecureChannel | None = None
        self._rid = 100

    async def __aenter__(self) -> RawHost:
        await self._client.connect()
        await self._client.start_notify(NOTIFY_CHAR_UUID, self._on_notify)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.disconnect()

    def _on_notify(self, sender: object, data: bytearray) -> None:
        message = self._reassembler.feed(bytes(data))
        if message is not None:
            self._frames.put_nowait(decode_frame(message))

    async def send(self, frame: Frame) -> None:
        for piece in fragment(encode_frame(frame), self._client.mtu_size):
            await self._client.write_gatt_char(WRITE_CHAR_UUID, piece, response=True)

    async def receive(self) -> Frame:
        return await asyncio.wait_for(self._frames.get(), REAL_LIMIT)

    async def exchange(self, frame: Frame) -> Frame:
        await self.send(frame)
        return await self.receive()

    async def hello(self, key: PairedKey) -> None:
        handshake = HostHandshake(key)
        ack = await self.exchange(handshake.hello())
        assert isinstance(ack, HelloAck)
        self.channel = handshake.on_ack(ack)

    def seal(self, build: Callable[[int], Request]) -> Sealed:
        assert self.channel is not None
        self._rid += 1
        return self.channel.seal(encode_message(build(self._rid)))

    def open(self, frame: Frame) -> Message:
        assert self.channel is not None
        assert isinstance(frame, Sealed), frame
        return decode_message(self.channel.open(frame))

    async def ask(self, build: Callable[[int], Request]) -> Message:
        return self.open(await self.exchange(self.seal(build)))

    async def challenge(self) -> bytes:
        reply = await self.ask(GetChallenge)
        assert isinstance(reply, ChallengeReply)
        return reply.challenge


@pytest.fixture
def firmware(clock: ManualClock) -> LockFirmware:
    return LockFirmware(get_profile("kwikset"), clock=clock, lock_id="target")


@pytest.fixture
async def rig(firmware: LockFirmware) -> AsyncIterator[VirtualBle]:
    async with virtual_ble(firmware) as setup:
        yield setup


@pytest.fixture
def host_key(rig: VirtualBle) -> PairedKey:
    """The key of the paired host (the attacker below has stolen nothing else)."""
    return PairedKey.from_bytes(rig.keys.keys[rig.url])


async def driver_still_works(rig: VirtualBle, clock: ManualClock, firmware: LockFirmware) -> None:
    lock = await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=rig.keys, **rig.context)
    try:
        slot = await asyncio.wait_for(lock.write_slot(30, SlotEntry("3030", "After")), REAL_LIMIT)
        assert slot.code == "3030"
        slots = await asyncio.wait_for(lock.read_slots(), REAL_LIMIT)
        assert slots[-1].code == "3030"
    finally:
        await lock.aclose()
    stored = firmware.stored(30)
    assert stored is not None
    assert stored.code == "3030"


async def test_a_replayed_frame_is_refused(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware, host_key: PairedKey
) -> None:
    async with RawHost(rig) as host:
        await host.hello(host_key)
        challenge = await host.challenge()
        write = host.seal(lambda rid: WriteSlot(rid, challenge, 1, SlotEntry("1111")))
        assert isinstance(host.open(await host.exchange(write)), WriteReply)
        firmware.write_slot(1, SlotEntry("2222"))  # someone changes it afterwards
        assert await host.exchange(write) == Alert(AlertReason.REPLAY)
        # in a later session of the same host, at the very counter it carries: other keys
        await host.hello(host_key)
        assert isinstance(await host.ask(GetInfo), InfoReply)
        assert write.counter == 1
        assert await host.exchange(write) == Alert(AlertReason.AUTH_FAILED)
    stored = firmware.stored(1)
    assert stored is not None
    assert stored.code == "2222"
    await driver_still_works(rig, clock, firmware)


async def test_a_reordered_frame_is_refused(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware, host_key: PairedKey
) -> None:
    async with RawHost(rig) as host:
        await host.hello(host_key)
        first = host.seal(GetChallenge)
        second = host.seal(GetInfo)
        assert await host.exchange(second) == Alert(AlertReason.REPLAY)
        assert isinstance(host.open(await host.exchange(first)), ChallengeReply)
        assert isinstance(host.open(await host.exchange(second)), InfoReply)
    await driver_still_works(rig, clock, firmware)


async def test_a_tampered_ciphertext_is_refused(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware, host_key: PairedKey
) -> None:
    async with RawHost(rig) as host:
        await host.hello(host_key)
        challenge = await host.challenge()
        clear = host.seal(lambda rid: ClearSlot(rid, challenge, 2))
        firmware.write_slot(2, SlotEntry("2468"))
        for position in (0, len(clear.ciphertext) // 2, len(clear.ciphertext) - 1):
            data = bytearray(clear.ciphertext)
            data[position] ^= 0x40
            assert await host.exchange(Sealed(clear.counter, bytes(data))) == Alert(
                AlertReason.AUTH_FAILED
            )
        assert firmware.stored(2) is not None
    await driver_still_works(rig, clock, firmware)


async def test_a_wrong_key_is_refused_both_ways(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware, host_key: PairedKey
) -> None:
    forged = PairedKey(host_key.key_id, b"\x5a" * 32)
    async with RawHost(rig) as host:
        handshake = HostHandshake(forged)
        ack = await host.exchange(handshake.hello())
        assert isinstance(ack, HelloAck)
        with pytest.raises(Exception, match="pairing key"):
            handshake.on_ack(ack)  # the host learns the lock does not hold its key
        host.channel = SecureChannel(send_key=b"\x01" * 32, receive_key=b"\x02" * 32)
        write = host.seal(lambda rid: WriteSlot(rid, b"\x00" * 16, 3, SlotEntry("9999")))
        assert await host.exchange(write) == Alert(AlertReason.AUTH_FAILED)
        stranger = PairedKey(b"\x42" * 8, b"\x5a" * 32)
        assert await host.exchange(HostHandshake(stranger).hello()) == Alert(AlertReason.NOT_PAIRED)
    assert firmware.stored(3) is None
    await driver_still_works(rig, clock, firmware)


async def test_pairing_outside_pairing_mode_is_refused(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    assert not rig.peripheral.pairing  # it left pairing mode when the driver paired
    known = dict(rig.peripheral.service.keys)
    async with RawHost(rig) as host:
        pairing = HostPairing()
        assert await host.exchange(pairing.request()) == Alert(AlertReason.NOT_IN_PAIRING_MODE)
        await rig.peripheral.set_pairing(True)
        commit = await host.exchange(pairing.request())
        assert isinstance(commit, PairCommit)
        await rig.peripheral.set_pairing(False)  # the window closed mid-pairing
        nonce = pairing.on_commit(commit)
        assert await host.exchange(nonce) == Alert(AlertReason.NOT_IN_PAIRING_MODE)
    assert rig.peripheral.service.keys == known
    await driver_still_works(rig, clock, firmware)


async def test_code_changes_without_a_fresh_challenge_are_refused(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware, host_key: PairedKey
) -> None:
    async with RawHost(rig) as host:
        await host.hello(host_key)
        for challenge in (b"\x00" * 16, b"\xff" * 16):
            refused = await host.ask(
                lambda rid, c=challenge: WriteSlot(rid, c, 4, SlotEntry("4444"))
            )
            assert isinstance(refused, ErrorReply)
            assert refused.code is ErrorCode.STALE_CHALLENGE
        used = await host.challenge()
        assert isinstance(
            await host.ask(lambda rid: WriteSlot(rid, used, 4, SlotEntry("4444"))), WriteReply
        )
        again = await host.ask(lambda rid: ClearSlot(rid, used, 4))
        assert isinstance(again, ErrorReply)
        assert again.code is ErrorCode.STALE_CHALLENGE
        expired = await host.challenge()
        clock.advance(60)
        late = await host.ask(lambda rid: ClearSlot(rid, expired, 4))
        assert isinstance(late, ErrorReply)
        assert late.code is ErrorCode.STALE_CHALLENGE
    stored = firmware.stored(4)
    assert stored is not None
    assert stored.code == "4444"
    await driver_still_works(rig, clock, firmware)


async def test_no_pin_travels_in_the_clear(
    rig: VirtualBle, clock: ManualClock, firmware: LockFirmware
) -> None:
    heard: list[bytes] = []  # every whole message on the link, both directions
    service = rig.peripheral.service
    open_connection = service.open_connection

    def listening(send: Callable[[bytes], None], drop: Callable[[], None]) -> LockConnection:
        def send_and_listen(message: bytes) -> None:
            heard.append(message)
            send(message)

        connection = open_connection(send_and_listen, drop)
        receive = connection.receive

        def receive_and_listen(message: bytes) -> None:
            heard.append(message)
            receive(message)

        connection.receive = receive_and_listen  # type: ignore[method-assign]
        return connection

    service.open_connection = listening  # type: ignore[method-assign]
    lock = await ble.open_url(ble.parse_ble_url(rig.url), clock=clock, keys=rig.keys, **rig.context)
    try:
        slot = await asyncio.wait_for(lock.write_slot(7, SlotEntry("918273", "Quinn")), REAL_LIMIT)
        assert slot.code == "918273"  # readable profile: the answer carries it, sealed
    finally:
        await lock.aclose()
    frames = [decode_frame(message) for message in heard]
    assert sum(isinstance(frame, Sealed) for frame in frames) >= 4
    assert not any(b"918273" in message or b"Quinn" in message for message in heard)

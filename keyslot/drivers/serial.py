"""The serial keypad driver: `serial:///dev/ttyUSB0?baud=115200` or `socket://host:port`.

It speaks the protocol of `hardware/serial-protocol.md` through `serial_link.Channel`: a
HELLO opens a session, changes and code reads go sealed with the key agreed at pairing,
the slot table is read in pages and skipped while its checksum is unchanged, and events are
acknowledged and handed to `events()`. A pulled cable is reopened on the next operation and,
while someone listens for events, in the background. Only `KeyslotError`s leave it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from keyslot.drivers import LockUrl, PairingKeyStore
from keyslot.drivers.serial_events import EventHub, EventStream
from keyslot.drivers.serial_link import Channel, LinkLost, LinkOptions
from keyslot.protocol import serial_messages as msg
from keyslot.protocol.clock import Clock
from keyslot.protocol.serial_frames import Frame, FrameDecodeError, FrameKind
from keyslot.protocol.serial_messages import MsgType, Nak, Status
from keyslot.protocol.serial_session import COUNTER_MAX, SealError, Session, new_nonce
from keyslot.protocol.slots import (
    AuthenticationFailed,
    KeyslotError,
    LockEvent,
    LockEventKind,
    LockInfo,
    LockUnavailable,
    ProtocolError,
    Slot,
    SlotEntry,
    SlotProgrammerBase,
    SlotStatus,
    WriteConfirmation,
)

__all__ = ["SerialLock", "key_id", "open_url", "pair"]

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE_SLOTS = 16  # slots asked for per READ_SLOTS; the lock may send fewer
_SESSION_RETRY = (Status.NO_SESSION, Status.SESSION_EXPIRED, Status.AUTH_FAILED, Status.REPLAY)


def key_id(url: LockUrl) -> str:
    """The name a lock's pairing key is kept under: its URL without options."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


class SerialLock(SlotProgrammerBase):
    """A keypad lock on a serial line or a TCP-serial bridge."""

    def __init__(
        self, url: LockUrl, *, clock: Clock, keys: PairingKeyStore | None, options: LinkOptions
    ) -> None:
        self.url = url
        self.clock = clock
        self.keys = keys
        self.name = url.redacted
        self._channel = Channel(
            url,
            clock=clock,
            options=options,
            on_event=self._on_event_frame,
            on_disconnect=self._on_disconnect,
        )
        self._ops = asyncio.Lock()
        self._session: Session | None = None
        self._hello: msg.HelloReply | None = None
        self._counter = 0
        self._seq = 0
        self._last_event = 0
        self._info: LockInfo | None = None
        self._table: list[Slot] | None = None
        self._table_checksum: int | None = None
        self._hub = EventHub()
        self._reconnector: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SerialLock({self.name!r})"

    @property
    def channel(self) -> Channel:
        return self._channel

    # ------------------------------------------------------------------ session

    async def connect(self) -> None:
        """Open the link and say HELLO (a new session)."""
        async with self._ops:
            await self._ensure_session()

    async def _ensure_session(self) -> msg.HelloReply:
        if self._closed:
            raise LockUnavailable(f"{self.name}: the driver is closed")
        if self._hello is not None and self._channel.connected and self._counter < COUNTER_MAX:
            return self._hello
        await self._channel.connect()
        self._session, self._hello = None, None
        self._counter = 0
        host_nonce = new_nonce()
        status, body = await self._plain(
            MsgType.HELLO, msg.Hello(msg.PROTOCOL_VERSION, host_nonce).encode()
        )
        if status is not Status.OK:
            raise self._error(status, body)
        hello = msg.HelloReply.decode(body)
        if hello.version != msg.PROTOCOL_VERSION:
            raise ProtocolError(f"{self.name} speaks protocol version {hello.version}")
        key = self.keys.load_key(key_id(self.url)) if self.keys is not None else None
        if key is not None and hello.paired:
            self._session = Session(key, host_nonce, hello.nonce)
        self._hello = hello
        self._last_event = 0
        return hello

    def _next_counter(self) -> int:
        self._counter += 1
        return self._counter

    async def _plain(self, mtype: MsgType, body: bytes) -> tuple[Status, bytes]:
        frame = Frame(FrameKind.REQUEST, mtype, self._next_counter() & 0xFF, body)
        reply = await self._channel.transact(frame)
        if reply.sealed:
            raise ProtocolError(f"{self.name} sealed the reply to a plain request")
        return self._status(reply), reply.body

    async def _sealed(self, mtype: MsgType, body: bytes) -> tuple[Status, bytes]:
        """One sealed request (plain when this host has no key: the lock then says why not)."""
        counter = self._next_counter()
        session = self._session
        if session is None:
            frame = Frame(FrameKind.REQUEST, mtype, counter & 0xFF, body)
        else:
            frame = session.seal(FrameKind.REQUEST, mtype, counter, body)
        reply = await self._channel.transact(frame)
        status = self._status(reply)
        if not reply.sealed:
            if reply.body and status.ack and session is not None:
                raise ProtocolError(f"{self.name} sent a plain body to a sealed request")
            return status, reply.body
        if session is None or reply.counter != counter:
            raise ProtocolError(f"{self.name} sent a sealed reply this host cannot match")
        try:
            return status, session.open(reply)
        except SealError:
            raise AuthenticationFailed(
                f"{self.name}: a reply failed authentication (tampered line, or wrong key)"
            ) from None

    def _status(self, reply: Frame) -> Status:
        try:
            return Status(reply.code)
        except ValueError:
            raise ProtocolError(f"{self.name} answered with unknown status {reply.code}") from None

    async def _call(self, mtype: MsgType, body: bytes = b"") -> tuple[Status, bytes]:
        """A request with its session kept alive: re-HELLO after a reboot, a replug or a desync."""
        async with self._ops:
            sealed = mtype in msg.SEALED_TYPES
            for attempt in range(3):
                try:
                    await self._ensure_session()
                    status, reply = await (self._sealed if sealed else self._plain)(mtype, body)
                except LinkLost:
                    if attempt == 2:
                        raise
                    self._hello = None
                    continue
                if status in _SESSION_RETRY and attempt < 2:
                    self._hello = None  # the lock lost the session or we are out of step
                    continue
                if status.ack:
                    return status, reply
                raise self._error(status, reply)
        raise AssertionError("unreachable")

    def _error(self, status: Status, body: bytes) -> KeyslotError:
        try:
            nak = Nak.decode(body)
        except FrameDecodeError:
            nak = Nak()
        return msg.nak_to_error(status, nak, lock=self.name)

    # ------------------------------------------------------------------ the interface

    async def info(self) -> LockInfo:
        if self._info is None:
            _, body = await self._call(MsgType.INFO)
            self._info = _decoded(self.name, msg.decode_info, body)
        return self._info

    async def slots_checksum(self) -> int | None:
        info = await self.info()
        if not info.checksum:
            return None
        _, body = await self._call(MsgType.CHECKSUM)
        return _decoded(self.name, msg.decode_u16, body)

    async def read_slots(self) -> Sequence[Slot]:
        info = await self.info()
        checksum = await self.slots_checksum()
        if checksum is not None and self._table is not None and checksum == self._table_checksum:
            return list(self._table)
        found: dict[int, Slot] = {}
        start, end = info.first_slot, info.first_slot + info.slot_count
        while start < end:
            request = msg.ReadSlots(start, min(PAGE_SLOTS, end - start))
            _, body = await self._call(MsgType.READ_SLOTS, request.encode())
            page = _decoded(self.name, msg.SlotPage.decode, body)
            if page.next_start <= start:
                raise ProtocolError(f"{self.name} sent a slot page that does not advance")
            for slot in page.slots:
                if not start <= slot.index < page.next_start:
                    raise ProtocolError(f"{self.name} sent slot {slot.index} outside its page")
                found[slot.index] = slot
            start = page.next_start
        table = [found.get(i, Slot(index=i)) for i in info.slot_range]
        self._table, self._table_checksum = table, checksum
        return list(table)

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        info = await self.info()
        try:
            body = msg.WriteSlot(index, entry).encode()
        except ValueError as exc:
            raise msg.nak_to_error(Status.CODE_REJECTED, Nak(str(exc)), lock=self.name) from None
        self._table = None
        status, reply = await self._call(MsgType.WRITE_SLOT, body)
        confirmation = (
            WriteConfirmation.NO_CHANGE
            if status is Status.UNCHANGED
            else WriteConfirmation.CONFIRMED
        )
        if reply:
            return _decoded(self.name, msg.decode_slot, reply)
        return Slot(
            index=index,
            status=SlotStatus.ENABLED if entry.enabled else SlotStatus.DISABLED,
            code=entry.code if info.codes_readable else None,
            code_masked=not info.codes_readable,
            name=entry.name,
            schedule=entry.schedule,
            one_time=entry.one_time,
            confirmation=confirmation,
        )

    async def clear_slot(self, index: int) -> None:
        self._table = None
        await self._call(MsgType.CLEAR_SLOT, msg.encode_index(index))

    async def set_clock(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ProtocolError("the lock's clock needs a timezone-aware time")
        await self._call(MsgType.SET_CLOCK, msg.encode_time(now))

    def events(self) -> EventStream:
        stream = self._hub.subscribe()
        if not self._closed and self._reconnector is None and not self._channel.connected:
            self._start_reconnector()
        return stream

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reconnector is not None:
            self._reconnector.cancel()
            await asyncio.gather(self._reconnector, return_exceptions=True)
        await self._channel.close()
        self._hub.close()

    # ------------------------------------------------------------------ events and reconnects

    def _on_event_frame(self, frame: Frame) -> None:
        session = self._session
        try:
            if frame.sealed:
                if session is None:
                    return
                body = session.open(frame)
            elif session is not None:
                log.warning("%s: ignored an unauthenticated event", self.name)
                return
            else:
                body = frame.body
            event = msg.decode_event(frame.code, body)
        except FrameDecodeError as exc:
            log.warning("%s: dropped an event that did not decode: %s", self.name, exc.message)
            return
        counter = frame.counter
        self._channel.send_event_ack(counter)
        if counter <= self._last_event and frame.sealed:
            return  # a resend of one we already have (our ACK was lost)
        self._last_event = counter
        if event.kind in _TABLE_EVENTS:
            self._table = None
        if event.kind is LockEventKind.REBOOTED:
            self._hello = None
        self._hub.publish(event)

    def _on_disconnect(self) -> None:
        self._hello, self._session = None, None
        if self._closed:
            return
        self._hub.publish(LockEvent(LockEventKind.OFFLINE, self.clock.now()))
        if self._hub.listening:
            self._start_reconnector()

    def _start_reconnector(self) -> None:
        if self._reconnector is None or self._reconnector.done():
            self._reconnector = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        """Reopen the link (backing off up to 5 s) so events flow again without an operation."""
        delay = 0.1
        while not self._closed:
            try:
                await self.connect()
            except KeyslotError as exc:
                log.debug("%s: still unreachable: %s", self.name, exc.message)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._hub.publish(LockEvent(LockEventKind.ONLINE, self.clock.now()))
            return


_TABLE_EVENTS = frozenset(
    {
        LockEventKind.CODE_ADDED,
        LockEventKind.CODE_CHANGED,
        LockEventKind.CODE_DELETED,
        LockEventKind.ALL_CODES_DELETED,
        LockEventKind.ONE_TIME_CODE_USED,
    }
)


def _decoded(name: str, decoder: Callable[[bytes], T], body: bytes) -> T:
    try:
        return decoder(body)
    except FrameDecodeError as exc:
        raise ProtocolError(f"{name} sent a reply that does not decode: {exc.message}") from None


async def open_url(
    url: LockUrl, *, clock: Clock, keys: PairingKeyStore | None = None, **context: Any
) -> SerialLock:
    """Open and greet the lock; `LockUnavailable` if it cannot be reached."""
    del context
    lock = SerialLock(url, clock=clock, keys=keys, options=LinkOptions.from_url(url))
    try:
        await lock.connect()
    except BaseException:
        await lock.aclose()
        raise
    return lock


async def pair(url: LockUrl, keys: PairingKeyStore, clock: Clock) -> str:
    """Pair with a lock in pairing mode; keeps the key and returns the confirmation code."""
    from keyslot.protocol.serial_session import PUBLIC_KEY_LEN, PairingKeyPair

    lock = SerialLock(url, clock=clock, keys=None, options=LinkOptions.from_url(url))
    try:
        async with lock._ops:
            hello = await lock._ensure_session()
            ours = PairingKeyPair()
            status, body = await lock._plain(MsgType.PAIR, ours.public)
            if status is not Status.OK:
                raise lock._error(status, body)
            if len(body) != PUBLIC_KEY_LEN:
                raise ProtocolError(f"{lock.name} sent a pairing key of {len(body)} bytes")
            try:
                result = ours.agree(
                    body, lock_id=hello.lock_id, host_public=ours.public, lock_public=body
                )
            except FrameDecodeError as exc:
                raise AuthenticationFailed(f"{lock.name}: {exc.message}") from None
        keys.save_key(key_id(url), result.key)
        lock.keys = keys
        lock._hello = None
        # prove the key: a sealed request the lock accepts only from its paired host
        await lock._call(MsgType.READ_SLOTS, msg.ReadSlots(0, 0).encode())
        return result.confirmation
    finally:
        await lock.aclose()

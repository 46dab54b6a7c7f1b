"""The BLE keypad driver: `ble://AA:BB:CC:DD:EE:FF`, on bleak and bleak-retry-connector.

One connection serves a whole batch of slot operations: the link stays up while requests
keep coming and drops after `idle` seconds without use (never while someone reads
`events()`). When the link drops under a request, the driver reconnects, says hello again
and resends it (every request is idempotent), up to `resume` times. Pairing keys come from
a `PairingKeyStore` under `ble://<ADDRESS>` (`keyslot pair ble://…` puts them there).

Context keys for `open_url`, `pair` and `scan` (benches and tests inject a radio with them):
`ble_device` (a bleak `BLEDevice`: no scan for the address), `ble_client_backend` (a
`BaseBleakClient` subclass for `BleakClient(backend=…)`), `ble_scanner_backend` (a
`BaseBleakScanner` subclass for `BleakScanner(backend=…)`). See `ble_bumble_backend`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from keyslot.drivers import LockUrl, PairingKeyStore
from keyslot.drivers.ble_link import BleLink, Confirm, EventMessage, LinkLost
from keyslot.drivers.ble_scan import FoundLock, scan
from keyslot.drivers.ble_url import (
    DriverSettings,
    address_from_url,
    key_name,
    parse_ble_url,
    settings_for,
)
from keyslot.drivers.event_queue import BoundedEventStream
from keyslot.protocol.ble_messages import (
    NO_EVENT,
    ChallengeReply,
    ChecksumReply,
    ClearReply,
    ClearSlot,
    ClockReply,
    ErrorCode,
    ErrorReply,
    EventCount,
    GetChallenge,
    GetChecksum,
    GetEvents,
    GetInfo,
    InfoReply,
    ListSlots,
    Reply,
    Request,
    SetClock,
    SlotCount,
    SlotReply,
    WriteReply,
    WriteSlot,
    error_from_reply,
)
from keyslot.protocol.ble_session import PairedKey
from keyslot.protocol.clock import Clock
from keyslot.protocol.slots import (
    AuthenticationFailed,
    KeyslotError,
    LockEvent,
    LockEventKind,
    LockInfo,
    LockUnavailable,
    NotPaired,
    ProtocolError,
    Slot,
    SlotEntry,
    SlotProgrammerBase,
)

__all__ = ["BleLock", "FoundLock", "open_url", "pair", "scan"]

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Reply)
T = TypeVar("T")

EVENT_QUEUE_SIZE = 256
_RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)  # seconds of the clock, for event readers
_STOP_TIMEOUT = 5.0


class _EventStream(BoundedEventStream):
    """One reader's events; the oldest is dropped when a slow reader lets the queue fill."""

    def __init__(self, owner: BleLock) -> None:
        super().__init__(EVENT_QUEUE_SIZE)
        self._owner = owner

    async def aclose(self) -> None:
        await super().aclose()
        self._owner.forget_stream(self)


class BleLock(SlotProgrammerBase):
    """A `SlotProgrammer` for a keyslot BLE lock (see the module docstring)."""

    def __init__(
        self, address: str, *, key: PairedKey, clock: Clock, settings: DriverSettings, url: str = ""
    ) -> None:
        self.address = address
        self.url = url or f"ble://{address}"
        self._key = key
        self._clock = clock
        self._settings = settings
        self._link = BleLink(
            address,
            clock=clock,
            options=settings.options,
            on_event=self._on_lock_event,
            on_drop=self._on_drop,
        )
        self._lock = asyncio.Lock()
        self._info: LockInfo | None = None
        self._challenge: bytes | None = None
        self._streams: list[_EventStream] = []
        self._idle_task: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._dropped = asyncio.Event()
        self._cursor: int | None = None  # number of the last lock event handed to readers
        self._needs_sync = False
        self._closed = False
        self.connections_opened = 0
        self.sessions_started = 0
        self.resends = 0

    def __repr__(self) -> str:
        return f"BleLock({self.address!r})"

    @property
    def connected(self) -> bool:
        return self._link.connected

    # ------------------------------------------------------------------ the link

    async def _ensure(self) -> BleLink:
        if self._closed:
            raise LockUnavailable("this lock connection is closed")
        link = self._link
        reconnected = False
        if not link.connected:
            await link.open()
            self.connections_opened += 1
            reconnected = True
        if not link.has_session:
            self._challenge = None
            await link.handshake(self._key)
            self.sessions_started += 1
            if self._streams:
                await self._sync_events(link)
        if reconnected:
            self._emit(LockEventKind.ONLINE)  # from here on the lock's events reach us
        return link

    async def _run(self, step: Callable[[BleLink], Awaitable[T]]) -> T:
        """Run `step` on a live session, resuming on a new link if the link drops under it."""
        async with self._lock:
            self._cancel_idle()
            try:
                last: LinkLost | None = None
                for _ in range(self._settings.resume + 1):
                    try:
                        return await step(await self._ensure())
                    except LinkLost as exc:
                        last = exc
                        self.resends += 1
                        log.info("%s: %s; resuming", self.address, exc.message)
                raise LockUnavailable(
                    f"{self.address}: the link kept dropping ({last.message if last else ''})"
                ) from last
            finally:
                self._arm_idle()

    async def _ask(self, link: BleLink, build: Callable[[int], Request], want: type[R]) -> R:
        replies = await link.request(build(link.new_request_id()))
        return _expect(replies[0], want)

    # ------------------------------------------------------------------ the interface

    async def info(self) -> LockInfo:
        if self._info is None:
            reply = await self._run(lambda link: self._ask(link, GetInfo, InfoReply))
            self._info = reply.info
        return self._info

    async def read_slots(self) -> Sequence[Slot]:
        """Every slot, one listing page (a count, then one notification per slot) at a time."""
        page = self._settings.page

        async def listing(link: BleLink) -> list[Slot]:
            slots: list[Slot] = []
            total: int | None = None
            while total is None or len(slots) < total:
                offset = len(slots)
                replies = await link.request(ListSlots(link.new_request_id(), offset, page))
                head = _expect(replies[0], SlotCount)
                total = head.total
                if head.count == 0 and len(slots) < total:
                    raise ProtocolError("the lock stopped listing before its last slot")
                slots += (_expect(reply, SlotReply).slot for reply in replies[1:])
            return slots

        return await self._run(listing)

    async def _challenge_for(self, link: BleLink, *, fresh: bool = False) -> bytes:
        if self._challenge is None or fresh:
            reply = await self._ask(link, GetChallenge, ChallengeReply)
            self._challenge = reply.challenge
        return self._challenge

    async def _change(self, link: BleLink, build: Callable[[int, bytes], Request]) -> Reply:
        """A code-changing request with the lock's challenge (fetched again once if stale)."""
        for fresh in (False, True):
            challenge = await self._challenge_for(link, fresh=fresh)
            self._challenge = None  # used up, whatever the answer
            reply = (await link.request(build(link.new_request_id(), challenge)))[0]
            if isinstance(reply, ErrorReply) and reply.code is ErrorCode.STALE_CHALLENGE:
                continue
            return reply
        raise AuthenticationFailed(f"{self.address} refused every challenge it issued")

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        async def step(link: BleLink) -> Slot:
            reply = await self._change(link, lambda rid, ch: WriteSlot(rid, ch, index, entry))
            written = _expect(reply, WriteReply)
            self._challenge = written.next_challenge
            return written.slot

        return await self._run(step)

    async def clear_slot(self, index: int) -> None:
        async def step(link: BleLink) -> None:
            reply = await self._change(link, lambda rid, ch: ClearSlot(rid, ch, index))
            self._challenge = _expect(reply, ClearReply).next_challenge

        await self._run(step)

    async def set_clock(self, now: datetime) -> None:
        await self._run(lambda link: self._ask(link, lambda rid: SetClock(rid, now), ClockReply))

    async def slots_checksum(self) -> int | None:
        if not (await self.info()).checksum:
            return None
        reply = await self._run(lambda link: self._ask(link, GetChecksum, ChecksumReply))
        return reply.checksum

    # ------------------------------------------------------------------ events

    def events(self) -> AsyncIterator[LockEvent]:
        """Events from now on; while any reader is open the driver keeps the link up, and
        after a dropped link it fetches what the lock numbered meanwhile (the lock keeps
        its last 64 events), so readers miss nothing short of that."""
        stream = _EventStream(self)
        if self._closed:
            stream.close()
            return stream
        if not self._streams:
            self._cursor = None  # no history from before anyone listened
            self._needs_sync = True
        self._streams.append(stream)
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep_link())
        self._dropped.set()
        return stream

    def forget_stream(self, stream: _EventStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def _push(self, event: LockEvent) -> None:
        for stream in list(self._streams):
            stream.push(event)

    def _on_lock_event(self, message: EventMessage) -> None:
        """Numbered events from the lock, live or replayed, each handed on once."""
        if isinstance(message, EventCount):
            if message.missed:
                log.warning("%s: %d lock events were lost", self.address, message.missed)
            if self._cursor is None:
                self._cursor = message.latest
            elif message.latest < self._cursor:
                self._cursor = 0  # the lock numbers afresh (it restarted): take all it kept
            return
        number = message.sequence
        if number and self._cursor is not None and number <= self._cursor:
            return  # already handed on (a replay of what arrived live)
        if number:
            self._cursor = number
        self._push(message.event)

    def _emit(self, kind: LockEventKind) -> None:
        self._push(LockEvent(kind=kind, at=self._clock.now()))

    async def _sync_events(self, link: BleLink) -> None:
        """Ask the lock for the events after our cursor (or just its latest number)."""
        since = NO_EVENT if self._cursor is None else self._cursor
        self._needs_sync = False
        try:
            reply = (await link.request(GetEvents(link.new_request_id(), since)))[0]
            _expect(reply, EventCount)
        except LinkLost:
            self._needs_sync = True
            raise
        except KeyslotError as exc:  # an older lock, a lost answer: go on without the replay
            log.warning("%s: could not fetch missed events: %s", self.address, exc.message)

    def _on_drop(self) -> None:
        self._emit(LockEventKind.OFFLINE)
        self._dropped.set()

    def _stopping(self) -> bool:
        """Closed, or this task was asked to stop (some libraries swallow a cancellation
        that races with a result, so a cancelled task must look for itself)."""
        task = asyncio.current_task()
        return self._closed or (task is not None and task.cancelling() > 0)

    async def _keep_link(self) -> None:
        """While event readers exist, reconnect whenever the link is down."""
        failures = 0
        while self._streams and not self._stopping():
            if self._link.has_session and not self._needs_sync:
                self._dropped.clear()
                await self._dropped.wait()
                continue
            try:
                async with self._lock:
                    link = await self._ensure()
                    if self._needs_sync:
                        await self._sync_events(link)
                failures = 0
            except KeyslotError as exc:
                if self._stopping():
                    return
                delay = _RECONNECT_BACKOFF[min(failures, len(_RECONNECT_BACKOFF) - 1)]
                failures += 1
                log.info("%s: event link down (%s); again in %g s", self.address, exc.code, delay)
                await self._clock.sleep(delay)

    # ------------------------------------------------------------------ idle and close

    def _cancel_idle(self) -> None:
        if self._idle_task is not None:
            self._idle_task.cancel()
            self._idle_task = None

    def _arm_idle(self) -> None:
        idle = self._settings.idle
        if idle <= 0 or self._closed or not self._link.connected:
            return
        self._idle_task = asyncio.get_running_loop().create_task(self._idle_close(idle))

    async def _idle_close(self, idle: float) -> None:
        await self._clock.sleep(idle)
        if self._streams or self._lock.locked():
            return
        log.debug("%s: idle for %g s, disconnecting", self.address, idle)
        await self._link.close()

    async def aclose(self) -> None:
        self._closed = True
        self._cancel_idle()
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            self._dropped.set()
            keeper.cancel()
            # real seconds: closing must not hang on a clock nobody moves
            await asyncio.wait({keeper}, timeout=_STOP_TIMEOUT)
            if not keeper.done():
                log.warning("%s: the event keeper did not stop", self.address)
            elif not keeper.cancelled() and keeper.exception() is not None:
                log.warning("%s: the event keeper failed: %r", self.address, keeper.exception())
        await self._link.close()


def _expect(reply: Reply, want: type[R]) -> R:
    if isinstance(reply, want):
        return reply
    if isinstance(reply, ErrorReply):
        raise error_from_reply(reply)
    raise ProtocolError(f"expected {want.__name__} from the lock, got {type(reply).__name__}")


def _url(url: LockUrl | str) -> LockUrl:
    return parse_ble_url(url) if isinstance(url, str) else url


async def open_url(
    url: LockUrl, *, clock: Clock, keys: PairingKeyStore | None = None, **context: Any
) -> BleLock:
    """A driver for a paired lock; it connects on first use (see the module docstring)."""
    url = _url(url)
    address = address_from_url(url)
    blob = keys.load_key(key_name(address)) if keys is not None else None
    if blob is None:
        raise NotPaired(
            f"{key_name(address)} is not paired; run `keyslot pair {key_name(address)}`"
        )
    try:
        key = PairedKey.from_bytes(blob)
    except ValueError as exc:
        raise NotPaired(f"the stored key for {key_name(address)} is damaged; pair again") from exc
    return BleLock(address, key=key, clock=clock, settings=settings_for(url, context), url=url.raw)


async def pair(
    url: LockUrl | str,
    keys: PairingKeyStore | None,
    clock: Clock,
    *,
    confirm: Confirm | None = None,
    **context: Any,
) -> str:
    """Pair with a lock in pairing mode, store the key in `keys`; returns the confirmation code.

    Both ends show the same six-digit code. `confirm(code)` should show it and return
    whether the lock shows the same; without it the code is only returned, for the caller
    to show (a mismatch then means: unpair and pair again).
    """
    url = _url(url)
    address = address_from_url(url)
    link = BleLink(address, clock=clock, options=settings_for(url, context).options)
    try:
        await link.open()
        key, code = await link.pair(confirm)
    finally:
        await link.close()
    if keys is not None:
        keys.save_key(key_name(address), key.to_bytes())
    log.info("paired with %s (%s)", key_name(address), key.lock_id)
    return code

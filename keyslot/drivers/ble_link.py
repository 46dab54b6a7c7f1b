"""One BLE link to a keyslot lock, through bleak: connect, subscribe, hello, sealed requests.

Layered after zigpy-znp: bytes are cut and joined by `ble_wire`, sealed by `ble_session`,
and here a request waits for the reply with its request id, every wait bounded on the
injected clock. Every bleak, D-Bus or OS error is turned into a keyslot error at this
layer; `LinkLost` marks the ones after which the caller may safely resend on a new link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from keyslot.protocol.ble_frames import (
    Alert,
    AlertReason,
    Frame,
    HelloAck,
    PairCommit,
    PairDone,
    PairReveal,
    Sealed,
    decode_frame,
    encode_frame,
)
from keyslot.protocol.ble_messages import (
    EventCount,
    EventNotice,
    ListSlots,
    Reply,
    Request,
    SlotCount,
    decode_message,
    encode_message,
)
from keyslot.protocol.ble_session import (
    AuthError,
    HostHandshake,
    HostPairing,
    PairedKey,
    PairingError,
    ReplayError,
    SecureChannel,
    SessionError,
)
from keyslot.protocol.ble_wire import (
    MIN_MTU,
    NOTIFY_CHAR_UUID,
    WRITE_CHAR_UUID,
    MessageError,
    Reassembler,
    fragment,
)
from keyslot.protocol.clock import Clock, ClockTimeout, wait_for
from keyslot.protocol.slots import (
    AuthenticationFailed,
    KeyslotError,
    LockTimeout,
    LockUnavailable,
    NotPaired,
    ProtocolError,
)

if TYPE_CHECKING:
    from bleak import BleakClient
    from bleak.backends.characteristic import BleakGATTCharacteristic
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import BaseBleakScanner

__all__ = ["BleLink", "BleOptions", "LinkLost", "PairingRefused"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Confirm = Callable[[str], Awaitable[bool]]
EventMessage = EventNotice | EventCount

_MAX_MTU = 517


class LinkLost(LockUnavailable):
    """The link or session ended mid-exchange; the request was not answered and may be resent."""

    code = "link_lost"


class PairingRefused(AuthenticationFailed):
    """The lock refused to pair (not in pairing mode, or a proof did not verify)."""

    code = "pairing_refused"


@dataclass(frozen=True, slots=True)
class BleOptions:
    """How to reach a lock. The backends and `device` replace BlueZ in tests (see ble.py)."""

    device: BLEDevice | None = None
    client_backend: type[BaseBleakClient] | None = None
    scanner_backend: type[BaseBleakScanner] | None = None
    scan_timeout: float = 10.0
    connect_timeout: float = 30.0
    reply_timeout: float = 10.0
    attempts: int = 3


_ALERT_ERRORS: dict[AlertReason, Callable[[str], KeyslotError]] = {
    AlertReason.NOT_PAIRED: lambda m: NotPaired(f"the lock does not know this host: {m}"),
    AlertReason.NOT_IN_PAIRING_MODE: lambda m: PairingRefused(
        f"{m}: the lock is not in pairing mode"
    ),
    AlertReason.PAIRING_FAILED: lambda m: PairingRefused(f"{m}: the lock refused the pairing"),
    AlertReason.MALFORMED: lambda m: ProtocolError(f"{m}: the lock could not read our frame"),
    # the session went out of step (a lost frame): a new hello and a resend fix it
    AlertReason.REPLAY: lambda m: LinkLost(f"{m}: the lock's session counter differs"),
    AlertReason.NO_SESSION: lambda m: LinkLost(f"{m}: the lock has no session for us"),
    AlertReason.AUTH_FAILED: lambda m: LinkLost(f"{m}: the lock could not verify our frame"),
}


def _foreign(exc: BaseException, doing: str) -> LockUnavailable:
    """A keyslot error for a bleak/D-Bus/OS failure (never its message alone: keep the type)."""
    return LockUnavailable(f"{doing} failed: {type(exc).__name__}: {exc}")


class BleLink:
    """A connection to one lock, with at most one request in flight (the caller serializes)."""

    def __init__(
        self,
        address: str,
        *,
        clock: Clock,
        options: BleOptions,
        on_event: Callable[[EventMessage], None] | None = None,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.address = address
        self._clock = clock
        self._options = options
        self._on_event = on_event
        self._on_drop = on_drop
        self._client: BleakClient | None = None
        self._write_char: BleakGATTCharacteristic | None = None
        self._mtu = MIN_MTU
        self._reassembler = Reassembler()
        self._plain: asyncio.Queue[Frame | KeyslotError] = asyncio.Queue()
        self._replies: asyncio.Queue[Reply | KeyslotError] = asyncio.Queue()
        self._channel: SecureChannel | None = None
        self._current: int | None = None
        self._next_id = 0
        self._closing = False
        self.connected = False

    @property
    def mtu(self) -> int:
        return self._mtu

    @property
    def has_session(self) -> bool:
        return self.connected and self._channel is not None

    # ------------------------------------------------------------------ connection

    async def open(self) -> None:
        """Find the lock, connect (bleak-retry-connector), subscribe to its notifications."""
        try:
            await wait_for(self._clock, self._open(), self._options.connect_timeout)
        except ClockTimeout:
            await self.close()
            raise LockUnavailable(
                f"could not connect to {self.address} within {self._options.connect_timeout:g} s"
            ) from None
        except KeyslotError:
            await self.close()
            raise

    async def _open(self) -> None:
        from bleak import BleakClient
        from bleak_retry_connector import establish_connection

        device = self._options.device or await self._find()
        try:
            client = await establish_connection(
                BleakClient,
                device,
                self.address,
                disconnected_callback=self._on_bleak_disconnect,
                max_attempts=self._options.attempts,
                backend=self._options.client_backend,
            )
        except Exception as exc:
            raise _foreign(exc, f"connecting to {self.address}") from exc
        self._client = client
        self.connected = True
        self._reassembler.reset()
        char = self._lock_characteristic(client)
        self._write_char = char
        self._mtu = max(MIN_MTU, min(_MAX_MTU, char.max_write_without_response_size + 3))
        try:
            await client.start_notify(NOTIFY_CHAR_UUID, self._on_notify)
        except Exception as exc:
            raise _foreign(exc, "subscribing to the lock") from exc

    def _lock_characteristic(self, client: BleakClient) -> BleakGATTCharacteristic:
        try:
            services = client.services
            char = services.get_characteristic(WRITE_CHAR_UUID)
            notify = services.get_characteristic(NOTIFY_CHAR_UUID)
        except Exception as exc:
            raise _foreign(exc, "reading the lock's services") from exc
        if char is None or notify is None:
            raise ProtocolError(f"{self.address} does not offer the keyslot lock service")
        return char

    async def _find(self) -> BLEDevice:
        from bleak import BleakScanner

        backend = self._options.scanner_backend
        extra: dict[str, Any] = {} if backend is None else {"backend": backend}
        try:
            device = await BleakScanner.find_device_by_address(
                self.address, timeout=self._options.scan_timeout, **extra
            )
        except Exception as exc:
            raise _foreign(exc, "scanning for the lock") from exc
        if device is None:
            raise LockUnavailable(f"no lock advertising as {self.address} nearby")
        return device

    async def close(self) -> None:
        """Disconnect (idempotent); a request in flight fails with LinkLost."""
        client, self._client = self._client, None
        self._closing = True
        try:
            self._lost(LinkLost("the link was closed"))
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.disconnect()
        finally:
            self._closing = False

    def _on_bleak_disconnect(self, client: BleakClient) -> None:
        if client is not self._client:
            return
        self._client = None
        self._lost(LinkLost(f"{self.address} disconnected"))

    def _lost(self, error: KeyslotError) -> None:
        was_connected = self.connected
        self.connected = False
        self._channel = None
        self._wake(error)
        if was_connected and not self._closing and self._on_drop is not None:
            self._on_drop()

    def _wake(self, error: KeyslotError) -> None:
        self._plain.put_nowait(error)
        if self._current is not None:
            self._replies.put_nowait(error)

    # ------------------------------------------------------------------ bytes in

    def _on_notify(self, sender: Any, data: bytearray) -> None:
        del sender
        try:
            message = self._reassembler.feed(bytes(data))
            if message is None:
                return
            frame = decode_frame(message)
        except MessageError as exc:
            self._broken(ProtocolError(f"the lock sent a malformed frame: {exc}"))
            return
        if not isinstance(frame, Sealed):
            if isinstance(frame, Alert) and self._channel is not None:
                self._channel = None  # the lock refused our frame: this session is over
                self._wake(_ALERT_ERRORS[frame.reason]("request refused"))
                return
            self._plain.put_nowait(frame)
            return
        channel = self._channel
        if channel is None:
            return  # a late frame of a session we already left
        try:
            reply = decode_message(channel.open(frame))
        except (ReplayError, AuthError) as exc:
            self._broken(ProtocolError(f"a frame from the lock did not verify: {exc}"))
            return
        except MessageError as exc:
            self._broken(ProtocolError(f"the lock sent a malformed message: {exc}"))
            return
        # events, live or replayed, reach the owner in wire order, so numbering stays simple
        if isinstance(reply, EventNotice | EventCount) and self._on_event is not None:
            self._on_event(reply)
        if isinstance(reply, EventNotice):
            return
        if reply.request_id == self._current and not isinstance(reply, Request):
            self._replies.put_nowait(reply)
        else:
            log.debug("dropping a late or unexpected reply %s", type(reply).__name__)

    def _broken(self, error: ProtocolError) -> None:
        """The lock's side of the session cannot be trusted any more: leave it."""
        self._channel = None
        self._wake(error)

    # ------------------------------------------------------------------ bytes out

    async def _send(self, frame: Frame) -> None:
        client, char = self._client, self._write_char
        if client is None or char is None or not self.connected:
            raise LinkLost("not connected")
        try:
            for piece in fragment(encode_frame(frame), self._mtu):
                await client.write_gatt_char(char, piece, response=True)
        except Exception as exc:
            if not self.connected:
                raise LinkLost(f"{self.address} disconnected while sending") from exc
            raise _foreign(exc, "writing to the lock") from exc

    async def _plain_frame(self, expected: type[T], doing: str) -> T:
        try:
            item = await wait_for(self._clock, self._plain.get(), self._options.reply_timeout)
        except ClockTimeout:
            raise LockTimeout(f"the lock did not answer the {doing}") from None
        if isinstance(item, KeyslotError):
            raise item
        if isinstance(item, Alert):
            raise _ALERT_ERRORS[item.reason](doing)
        if not isinstance(item, expected):
            raise ProtocolError(f"unexpected {type(item).__name__} during the {doing}")
        return item

    def _drain_plain(self) -> None:
        while not self._plain.empty():
            self._plain.get_nowait()

    # ------------------------------------------------------------------ protocol

    async def handshake(self, key: PairedKey) -> None:
        """Start a sealed session (a new one replaces any earlier one on this link)."""
        self._channel = None
        self._drain_plain()
        hello = HostHandshake(key)
        await self._send(hello.hello())
        ack = await self._plain_frame(HelloAck, "session hello")
        try:
            self._channel = hello.on_ack(ack)
        except AuthError:
            raise AuthenticationFailed(
                f"{self.address} does not hold our pairing key; pair again"
            ) from None

    async def pair(self, confirm: Confirm | None) -> tuple[PairedKey, str]:
        """Pair with a lock in pairing mode; `confirm(code)` must say the codes match."""
        self._drain_plain()
        pairing = HostPairing()
        try:
            await self._send(pairing.request())
            commit = await self._plain_frame(PairCommit, "pairing request")
            await self._send(pairing.on_commit(commit))
            reveal = await self._plain_frame(PairReveal, "pairing")
            code = pairing.on_reveal(reveal)
            if confirm is not None and not await confirm(code):
                raise PairingRefused("the codes did not match; the pairing was cancelled")
            await self._send(pairing.confirm())
            done = await self._plain_frame(PairDone, "pairing confirmation")
            return pairing.on_done(done), code
        except PairingError as exc:
            raise PairingRefused(f"pairing failed: {exc}") from exc

    async def request(self, message: Request) -> list[Reply]:
        """Send one request; its replies (a listing's count and entries, or one reply)."""
        channel = self._channel
        if channel is None or not self.connected:
            raise LinkLost("no session")
        self._current = message.request_id
        while not self._replies.empty():
            self._replies.get_nowait()
        try:
            try:
                sealed = channel.seal(encode_message(message))
            except SessionError as exc:
                raise LinkLost(str(exc)) from exc
            await self._send(sealed)
            first = await self._reply()
            replies = [first]
            if isinstance(message, ListSlots) and isinstance(first, SlotCount):
                for _ in range(first.count):
                    replies.append(await self._reply())
            return replies
        finally:
            self._current = None

    async def _reply(self) -> Reply:
        try:
            item = await wait_for(self._clock, self._replies.get(), self._options.reply_timeout)
        except ClockTimeout:
            raise LockTimeout(
                f"{self.address} did not answer within {self._options.reply_timeout:g} s"
            ) from None
        if isinstance(item, KeyslotError):
            raise item
        return item

    def new_request_id(self) -> int:
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id

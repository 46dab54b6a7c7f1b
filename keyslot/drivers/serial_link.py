"""The serial driver's link: one connection, a reader task, and stop-and-wait retransmission.

`Channel.transact` sends a frame and returns the lock's reply, sending the same bytes again
after a timeout or as soon as noise shows the exchange went wrong (a NAK for a bad frame, or
garbage from the lock), within a bounded number of sends. Every pyserial and socket error is
turned into `LockUnavailable` here, so none leaves the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from keyslot.drivers import LockUrl, LockUrlError
from keyslot.protocol.clock import Clock, ClockTimeout, wait_for
from keyslot.protocol.serial_frames import (
    Deframer,
    Frame,
    FrameDecodeError,
    FrameKind,
    encode_frame,
)
from keyslot.protocol.serial_messages import MsgType, Status
from keyslot.protocol.slots import LockTimeout, LockUnavailable

__all__ = ["Channel", "LinkLost", "LinkOptions", "device_path"]

log = logging.getLogger(__name__)

_READ_SIZE = 4096


class LinkLost(LockUnavailable):
    """The connection went away while a request was out (cable pulled, socket closed)."""

    code = "lock_link_lost"


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Tuning from the URL query: `?baud=115200&timeout=0.5&retries=5&sends=40`."""

    baud: int = 115200
    timeout: float = 0.5  # seconds to wait for a reply before sending again
    retries: int = 5  # sends after timeouts, beyond the first
    sends: int = 40  # every send of one request, noise-triggered ones included
    connect_timeout: float = 5.0

    @classmethod
    def from_url(cls, url: LockUrl) -> LinkOptions:
        try:
            options = cls(
                baud=int(url.option("baud") or 115200),
                timeout=float(url.option("timeout") or 0.5),
                retries=int(url.option("retries") or 5),
                sends=int(url.option("sends") or 40),
                connect_timeout=float(url.option("connect_timeout") or 5.0),
            )
        except ValueError as exc:
            raise LockUrlError(f"bad option in {url.redacted}: {exc}") from None
        if options.baud <= 0 or options.timeout <= 0 or options.retries < 0 or options.sends < 1:
            raise LockUrlError(f"out-of-range option in {url.redacted}")
        return options

    def reply_timeout(self, request_bytes: int) -> float:
        """At low baud rates the wire itself takes time: allow for request and a long reply."""
        return self.timeout + (request_bytes + 256) * 10 / self.baud


def device_path(url: LockUrl) -> str:
    """`serial:///dev/ttyUSB0` -> `/dev/ttyUSB0` (and `serial://COM3` -> `COM3`)."""
    path = f"{url.host}{url.path}" if url.host else url.path
    if not path:
        raise LockUrlError(f"no serial device in {url.redacted}")
    return path


async def _open_stream(
    url: LockUrl, options: LinkOptions
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if url.scheme == "socket":
        if not url.host or url.port is None:
            raise LockUrlError(f"a socket lock URL needs host:port, not {url.redacted}")
        return await asyncio.open_connection(url.host, url.port)
    import serial
    import serial_asyncio_fast

    try:
        return await serial_asyncio_fast.open_serial_connection(
            url=device_path(url), baudrate=options.baud
        )
    except serial.SerialException as exc:
        raise OSError(str(exc)) from None


class Channel:
    """One lock connection. Events and disconnects are reported through callbacks."""

    def __init__(
        self,
        url: LockUrl,
        *,
        clock: Clock,
        options: LinkOptions,
        on_event: Callable[[Frame], None],
        on_disconnect: Callable[[], None],
    ) -> None:
        self.url = url
        self.clock = clock
        self.options = options
        self._on_event = on_event
        self._on_disconnect = on_disconnect
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._deframer = Deframer()
        self._pending_seq: int | None = None
        self._reply: asyncio.Future[Frame] | None = None
        self._wakeup = asyncio.Event()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.sends = 0

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        """Open the port or socket; `LockUnavailable` when it cannot be opened."""
        if self.connected:
            return
        try:
            reader, writer = await wait_for(
                self.clock, _open_stream(self.url, self.options), self.options.connect_timeout
            )
        except LockUrlError:
            raise
        except ClockTimeout:
            raise LockUnavailable(f"{self.url.redacted}: opening the link timed out") from None
        except (OSError, ValueError) as exc:
            raise LockUnavailable(f"{self.url.redacted} cannot be opened: {exc}") from None
        self._writer = writer
        self._deframer.reset()
        self._reader_task = asyncio.ensure_future(self._read_loop(reader, writer))

    async def close(self) -> None:
        writer, task = self._writer, self._reader_task
        self._writer = self._reader_task = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise LinkLost(f"{self.url.redacted}: the link is down")
        try:
            writer.write(data)
        except (OSError, RuntimeError) as exc:
            raise LinkLost(f"{self.url.redacted}: write failed: {exc}") from None
        self.bytes_sent += len(data)

    def send_event_ack(self, counter: int) -> None:
        """Acknowledge an event (no reply comes); a lost ACK just makes the lock send it again."""
        frame = Frame(
            FrameKind.REQUEST, MsgType.EVENT_ACK, counter & 0xFF, counter.to_bytes(2, "big")
        )
        with contextlib.suppress(LinkLost):
            self._write(encode_frame(frame))

    async def transact(self, frame: Frame) -> Frame:
        """Send `frame`, return the reply with its seq; retransmit within the bounds."""
        data = encode_frame(frame)
        reply: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending_seq, self._reply = frame.seq, reply
        timeouts = sends = 0
        timeout = self.options.reply_timeout(len(data))
        try:
            while True:
                self._wakeup.clear()
                self._write(data)
                sends += 1
                self.sends += 1
                try:
                    await wait_for(self.clock, self._wakeup.wait(), timeout)
                except ClockTimeout:
                    timeouts += 1
                if reply.done():
                    return reply.result()
                if timeouts > self.options.retries:
                    raise LockTimeout(
                        f"{self.url.redacted} did not answer ({sends} sends, "
                        f"{timeout:g} s each); it may or may not have applied the request"
                    )
                if sends >= self.options.sends:
                    raise LockTimeout(
                        f"{self.url.redacted}: no clean reply in {sends} sends (a noisy line?)"
                    )
        finally:
            self._pending_seq, self._reply = None, None

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                self.bytes_received += len(data)
                for item in self._deframer.feed(data):
                    self._dispatch(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyserial raises many types; all mean "gone"
            log.info("%s: link lost: %s", self.url.redacted, exc)
        if self._writer is writer:
            self._writer = None
            writer.close()
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(LinkLost(f"{self.url.redacted}: the link was lost"))
        self._wakeup.set()
        self._on_disconnect()

    def _dispatch(self, item: Frame | FrameDecodeError) -> None:
        if isinstance(item, FrameDecodeError):
            self._wakeup.set()  # noise: the pending request is sent again at once
            return
        if item.kind is FrameKind.EVENT:
            self._on_event(item)
            return
        if item.kind is not FrameKind.REPLY:
            return  # our own frame echoed (an RS-485 adapter without echo suppression)
        if item.code == Status.BAD_FRAME:
            self._wakeup.set()
            return
        if self._reply is not None and not self._reply.done() and item.seq == self._pending_seq:
            self._reply.set_result(item)
            self._wakeup.set()

"""Serves a simulated lock over a pty or a TCP socket, so real serial drivers can talk to it.

The pty is what a USB-UART adapter looks like to a host: `keyslot sim serial` prints its
path and the production driver (or picocom) opens it from another process. Faults are
applied to the byte stream between the wire and the lock (`ByteFaults`), and a pulled
cable is `unplug()` / `replug()`; a stable symlink can follow the pty across replugs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import stat
import sys
import tty
from collections.abc import Callable
from pathlib import Path

from keyslot.protocol.clock import Clock, SystemClock, wait_for
from keyslot.protocol.serial_frames import Deframer, Frame
from keyslot.protocol.slots import KeyslotError
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.serial_device import Outgoing, SerialDevice
from keyslot.simulator.serial_faults import ByteFaults
from keyslot.simulator.state import STATE_FORMAT, SimulatorStateError, read_state, write_state

__all__ = [
    "SerialEndpoint",
    "configure_cli",
    "load_pairing_key",
    "pairing_key_path",
    "run_cli",
]

log = logging.getLogger(__name__)

_READ_SIZE = 4096


def pairing_key_path(state_path: Path) -> Path:
    """Where a simulated lock keeps its serial pairing key: encrypted, beside its state."""
    return state_path.with_name(state_path.name + ".serial-pairing")


def load_pairing_key(path: Path) -> bytes:
    """The pairing key a simulated lock saved at `path` (files without a format load too)."""
    value = read_state(path, unversioned=True).get("pairing_key")
    try:
        key = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        key = b""
    if not key:
        raise SimulatorStateError(f"{path.name} holds no valid pairing key")
    return key


class SerialEndpoint:
    """One simulated lock on one wire (a pty or a TCP listener); one host at a time."""

    def __init__(
        self,
        firmware: LockFirmware,
        *,
        pairing_mode: bool = False,
        pairing_key: bytes | None = None,
        key_path: Path | None = None,
        faults: ByteFaults | None = None,
        io_clock: Clock | None = None,
        event_retry: float = 0.25,
        line_baud: int | None = None,
    ) -> None:
        self.firmware = firmware
        self.faults = faults or ByteFaults()
        self.io_clock = io_clock or SystemClock()
        self.key_path = key_path
        self.line_baud = line_baud  # pace bytes as a UART at this rate would (8N1: 10 bits)
        self._line_free = {"in": 0.0, "out": 0.0}
        self.confirmations: list[str] = []
        self.on_paired: Callable[[str], None] | None = None
        if pairing_key is None and key_path is not None and key_path.exists():
            pairing_key = load_pairing_key(key_path)
        self.device = SerialDevice(
            firmware,
            pairing_key=pairing_key,
            pairing_mode=pairing_mode,
            on_paired=self._paired,
            event_retry=event_retry,
        )
        self._deframer = Deframer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._pty_path: str | None = None
        self._link: Path | None = None
        self._server: asyncio.Server | None = None
        self._tcp_writer: asyncio.StreamWriter | None = None
        self._tcp_address: tuple[str, int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        self._unsubscribe = firmware.subscribe(lambda _event: self._wake.set())

    # ------------------------------------------------------------------ wires

    @property
    def url(self) -> str:
        """The lock URL a driver opens to reach this endpoint."""
        if self._tcp_address is not None:
            host, port = self._tcp_address
            return f"socket://{host}:{port}"
        path = self._link or self._pty_path
        if path is None:
            raise RuntimeError("the endpoint is not serving yet")
        return f"serial://{path}"

    @property
    def pty_path(self) -> str | None:
        return self._pty_path

    async def open_pty(self, link: Path | None = None) -> str:
        """Serve on a new pty; returns the path a driver opens (the `link` if given)."""
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._pty_path = os.ttyname(slave)
        self._deframer.reset()
        self._loop.add_reader(master, self._on_pty_readable)
        if link is not None:
            self._link = link
            tmp = link.with_name(link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._pty_path)
            tmp.replace(link)
        self._start_pump()
        return str(self._link or self._pty_path)

    async def open_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on `host:port` (port 0: any free one); a new client replaces the old one."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._on_client, host, port)
        sock = self._server.sockets[0].getsockname()
        self._tcp_address = (str(sock[0]), int(sock[1]))
        self._start_pump()
        return self._tcp_address

    def unplug(self) -> None:
        """The cable is pulled: the pty vanishes (or the TCP client is cut off)."""
        self._close_pty()
        if self._tcp_writer is not None:
            self._tcp_writer.close()
            self._tcp_writer = None
        self._deframer.reset()

    async def replug(self) -> str:
        """The cable is back: a new pty (the link, if any, follows it)."""
        if self._tcp_address is not None:
            return self.url
        return await self.open_pty(self._link)

    def _close_pty(self) -> None:
        if self._master is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._master)
                self._loop.remove_writer(self._master)
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        self.device.close()
        self.unplug()
        if self._link is not None:
            with contextlib.suppress(FileNotFoundError):
                self._link.unlink()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = [*self._tasks, *([self._pump] if self._pump else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ pairing and reboots

    def enter_pairing_mode(self) -> None:
        """Someone pressed the lock's pairing button."""
        self.device.pairing_mode = True

    def _paired(self, key: bytes, confirmation: str) -> None:
        self.confirmations.append(confirmation)
        log.info("paired with a host; compare the confirmation code shown on both ends")
        if self.on_paired is not None:
            self.on_paired(confirmation)
        if self.key_path is not None:
            write_state(self.key_path, {"format": STATE_FORMAT, "pairing_key": key.hex()})

    def reboot(self) -> None:
        """Power-cycle the lock now: a frame being received is lost with the session."""
        self._deframer.reset()
        self.device.reboot()

    # ------------------------------------------------------------------ bytes in

    def _on_pty_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: no one holds the other end open right now
        if data:
            self._receive(data)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_writer is not None:
            self._tcp_writer.close()
        self._tcp_writer = writer
        self._deframer.reset()
        try:
            while not self._closed:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                self._receive(data)
        except OSError:
            pass
        finally:
            if self._tcp_writer is writer:
                self._tcp_writer = None
            writer.close()

    def _line_delay(self, direction: str, size: int) -> float:
        """Seconds until `size` more bytes have crossed a line of `line_baud` (0 without one)."""
        if not self.line_baud or self._loop is None:
            return 0.0
        now = self._loop.time()
        done = max(now, self._line_free[direction]) + size * 10 / self.line_baud
        self._line_free[direction] = done
        return done - now

    def _receive(self, data: bytes) -> None:
        delay = self._line_delay("in", len(data))
        if delay and self._loop is not None:
            self._loop.call_later(delay, self._arrived, data)
        else:
            self._arrived(data)

    def _arrived(self, data: bytes) -> None:
        if self._closed:
            return
        faults = self.faults
        cut = faults.reboot_point(len(data)) if faults.reboot else None
        if cut is not None:
            self._feed(faults.mangle(data[:cut], "in"))
            self.reboot()  # the rest of the chunk arrives while the lock restarts
            return
        self._feed(faults.mangle(data, "in") if faults.active else data)

    def _feed(self, data: bytes) -> None:
        for item in self._deframer.feed(data):
            if isinstance(item, Frame) and self.faults.drop_frame():
                continue
            self._send(self.device.handle(item))
        self._wake.set()

    # ------------------------------------------------------------------ bytes out

    def _send(self, out: list[Outgoing]) -> None:
        for outgoing in out:
            delay = outgoing.delay + self.faults.frame_delay()
            if self.faults.drop_frame():
                continue
            data = self.faults.mangle(outgoing.data, "out")
            if delay > 0:
                task = asyncio.ensure_future(self._send_later(data, delay))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._write(data)

    async def _send_later(self, data: bytes, delay: float) -> None:
        await self.io_clock.sleep(delay)
        self._write(data)

    def _write(self, data: bytes) -> None:
        delay = self._line_delay("out", len(data))
        if delay and self._loop is not None:
            self._loop.call_later(delay, self._put, data)
        else:
            self._put(data)

    def _put(self, data: bytes) -> None:
        if self._master is not None:
            try:
                os.write(self._master, data)
            except BlockingIOError:
                log.debug("pty buffer full; %d bytes lost like on a real UART", len(data))
            except OSError as exc:
                log.debug("pty write failed: %s", exc)
        elif self._tcp_writer is not None and not self._tcp_writer.is_closing():
            self._tcp_writer.write(data)

    def _start_pump(self) -> None:
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._event_pump())

    async def _event_pump(self) -> None:
        """Sends queued events, and resends each until the host acknowledges it."""
        while not self._closed:
            now = self.io_clock.monotonic()
            outgoing = self.device.event_due(now)
            if outgoing is not None:
                self._send([outgoing])
                continue
            due = self.device.next_event_at()
            timeout = 1.0 if due is None else max(0.001, due - now)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await wait_for(self.io_clock, self._wake.wait(), timeout)


# ---------------------------------------------------------------------- `keyslot sim serial`


def configure_cli(parser: argparse.ArgumentParser) -> None:
    """Options of `keyslot sim serial`."""
    parser.add_argument("--profile", default="kwikset", help="vendor profile (default kwikset)")
    parser.add_argument("--id", default="sim", help="lock id (default sim)")
    parser.add_argument("--state", type=Path, help="keep the lock (encrypted) in this file")
    parser.add_argument(
        "--tcp", metavar="HOST:PORT", help="serve on TCP instead of a pty (socket:// URL)"
    )
    parser.add_argument("--link", type=Path, help="a symlink that follows the pty (stable path)")
    parser.add_argument("--pairing", action="store_true", help="start in pairing mode")
    parser.add_argument(
        "--faults",
        default="",
        help="byte faults, e.g. corrupt:0.05,burst:8,drop_frames:0.05,delay:0.1@0.2,reboot:0.01",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    parser.add_argument(
        "--baud", type=int, default=None, help="pace the bytes like a UART at this rate"
    )


def run_cli(args: argparse.Namespace) -> int:
    """Serve until interrupted; stdin takes `pair`, `enter CODE`, `reboot`, `quit`."""
    from keyslot.simulator.profiles import get_profile

    try:
        faults = ByteFaults.parse(args.faults, seed=args.seed)
        clock = SystemClock()
        if args.state is not None and args.state.exists():
            firmware = LockFirmware.load(args.state, clock)
        else:
            firmware = LockFirmware(
                get_profile(args.profile), clock=clock, lock_id=args.id, state_path=args.state
            )
        key_path = pairing_key_path(args.state) if args.state is not None else None
        endpoint = SerialEndpoint(
            firmware,
            pairing_mode=args.pairing,
            key_path=key_path,
            faults=faults,
            line_baud=args.baud,
        )
    except KeyslotError as exc:
        print(f"keyslot sim serial: {exc.message}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(endpoint, args))
    return 0


async def _serve(endpoint: SerialEndpoint, args: argparse.Namespace) -> None:
    if args.tcp:
        host, _, port = str(args.tcp).rpartition(":")
        await endpoint.open_tcp(host or "127.0.0.1", int(port))
    else:
        path = await endpoint.open_pty(args.link)
        print(path, flush=True)
    firmware = endpoint.firmware
    print(
        f"simulated {firmware.profile.name} lock {firmware.lock_id!r} on {endpoint.url}"
        f"{' (pairing mode)' if endpoint.device.pairing_mode else ''}",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    firmware.subscribe(lambda e: print(f"event: {e.kind.value} slot={e.slot}", file=sys.stderr))
    endpoint.on_paired = lambda code: print(f"paired; confirmation code {code}", file=sys.stderr)
    stdin_task = asyncio.ensure_future(_console(endpoint, stop))
    try:
        await stop.wait()
    finally:
        stdin_task.cancel()
        await asyncio.gather(stdin_task, return_exceptions=True)
        await endpoint.aclose()


async def _console(endpoint: SerialEndpoint, stop: asyncio.Event) -> None:
    """A few commands on stdin, so a person can play the one at the lock."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return
    if not (sys.stdin.isatty() or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # a file or /dev/null cannot be polled: serve without a console
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError):
        return  # no usable stdin (closed, or a file): serve without a console
    while not stop.is_set():
        line = (await reader.readline()).decode(errors="replace")
        if not line:
            return
        words = line.split()
        if not words:
            continue
        if words[0] == "pair":
            endpoint.enter_pairing_mode()
            print("pairing mode on", file=sys.stderr)
        elif words[0] == "enter" and len(words) == 2:
            result = endpoint.firmware.enter(words[1])
            print("unlocked" if result.unlocked else f"denied: {result.reason}", file=sys.stderr)
        elif words[0] == "reboot":
            endpoint.reboot()
        elif words[0] == "quit":
            stop.set()
        else:
            print("commands: pair | enter CODE | reboot | quit", file=sys.stderr)

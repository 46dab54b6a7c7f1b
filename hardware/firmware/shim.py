"""Runs the reference keypad firmware under CPython on a pty, as a Pico on a USB-UART would be.

    python hardware/firmware/shim.py --state DIR [--id ID] [--pairing] [--link PATH]

prints the pty's path on stdout; keyslot (`serial:///dev/pts/N`) or picocom opens it. The
firmware core is the same code the Pico runs; this file only supplies what the board
would: a clock, AES-ECB (from `cryptography`, where the Pico has `cryptolib`), the UART (a
pty in raw mode) and a console on stdin standing in for the keypad and the buttons:
`pair`, `manager`, `keys 1234#`, `enter 1234`, `reboot`, `status`, `quit`.
"""

import argparse
import contextlib
import os
import select
import signal
import sys
import time
import tty
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from keyslot_fw.lock import Lock  # noqa: E402
from keyslot_fw.platform import TICKS_PERIOD, Platform  # noqa: E402

__all__ = ["HostPlatform", "PtyPort", "ShimBoard", "main"]

_READ_SIZE = 4096


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _wall_us() -> int:
    return time.time_ns() // 1000


class HostPlatform(Platform):
    """The board, played by CPython: ticks and wall time from functions, AES from OpenSSL."""

    def __init__(
        self,
        monotonic_ms: Callable[[], int] = _monotonic_ms,
        wall_us: Callable[[], int] = _wall_us,
    ) -> None:
        self._monotonic_ms = monotonic_ms
        self._wall_us = wall_us

    def ticks_ms(self) -> int:
        return int(self._monotonic_ms()) % TICKS_PERIOD

    def wall_us(self) -> int:
        return int(self._wall_us())

    def aes(self, key: bytes) -> Callable[[bytes], bytes]:
        # ECB on single blocks is the primitive CCM is built from (the Pico's cryptolib too)
        encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()  # noqa: S305

        def encrypt_block(block: bytes) -> bytes:
            return encryptor.update(bytes(block))

        return encrypt_block


class PtyPort:
    """A pty in raw mode: the firmware holds the master end, a driver opens the slave path."""

    def __init__(self, link: Path | None = None) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master: int | None = master
        self._slave: int | None = slave  # kept open so the pty survives a driver closing it
        self.path = os.ttyname(slave)
        self.link = link
        if link is not None:
            tmp = link.with_name(link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.path)
            tmp.replace(link)

    @property
    def name(self) -> str:
        return str(self.link or self.path)

    def read(self) -> bytes:
        if self.master is None:
            return b""
        try:
            return os.read(self.master, _READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError:
            return b""  # EIO: nobody has the other end open right now

    def write(self, data: bytes) -> None:
        """Like a UART: bytes that do not fit the buffer are lost, never queued."""
        if self.master is None or not data:
            return
        with contextlib.suppress(OSError):
            os.write(self.master, data)

    def close(self) -> None:
        for fd in (self.master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self._slave = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()


class ShimBoard:
    """The firmware core with a board around it: boot, UART bytes, keys, relay, reboot."""

    def __init__(
        self,
        state: Path,
        *,
        lock_id: str = "reference",
        platform: Platform | None = None,
        pairing: bool = False,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.state = state
        self.lock_id = lock_id
        self.platform = platform or HostPlatform()
        self.say = say or (lambda text: None)
        state.mkdir(parents=True, exist_ok=True)
        self.lock = self._boot(pairing)

    def _boot(self, pairing: bool = False) -> Lock:
        return Lock(
            self.platform, str(self.state), self.lock_id, pairing=pairing, on_paired=self._paired
        )

    def _paired(self, confirmation: str) -> None:
        self.say(f"paired; confirmation code {confirmation}")

    def reboot(self) -> None:
        """Power-cycle: RAM (session, reply cache, unsent events, lockout) is gone."""
        self.lock = self._boot()

    def receive(self, data: bytes) -> bytes:
        return bytes(self.lock.receive(data))

    def poll(self) -> bytes:
        return bytes(self.lock.poll())

    def press(self, keys: str) -> list[str]:
        """Keys on the keypad; what the lock did for each completed entry."""
        said = []
        for key in keys:
            result = self.lock.key(key)
            if result is None:
                continue
            if result.unlocked:
                said.append(f"relay: open (slot {result.slot})")
            else:
                said.append(
                    f"keypad: {result.reason}" + (f" (slot {result.slot})" if result.slot else "")
                )
        return said

    def command(self, line: str) -> tuple[str, bool]:
        """A console line: (what to print, whether to quit)."""
        words = line.split()
        if not words:
            return "", False
        verb, args = words[0], words[1:]
        if verb == "pair":
            self.lock.start_pairing()
            return "pairing mode on (120 s)", False
        if verb == "manager":
            self.lock.start_manager()
            return "manager mode on: SLOT A CODE # programs, SLOT A # empties", False
        if verb == "keys" and len(args) == 1:
            return "\n".join(self.press(args[0])) or "(no entry completed)", False
        if verb == "enter" and len(args) == 1:
            return "\n".join(self.press("*" + args[0] + "#")), False
        if verb == "reboot":
            self.reboot()
            return "rebooted", False
        if verb == "status":
            lock = self.lock
            return (
                f"lock {lock.lock_id}: {len(lock.table.slots)} codes, "
                f"{'paired' if lock.pairing_key else 'not paired'}"
                f"{', pairing mode' if lock.pairing_mode else ''}",
                False,
            )
        if verb == "quit":
            return "", True
        return "commands: pair | manager | keys KEYS | enter CODE | reboot | status | quit", False


def _serve(board: ShimBoard, port: PtyPort, console: bool) -> None:
    inputs: list[int] = [port.master] if port.master is not None else []
    if console:
        inputs.append(sys.stdin.fileno())
    while True:
        due = board.lock.next_event_ms()
        timeout = 0.5 if due is None else max(due, 1) / 1000
        ready, _, _ = select.select(inputs, [], [], timeout)
        if port.master in ready:
            port.write(board.receive(port.read()))
        if console and sys.stdin.fileno() in ready:
            line = sys.stdin.readline()
            if not line:
                inputs.remove(sys.stdin.fileno())
                console = False
            else:
                text, stop = board.command(line)
                if text:
                    board.say(text)
                if stop:
                    return
        if not board.lock.link.deframer.partial:
            port.write(board.poll())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, required=True, help="the board's flash (a folder)")
    parser.add_argument("--id", default="reference", help="lock id (default: reference)")
    parser.add_argument("--pairing", action="store_true", help="start in pairing mode")
    parser.add_argument("--link", type=Path, help="a symlink to the pty (a stable path)")
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    board = ShimBoard(args.state, lock_id=args.id, pairing=args.pairing, say=say)
    port = PtyPort(args.link)
    signal.signal(signal.SIGTERM, stop)
    print(port.name, flush=True)
    say(
        f"reference firmware, lock {args.id!r}, on {port.name}"
        f"{' (pairing mode)' if board.lock.pairing_mode else ''}"
    )
    console = not sys.stdin.closed and (sys.stdin.isatty() or _is_pipe(sys.stdin.fileno()))
    try:
        _serve(board, port, console)
    except KeyboardInterrupt:
        pass
    finally:
        port.close()
    return 0


def _is_pipe(fd: int) -> bool:
    import stat

    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


if __name__ == "__main__":
    sys.exit(main())

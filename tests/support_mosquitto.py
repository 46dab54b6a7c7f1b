"""A real mosquitto broker for tests: loopback only, a free port, stop and restart on that port.

Tests that talk MQTT get a broker of their own; a broker restart in the middle of a test
is how a broker outage is simulated. Without the binary the test skips (fails in CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tests.support import free_port, require_binary

__all__ = ["Mosquitto", "mosquitto_broker"]

START_LIMIT = 10.0  # real seconds a broker may take to accept connections


class Mosquitto:
    """One mosquitto process with a config written to `workdir`; see `mosquitto_broker`."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        port: int | None = None,
        users: dict[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.users = users or {}
        self.tls = tls
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.config = workdir / f"mosquitto-{self.port}.conf"
        self._write_config()

    def _write_config(self) -> None:
        lines = [
            # run as whoever runs the tests: as root, mosquitto would otherwise switch to a
            # `mosquitto` user that cannot read the test's private files
            f"user {getpass.getuser()}",
            f"listener {self.port} {self.host}",
            "persistence false",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.users:
            passwords = self.workdir / "passwords"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls is not None:
            cert, key = self.tls
            lines += [f"certfile {cert}", f"keyfile {key}"]
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self) -> None:
        if self.running:
            raise RuntimeError("mosquitto is already running")
        self._log = (self.workdir / f"mosquitto-{self.port}.log").open("ab")
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1

    def _accepting(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            log = (self.workdir / f"mosquitto-{self.port}.log").read_text(errors="replace")
            raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {log[-800:]}")
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
            return True
        return False

    def _ready(self, deadline: float) -> bool:
        try:
            accepting = self._accepting()
        except RuntimeError:
            self.stop()
            raise
        if not accepting and time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"mosquitto did not listen on port {self.port}")
        return accepting

    def start(self) -> None:
        """Start and wait (bounded) until the port accepts connections."""
        self._spawn()
        deadline = time.monotonic() + START_LIMIT
        while not self._ready(deadline):
            time.sleep(0.01)

    async def astart(self) -> None:
        """`start` without blocking the event loop."""
        self._spawn()
        deadline = time.monotonic() + START_LIMIT
        while not self._ready(deadline):  # noqa: ASYNC110 - polling another process's port
            await asyncio.sleep(0.01)

    def stop(self) -> None:
        """Stop the broker (every client loses its connection)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    async def arestart(self) -> None:
        """Stop and start again on the same port (a broker outage)."""
        self.stop()
        await self.astart()


@contextlib.contextmanager
def mosquitto_broker(
    workdir: Path,
    *,
    users: dict[str, str] | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Mosquitto]:
    """A started broker in `workdir`, stopped on exit; skips (fails in CI) without mosquitto."""
    binary = require_binary("mosquitto", "apt-get install mosquitto")
    broker = Mosquitto(binary, workdir, users=users, tls=tls)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()

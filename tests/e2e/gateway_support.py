"""Running `keyslot serve` as a real process for end-to-end tests.

The gateway gets a TOML file with simulated locks (state in the test's directory) and
port 0; the port is read from its first line of output, the API key from the data
directory. Every wait is bounded.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0

LOCKS = {
    "Front door": "kwikset",
    "Back door": "nuki",
}


def write_config(directory: Path, *, extra: str = "", simulators: bool = False) -> Path:
    """A config with two in-process simulated locks (and optionally one on a serial pty)."""
    lines = ["[gateway]", 'data_dir = "data"', "shutdown_timeout = 10", 'log_level = "info"', ""]
    for name, profile in LOCKS.items():
        lock_id = name.split()[0].lower()
        state = directory / f"{lock_id}.lock"
        lines += [
            "[[locks]]",
            f'url = "sim://{profile}?id={lock_id}&state={state}"',
            f'name = "{name}"',
            "",
        ]
    if simulators:
        lines += ["[[simulators]]", 'profile = "split"', 'id = "office"', 'name = "Office"', ""]
    path = directory / "keyslot.toml"
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


class GatewayProcess:
    """`keyslot serve --config FILE --port 0` in a subprocess."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.data_dir = config.parent / "data"
        self.log_path = config.parent / "gateway.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.port = 0
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._log: IO[str] | None = None

    @property
    def api_key(self) -> str:
        return (self.data_dir / "api-key").read_text(encoding="utf-8").strip()

    def start(self, port: int = 0) -> GatewayProcess:
        self._log = self.log_path.open("a", encoding="utf-8")
        self._lines = queue.Queue()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keyslot.cli",
                "serve",
                "--config",
                str(self.config),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=self.env,
        )
        assert self.process.stdout is not None
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise AssertionError(f"the gateway did not start in time; log:\n{self.log()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the gateway exited at start; log:\n{self.log()}")
            if "listening on " in line:
                self.url = line.rsplit("listening on ", 1)[1].strip()
                self.port = int(self.url.rsplit(":", 1)[1])
                return self

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            raise AssertionError(f"the gateway did not stop in time; log:\n{self.log()}") from None
        self._close_files()
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self._close_files()

    def _close_files(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def eventually(check: Callable[[], T | None], *, timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")

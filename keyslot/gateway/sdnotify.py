"""systemd's notify protocol (READY, STATUS, STOPPING, WATCHDOG) over `$NOTIFY_SOCKET`.

A datagram to a unix socket is all it takes, so no dependency: under `Type=notify` the
unit becomes active when the gateway listens, and `WatchdogSec=` restarts a gateway whose
event loop hangs. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from keyslot.protocol.clock import Clock

__all__ = ["Notifier"]

log = logging.getLogger("keyslot.gateway.systemd")


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if address.startswith("@"):  # abstract namespace
            self._address = b"\0" + address[1:].encode()
        elif address.startswith("/"):
            self._address = address
        self.watchdog_interval: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send `KEY=value` lines; False if there is no socket or it cannot be reached."""
        if self._address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(fields).encode("utf-8"))
        except OSError as exc:
            log.warning("cannot notify systemd: %s", exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *((f"STATUS={status}",) if status else ()))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def start_watchdog(self, clock: Clock) -> None:
        """Ping at half the watchdog interval while the event loop runs."""
        if self.watchdog_interval is None or self._address is None:
            return
        interval = self.watchdog_interval / 2

        async def ping() -> None:
            while True:
                self.notify("WATCHDOG=1")
                await clock.sleep(interval)

        self._task = asyncio.create_task(ping(), name="systemd-watchdog")

    async def stop_watchdog(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

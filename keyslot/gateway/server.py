"""Running the gateway: store, service, locks, reconciler and uvicorn, started and stopped in
the right order.

Start: open the store (group commit: an answer waits for one fsync shared by the
requests of its moment), make the first API key if there is none, start simulator
front-ends, register the configured locks, start the reconciler, then listen. Stop
(SIGTERM/SIGINT): refuse new API calls with 503 and end event streams, let calls in
flight finish, stop the reconciler (each lock finishes the operation it is doing), close
the simulators and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from keyslot.backup_codes import POOL_SIZE_SETTING
from keyslot.gateway.app import Gateway
from keyslot.gateway.config import GatewayConfig, LockConfig, WebhookConfig
from keyslot.gateway.sdnotify import Notifier
from keyslot.gateway.simulators import SimulatorHost
from keyslot.protocol.clock import Clock, SystemClock
from keyslot.protocol.lock_url import url_scheme
from keyslot.protocol.slots import KeyslotError

__all__ = ["API_KEY_FILE", "ServeError", "bootstrap_api_key", "register_locks", "serve"]

log = logging.getLogger("keyslot.gateway")

API_KEY_FILE = "api-key"


class ServeError(KeyslotError):
    """The gateway cannot start (address in use, unusable data directory)."""

    code = "serve_failed"


def bootstrap_api_key(store: Any, config: GatewayConfig, data_dir: Path) -> str | None:
    """At first start (no key anywhere) create one and keep it in a 0600 file; else None."""
    if config.api_keys or store.api_keys.all():
        return None
    _, key = store.api_keys.create("default")
    path = data_dir / API_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    os.chmod(path, 0o600)
    return str(key)


def register_locks(service: Any, locks: list[LockConfig]) -> list[str]:
    """Add each configured lock the store does not know yet and give it the backup pool
    size the config names; returns their device ids. A lock whose `device_id` the store
    knows under another URL has moved: the device takes the new URL and keeps its codes,
    settings and what was learnt about the lock."""
    ids = []
    devices = service.store.devices
    for lock in locks:
        record = devices.by_url(lock.url)
        known = None
        if record is None and lock.device_id is not None:
            known = devices.get(lock.device_id)
        if known is not None:
            record = devices.put(replace(known, lock_url=lock.url, transport=url_scheme(lock.url)))
            log.info("device %s moved to %s", known.device_id, record.redacted_url)
        elif record is None:
            record = service.add_device(lock_url=lock.url, name=lock.name, device_id=lock.device_id)
        size = lock.backup_access_code_pool_size
        if size is not None and record.settings.get(POOL_SIZE_SETTING) != size:
            service.set_backup_access_code_pool(device_id=record.device_id, size=size)
        ids.append(record.device_id)
    return ids


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it a response written in two parts waits
    # for the client's delayed ACK (about 40 ms per request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(
                f"{host}:{port} is already in use; stop the other server or pass --port"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _make_server(config: Any, gateway: Gateway, on_started: Callable[[], None]) -> Any:
    import uvicorn

    class GatewayServer(uvicorn.Server):
        """uvicorn that drains the gateway first on a signal and does not re-raise it."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon_threadsafe(gateway.begin_shutdown)
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_started()

    return GatewayServer(config)


def serve(config: GatewayConfig) -> int:
    return asyncio.run(_serve(config, SystemClock()))


async def _serve(config: GatewayConfig, clock: Clock) -> int:
    import uvicorn

    from keyslot.service import Service
    from keyslot.store import Store

    data_dir = config.data_dir.expanduser()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ServeError(f"cannot create the data directory {data_dir}: {exc.strerror}") from None
    sock = _listen(config.host, config.port)
    notifier = Notifier()
    store = Store.open(data_dir, clock=clock, group_commit=True)
    simulators = SimulatorHost(data_dir / "simulators", clock=clock)
    try:
        new_key = bootstrap_api_key(store, config, data_dir)
        service = Service(store, clock=clock)
        sim_locks = await simulators.start(config.simulators, store)
        register_locks(service, [*config.locks, *sim_locks])
        await store.durable()  # the first API key and the locks, before anyone is told
        from keyslot.gateway.locks import LockRuntime

        runtime = LockRuntime(service, clock=clock, transport_caps=config.transport_caps)
        port = sock.getsockname()[1]
        gateway = Gateway(
            service,
            clock=clock,
            config=config,
            keypads=runtime.keypad_finder(simulators),
            on_startup=[runtime.start],
            on_shutdown=[runtime.stop, simulators.aclose],
        )
        gateway.context.extras["public_url"] = f"http://{_url_host(config.host)}:{port}"
        for index, hook in enumerate(config.webhooks, 1):
            gateway.add_webhook(hook, data_dir / f"webhook-{index}.cursor")
        for stored in store.webhooks.all():
            hook = WebhookConfig(
                url=stored.url, secret=stored.secret, event_types=stored.event_types
            )
            gateway.add_webhook(hook, data_dir / f"webhook-{stored.webhook_id}.cursor")

        def started() -> None:
            base = f"http://{_url_host(config.host)}:{port}"
            print(f"keyslot gateway listening on {base}", flush=True)
            if new_key is not None:
                print(
                    f"created the first API key (shown once, also saved in "
                    f"{data_dir / API_KEY_FILE}):\n  {new_key}\n"
                    f"dashboard: {base}/#key={new_key}",
                    flush=True,
                )
            else:
                print(f"dashboard: {base}/ (sign in with an API key)", flush=True)
            notifier.ready(f"listening on {base}")
            notifier.start_watchdog(clock)

        uv_config = uvicorn.Config(
            gateway,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=max(1, int(config.shutdown_timeout)),
            timeout_keep_alive=5,
            server_header=False,
            date_header=False,
        )
        server = _make_server(uv_config, gateway, started)
        await server.serve(sockets=[sock])
        notifier.stopping()
        await notifier.stop_watchdog()
        return 0 if server.started else 1
    finally:
        sock.close()
        store.close()


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):  # noqa: S104 - only for printing a URL
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host

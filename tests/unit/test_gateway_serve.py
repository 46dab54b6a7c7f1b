"""`keyslot serve` around the app: systemd notifications, the first API key, start-up errors."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyslot.gateway.config import GatewayConfig, LockConfig
from keyslot.gateway.sdnotify import Notifier
from keyslot.gateway.server import ServeError, _listen, bootstrap_api_key, register_locks
from keyslot.protocol.clock import ManualClock
from keyslot.service import Service
from keyslot.store import Store


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def test_notifier_sends_ready_status_and_stopping(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("listening")
    assert sock.recv(4096) == b"READY=1\nSTATUS=listening"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_notifier_without_systemd_does_nothing() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_interval is None


def test_notifier_reports_an_unreachable_socket(tmp_path: Path) -> None:
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready()


async def test_watchdog_pings_at_half_the_interval(
    notify_socket: tuple[str, socket.socket], clock: ManualClock
) -> None:
    path, sock = notify_socket
    sock.setblocking(False)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier(env)
    assert notifier.watchdog_interval == 4.0
    notifier.start_watchdog(clock)
    try:
        await asyncio.sleep(0)
        assert sock.recv(64) == b"WATCHDOG=1"
        await clock.run_for(2.0, step=0.5)
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        await notifier.stop_watchdog()


def test_watchdog_for_another_process_is_ignored() -> None:
    env = {"NOTIFY_SOCKET": "/nowhere", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    assert Notifier(env).watchdog_interval is None


def test_first_api_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        key = bootstrap_api_key(store, GatewayConfig(), tmp_path)
        assert key is not None
        assert key.startswith("seam_")
        saved = tmp_path / "api-key"
        assert saved.read_text().strip() == key
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert store.api_keys.verify(key)
        assert bootstrap_api_key(store, GatewayConfig(), tmp_path) is None
    finally:
        store.close()


def test_locks_are_registered_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        service = Service(store)
        locks = [LockConfig("sim://kwikset?id=a", "A"), LockConfig("sim://nuki?id=b", "B")]
        first = register_locks(service, locks)
        assert register_locks(service, locks) == first
        assert [d.name for d in store.devices.all()] == ["A", "B"]
    finally:
        store.close()


def test_an_address_in_use_is_a_clear_error() -> None:
    sock = _listen("127.0.0.1", 0)
    try:
        with pytest.raises(ServeError, match="already in use"):
            _listen("127.0.0.1", sock.getsockname()[1])
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        "from keyslot.cli import main\n"
        "try:\n"
        f"    rc = main({list(args)!r})\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        "print('heavy:', sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
    )


@pytest.mark.parametrize("args", [("--help",), ("serve", "--help")])
def test_help_does_not_import_the_web_stack(args: tuple[str, ...], tmp_path: Path) -> None:
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


def test_a_bad_config_exits_2_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[gateway]\nport = 'eighty'\n")
    result = _run("serve", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "port must be an integer" in result.stderr
    assert str(config) in result.stderr

"""`keyslot sim ble` over a real HCI transport (bumble's TCP one, to a bench radio emulated in
this process), and the `keyslot scan` command."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from keyslot.commands import scan as scan_command
from keyslot.drivers import ble
from keyslot.drivers.ble_bumble_backend import BumbleClientBackend, BumbleRadio
from keyslot.drivers.ble_scan import FoundLock
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockUnavailable, SlotEntry
from keyslot.simulator import ble_peripheral
from tests.conformance.targets.ble import MemoryKeys
from tests.support import free_port

REAL_LIMIT = 5.0
ADDRESS = "C0:BE:4C:00:00:07"


def sim_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    ble_peripheral.configure_cli(parser)
    return parser.parse_args(list(argv))


async def started(task: asyncio.Task[int], radio: BumbleRadio) -> None:
    """Wait until the simulated lock is heard on the air."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REAL_LIMIT
    while loop.time() < deadline:
        assert not task.done(), task
        found = await ble.scan(
            clock=_Real(), timeout=0.1, limit=1, ble_scanner_backend=radio.scanner_backend
        )
        if found:
            return
    raise AssertionError("the simulated lock never advertised")


class _Real:
    """A real-time clock (scan waits on it)."""

    def now(self) -> Any:
        from keyslot.protocol.clock import utcnow

        return utcnow()

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture
async def bench() -> AsyncIterator[tuple[str, BumbleRadio]]:
    """A radio reachable over HCI-on-TCP (as a USB dongle would be) and a central near it."""
    link = LocalLink()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    transport = await open_tcp_server_transport_with_socket(sock)
    Controller("bench-radio", host_source=transport.source, host_sink=transport.sink, link=link)
    radio = await BumbleRadio.on_link(link)
    try:
        yield f"tcp-client:127.0.0.1:{port}", radio
    finally:
        await radio.close()
        await transport.close()
        server = transport.server  # type: ignore[attr-defined]
        server.close()
        await server.wait_closed()
        sock.close()


async def test_sim_ble_serves_a_lock_on_an_hci_transport(
    bench: tuple[str, BumbleRadio], tmp_path: Path, clock: ManualClock
) -> None:
    spec, radio = bench
    state, keys_file = tmp_path / "lock.state", tmp_path / "lock.keys"
    args = sim_args(
        "--profile", "nuki", "--transport", spec, "--address", ADDRESS, "--pairing",
        "--state", str(state), "--keys", str(keys_file),
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.ensure_future(ble_peripheral.serve_cli(args, stop=stop))
    keys = MemoryKeys()
    context = {"ble_device": radio.ble_device(ADDRESS), "ble_client_backend": BumbleClientBackend}
    try:
        await started(task, radio)
        url = f"ble://{ADDRESS}"
        code = await asyncio.wait_for(ble.pair(url, keys, clock, **context), REAL_LIMIT)
        assert len(code) == 6
        lock = await ble.open_url(ble.parse_ble_url(url), clock=clock, keys=keys, **context)
        try:
            slot = await asyncio.wait_for(lock.write_slot(2, SlotEntry("246813", "Bench")), 5)
            assert slot.name == "Bench"
        finally:
            await lock.aclose()
    finally:
        stop.set()
        assert await asyncio.wait_for(task, REAL_LIMIT) == 0
    # the lock kept its codes (encrypted) and the paired host (encrypted)
    assert b"246813" not in state.read_bytes()
    assert b"246813" not in keys_file.read_bytes()
    assert list(ble_peripheral.load_keys(keys_file)) == [
        ble.PairedKey.from_bytes(keys.keys[url]).key_id
    ]


def test_sim_ble_reports_a_radio_it_cannot_open(capsys: pytest.CaptureFixture[str]) -> None:
    args = sim_args("--transport", f"tcp-client:127.0.0.1:{free_port()}")
    assert ble_peripheral.run_cli(args) == 1
    assert "cannot use tcp-client" in capsys.readouterr().err


def test_sim_ble_reports_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    args = sim_args("--profile", "no-such-lock", "--transport", "usb:0")
    assert ble_peripheral.run_cli(args) == 2
    assert "no-such-lock" in capsys.readouterr().err


FOUND = [
    FoundLock("C0:00:00:00:00:01", "keyslot front", -48, pairing=True),
    FoundLock("C0:00:00:00:00:02", None, -71, pairing=False),
]


def test_scan_report_table_and_json() -> None:
    out = io.StringIO()
    scan_command.report(FOUND, as_json=False, out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["LOCK", "RSSI", "PAIRING", "NAME"]
    assert lines[1].split() == ["ble://C0:00:00:00:00:01", "-48", "dBm", "yes", "keyslot", "front"]
    assert lines[2].split() == ["ble://C0:00:00:00:00:02", "-71", "dBm"]
    out = io.StringIO()
    scan_command.report(FOUND, as_json=True, out=out)
    assert json.loads(out.getvalue())[0] == {
        "url": "ble://C0:00:00:00:00:01",
        "name": "keyslot front",
        "rssi": -48,
        "pairing": True,
    }
    out = io.StringIO()
    scan_command.report([], as_json=False, out=out)
    assert "no keyslot locks heard" in out.getvalue()


def scan_cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    scan_command.configure(parser)
    return parser.parse_args(list(argv))


def test_scan_command_runs_a_scan_and_prints_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: dict[str, Any] = {}

    async def fake_scan(**kwargs: Any) -> list[FoundLock]:
        asked.update(kwargs)
        return FOUND

    monkeypatch.setattr(ble, "scan", fake_scan)
    assert scan_command.run(scan_cli("--timeout", "2.5", "--limit", "3")) == 0
    assert asked["timeout"] == 2.5
    assert asked["limit"] == 3
    assert "ble://C0:00:00:00:00:01" in capsys.readouterr().out


def test_scan_command_reports_a_missing_adapter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def no_adapter(**kwargs: Any) -> list[FoundLock]:
        raise LockUnavailable("cannot scan for locks: no Bluetooth adapter")

    monkeypatch.setattr(ble, "scan", no_adapter)
    assert scan_command.run(scan_cli()) == 1
    assert "no Bluetooth adapter" in capsys.readouterr().err
    assert scan_command.run(scan_cli("--timeout", "0")) == 2

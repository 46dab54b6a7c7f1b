"""`keyslot doctor`: each precondition is broken for real and the finding names it and its fix.

Permission checks run in a child process as `nobody` when the tests run as root (root may
open anything, so only an unprivileged user sees a missing permission).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keyslot.cli import main
from keyslot.doctor import (
    CheckResult,
    Status,
    check_clock,
    check_data_dir,
    check_dependency,
    check_store_key,
    user_name,
)
from keyslot.doctor_plan import DoctorSetup, plan_locks, run_doctor
from keyslot.doctor_serial import check_serial_console, check_serial_device, check_tcp
from keyslot.store import Store
from keyslot.store.crypto import ENV_KEY
from tests.support import free_port

NOBODY = 65534
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def statuses(results: list[CheckResult]) -> list[str]:
    return [r.status.value for r in results]


def only(results: list[CheckResult], status: Status) -> CheckResult:
    matching = [r for r in results if r.status is status]
    assert len(matching) == 1, results
    return matching[0]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory that `nobody` may enter (pytest's own tmp_path is private to root)."""
    with tempfile.TemporaryDirectory(prefix="keyslot-doctor-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


def unprivileged(check: Callable[[], list[CheckResult] | CheckResult]) -> list[dict[str, Any]]:
    """Run `check` as `nobody` in a forked child when the tests run as root; its findings.

    Root may open anything, so only an ordinary user sees a missing permission.
    """
    if os.geteuid() != 0:
        found = check()
        return [r.to_dict() for r in (found if isinstance(found, list) else [found])]
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # the child only checks and exits: threads do not matter
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: drop to nobody, check, report, and leave without cleanup
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            found = check()
            results = found if isinstance(found, list) else [found]
            os.write(write_end, json.dumps([r.to_dict() for r in results]).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
    _, code = os.waitpid(pid, 0)
    assert code == 0, "the unprivileged check failed"
    parsed: list[dict[str, Any]] = json.loads(data)
    return parsed


# --------------------------------------------------------------------------- serial


def test_a_serial_device_without_permission_fails_with_the_group_fix(open_dir: Path) -> None:
    master, slave = os.openpty()
    try:
        device = Path(os.ttyname(slave))
        os.fchmod(slave, 0o600)
        if os.geteuid() != 0:
            os.fchmod(slave, 0o000)
        (finding,) = unprivileged(lambda: check_serial_device(device))
    finally:
        os.close(slave)
        os.close(master)
    assert finding["status"] == "fail"
    user, mode = ("nobody", "0600") if os.geteuid() == 0 else (user_name(), "0000")
    assert f"user {user} may not open {device}" in finding["message"]
    assert f"mode {mode}" in finding["message"]
    assert "udev rules" in finding["fix"]  # the group has no rw bits: a rule must set MODE


def test_a_serial_device_of_a_group_the_user_lacks_names_usermod(open_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the device to another user")
    master, slave = os.openpty()
    try:
        device = Path(os.ttyname(slave))
        os.fchown(slave, 0, 0)
        os.fchmod(slave, 0o660)
        (finding,) = unprivileged(lambda: check_serial_device(device))
    finally:
        os.close(slave)
        os.close(master)
    assert finding["status"] == "fail"
    assert finding["fix"].startswith("sudo usermod -aG root nobody")


def test_a_usable_serial_device_passes() -> None:
    master, slave = os.openpty()
    try:
        device = Path(os.ttyname(slave))
        results = check_serial_device(device)
    finally:
        os.close(slave)
        os.close(master)
    assert statuses(results) == ["ok"]


def test_a_missing_serial_device_points_at_by_id(tmp_path: Path) -> None:
    (finding,) = check_serial_device(tmp_path / "ttyUSB9")
    assert finding.status is Status.FAIL
    assert "does not exist" in finding.message
    assert "/dev/serial/by-id/" in (finding.fix or "")


def test_a_regular_file_is_not_a_serial_device(tmp_path: Path) -> None:
    path = tmp_path / "ttyUSB0"
    path.write_text("")
    (finding,) = check_serial_device(path)
    assert finding.status is Status.FAIL
    assert "not a character device" in finding.message


def test_a_serial_device_held_by_another_process_is_a_warning() -> None:
    master, slave = os.openpty()
    holder = subprocess.Popen(["sleep", "30"], stdin=slave)
    try:
        device = Path(os.ttyname(slave))
        results = check_serial_device(device, watch=("sleep",))
    finally:
        holder.kill()
        holder.wait(timeout=10)
        os.close(slave)
        os.close(master)
    warning = only(results, Status.WARN)
    assert f"already open in sleep (pid {holder.pid})" in warning.message
    assert "ID_MM_DEVICE_IGNORE" in (warning.fix or "")


def test_the_kernel_console_on_the_uart_fails(tmp_path: Path) -> None:
    serial0 = tmp_path / "serial0"
    serial0.symlink_to("/dev/ttyAMA0")
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("console=serial0,115200 console=tty1 root=PARTUUID=1 rootwait\n")
    finding = check_serial_console(serial0, cmdline)
    assert finding is not None
    assert finding.status is Status.FAIL
    assert "do_serial_cons" in (finding.fix or "")
    cmdline.write_text("console=tty1 root=PARTUUID=1 rootwait\n")
    assert check_serial_console(serial0, cmdline) is None
    assert check_serial_console(Path("/dev/ttyUSB0"), cmdline) is None


def test_a_tcp_serial_bridge_that_does_not_answer_fails() -> None:
    port = free_port()
    finding = check_tcp("127.0.0.1", port, timeout=2)
    assert finding.status is Status.FAIL
    assert f"nothing accepts connections on 127.0.0.1:{port}" in finding.message
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert check_tcp("127.0.0.1", server.getsockname()[1]).status is Status.OK


# --------------------------------------------------------------------------- data directory


def test_a_data_dir_the_user_cannot_write_fails(open_dir: Path) -> None:
    data = open_dir / "data"
    data.mkdir(mode=0o755)
    if os.geteuid() != 0:
        data.chmod(0o555)
    (finding,) = unprivileged(lambda: check_data_dir(data))
    assert finding["status"] == "fail"
    assert f"cannot write to {data}" in finding["message"]
    assert "sudo chown -R" in finding["fix"]


def test_a_data_dir_that_cannot_be_created_fails(open_dir: Path) -> None:
    parent = open_dir / "parent"
    parent.mkdir(mode=0o755)
    if os.geteuid() != 0:
        parent.chmod(0o555)
    (finding,) = unprivileged(lambda: check_data_dir(parent / "keyslot"))
    assert finding["status"] == "fail"
    assert "cannot create it" in finding["message"]
    assert finding["fix"].startswith("sudo install -d -m 0700")


def test_data_dir_findings(tmp_path: Path) -> None:
    (fresh,) = check_data_dir(tmp_path / "new")
    assert fresh.status is Status.OK
    assert "creates it at first start" in fresh.message
    not_dir = tmp_path / "file"
    not_dir.write_text("")
    assert check_data_dir(not_dir)[0].status is Status.FAIL
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    results = check_data_dir(shared)
    assert statuses(results) == ["ok", "warn"]
    assert results[1].fix == f"chmod 700 {shared}"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    full = check_data_dir(private, min_free=2**62)
    assert statuses(full) == ["ok", "warn"]
    assert "MiB free" in full[1].message


# --------------------------------------------------------------------------- store key


def test_a_key_file_readable_by_others_fails(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    key_file = tmp_path / "store.key"
    key_file.chmod(0o644)
    finding = check_store_key(tmp_path, environ={})
    assert finding.status is Status.FAIL
    assert "mode 0644" in finding.message
    assert finding.fix == f"chmod 600 {key_file}"
    key_file.chmod(0o600)
    good = check_store_key(tmp_path, environ={})
    assert good.status is Status.OK
    assert "opens" in good.message


def test_a_key_that_does_not_open_the_store_fails(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    (tmp_path / "store.key").write_text("ab" * 32 + "\n")
    finding = check_store_key(tmp_path, environ={})
    assert finding.status is Status.FAIL
    assert "written with another key" in finding.message


def test_a_store_without_its_key_fails(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    (tmp_path / "store.key").unlink()
    finding = check_store_key(tmp_path, environ={})
    assert finding.status is Status.FAIL
    assert "cannot be decrypted" in finding.message
    assert "keyslot restore" in (finding.fix or "")


def test_a_malformed_key_fails_and_an_env_key_is_used(tmp_path: Path) -> None:
    with Store.open(tmp_path):
        pass
    key_hex = (tmp_path / "store.key").read_text().strip()
    (tmp_path / "store.key").write_text("not a key\n")
    assert "is not a store key" in check_store_key(tmp_path, environ={}).message
    from_env = check_store_key(tmp_path, environ={ENV_KEY: key_hex})
    assert from_env.status is Status.OK
    assert from_env.message.startswith(f"${ENV_KEY}")


def test_no_key_yet_is_fine(tmp_path: Path) -> None:
    assert check_store_key(tmp_path, environ={}).status is Status.OK


# --------------------------------------------------------------------------- clock


def test_a_clock_before_2024_fails() -> None:
    finding = check_clock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC), timesync_flag=None)
    assert finding.status is Status.FAIL
    assert "1970-01-01" in finding.message
    assert "timedatectl set-ntp true" in (finding.fix or "")


def test_a_clock_before_the_install_date_fails() -> None:
    installed = datetime(2026, 2, 1, tzinfo=UTC)
    finding = check_clock(
        datetime(2025, 6, 1, tzinfo=UTC), not_before=installed, timesync_flag=None
    )
    assert finding.status is Status.FAIL
    assert "before this keyslot was built or installed (2026-02-01)" in finding.message


def test_a_clock_far_in_the_future_is_a_warning() -> None:
    finding = check_clock(NOW + timedelta(days=365 * 30), not_before=NOW, timesync_flag=None)
    assert finding.status is Status.WARN
    assert "more than ten years" in finding.message


def test_an_unsynchronized_timesyncd_is_a_warning(tmp_path: Path) -> None:
    flag = tmp_path / "timesync" / "synchronized"
    flag.parent.mkdir()
    assert check_clock(NOW, timesync_flag=flag).status is Status.WARN
    flag.touch()
    assert check_clock(NOW, not_before=NOW, timesync_flag=flag).status is Status.OK


# --------------------------------------------------------------------------- dependencies and plan


def test_a_missing_extra_names_the_pip_command() -> None:
    finding = check_dependency("zwave", find=lambda name: None if name == "aiomqtt" else object())
    assert finding.status is Status.FAIL
    assert "aiomqtt" in finding.message
    assert finding.fix == "pip install 'keyslot[zwave]' in keyslot's virtual environment"


def test_the_plan_checks_each_shared_resource_once() -> None:
    plan = plan_locks(
        [
            "serial:///dev/ttyUSB0",
            "serial:///dev/ttyUSB0?baud=9600",
            "ble://AA:BB:CC:DD:EE:FF",
            "zwave+mqtt://u:p@broker:1883/5",
            "zwave+mqtt://u:p@broker:1883/6?node_topic=hall/front",
            "socket://127.0.0.1:7001",
            "sim://kwikset?id=a",
            "sim://nonsuch",
            "carrier-pigeon://loft",
        ]
    )
    assert plan.serial_devices == [Path("/dev/ttyUSB0")]
    assert plan.ble
    assert plan.tcp == [("127.0.0.1", 7001)]
    (broker,) = plan.brokers.values()
    assert broker.nodes == {5: ("nodeID_5", "5"), 6: ("hall/front",)}
    assert [p.check for p in plan.problems] == ["lock sim://nonsuch", "lock carrier-pigeon://loft"]


def test_a_lock_url_password_never_shows_in_a_finding() -> None:
    plan = plan_locks(["zwave+mqtt://user:hunter22@broker:1883/notanode"])
    (problem,) = plan.problems
    assert "hunter22" not in problem.check + problem.message


async def test_run_doctor_puts_the_setup_checks_together(tmp_path: Path) -> None:
    port = free_port()
    setup = DoctorSetup(
        data_dir=tmp_path / "data",
        lock_urls=[f"socket://127.0.0.1:{port}"],
        now=NOW,
        timesync_flag=None,
        environ={},
        timeout=2,
        euid=1000,
    )
    results = await run_doctor(setup)
    assert [r.check for r in results] == [
        "locks",
        "python packages [serial]",
        "data directory",
        "store key",
        "clock",
        f"socket 127.0.0.1:{port}",
    ]
    assert statuses(results) == ["ok", "ok", "ok", "ok", "ok", "fail"]


async def test_running_as_root_is_a_warning(tmp_path: Path) -> None:
    setup = DoctorSetup(data_dir=tmp_path, now=NOW, timesync_flag=None, environ={}, euid=0)
    first = (await run_doctor(setup))[0]
    assert (first.check, first.status) == ("user", Status.WARN)
    assert "sudo -u keyslot" in (first.fix or "")


def test_the_command_exits_0_when_nothing_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    assert main(["doctor", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert ", 0 failed," in out.splitlines()[0]
    assert "ok    data directory" in out


def test_the_command_reports_a_broken_config_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "keyslot.toml"
    config.write_text('[gateway]\nport = "eighty"\n')
    assert main(["doctor", "--config", str(config), "--data-dir", str(tmp_path / "d")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  config" in out
    assert "[gateway] port must be an integer" in out
    assert "fix: fix the file" in out


def test_the_command_checks_the_locks_of_a_config_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = tmp_path / "keyslot.toml"
    config.write_text(
        f'[gateway]\ndata_dir = "data"\n\n[[locks]]\nurl = "zwave+mqtt://127.0.0.1:{port}/7"\n'
    )
    assert main(["doctor", "--config", str(config), "--json", "--timeout", "2"]) == 1
    findings = json.loads(capsys.readouterr().out)
    by_check = {f["check"]: f for f in findings}
    assert by_check["config"]["status"] == "ok"
    assert by_check["data directory"]["message"].startswith(str(tmp_path / "data"))
    assert by_check["python packages [gateway]"]["status"] == "ok"
    broker = by_check[f"mqtt 127.0.0.1:{port}"]
    assert broker["status"] == "fail"
    assert f"no MQTT broker answers on 127.0.0.1:{port}" in broker["message"]
    assert "mosquitto" in broker["fix"]

"""The shipped systemd unit and sysusers file pass systemd's own checks.

`systemd-analyze verify` insists that ExecStart names an existing program, so the unit is
checked as a copy whose ExecStart points at this environment's `keyslot`.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_binary

SYSTEMD = Path(__file__).resolve().parents[2] / "hardware" / "systemd"
UNIT = SYSTEMD / "keyslot.service"
SYSUSERS = SYSTEMD / "keyslot.sysusers"
INSTALLED = "/opt/keyslot/.venv/bin/keyslot"


def keyslot_binary() -> str:
    beside_python = Path(sys.executable).parent / "keyslot"
    found = str(beside_python) if beside_python.exists() else shutil.which("keyslot")
    if found is None:
        pytest.fail("the keyslot command is not installed in this environment (pip install -e .)")
    return found


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} serve " in text
    copy = tmp_path / "keyslot.service"
    copy.write_text(text.replace(INSTALLED, keyslot_binary()))
    return copy


def service_settings() -> dict[str, list[str]]:
    """Every key of [Service] with all its values (keys may repeat in a unit)."""
    settings: dict[str, list[str]] = {}
    section = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_the_unit_passes_systemd_analyze_verify(unit_copy: Path) -> None:
    analyze = require_binary("systemd-analyze", "apt-get install systemd")
    done = subprocess.run(
        [analyze, "verify", str(unit_copy)], capture_output=True, text=True, timeout=60, check=False
    )
    # unknown or misspelt keys are only warnings: none may mention the unit
    complaints = [line for line in done.stderr.splitlines() if unit_copy.name in line]
    assert done.returncode == 0, done.stderr
    assert complaints == []


def test_verify_would_catch_a_broken_unit(tmp_path: Path, unit_copy: Path) -> None:
    analyze = require_binary("systemd-analyze", "apt-get install systemd")
    broken = tmp_path / "broken.service"
    broken.write_text(unit_copy.read_text().replace("ProtectSystem=", "ProtectSystm="))
    done = subprocess.run(
        [analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Unknown key 'ProtectSystm'" in done.stderr


def test_the_unit_is_hardened(unit_copy: Path) -> None:
    analyze = require_binary("systemd-analyze", "apt-get install systemd")
    done = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=25", str(unit_copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_the_unit_says_what_the_gateway_needs() -> None:
    service = service_settings()
    expected = {
        "Type": ["notify"],
        "User": ["keyslot"],
        "StateDirectory": ["keyslot"],
        "StateDirectoryMode": ["0700"],
        "ProtectSystem": ["strict"],
        "Restart": ["on-failure"],
        "DevicePolicy": ["closed"],
        "SupplementaryGroups": ["dialout bluetooth"],
    }
    for key, values in expected.items():
        assert service.get(key) == values, key
    assert service["WatchdogSec"]
    assert "char-ttyUSB rw" in service["DeviceAllow"]
    assert "char-ttyACM rw" in service["DeviceAllow"]
    assert "PrivateDevices" not in service  # it would hide the serial adapters
    (exec_start,) = service["ExecStart"]
    assert "--data-dir %S/keyslot" in exec_start


def test_the_unit_file_is_plain_ini() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser.sections() == ["Unit", "Service", "Install"]
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_sysusers_makes_the_user_and_its_groups(tmp_path: Path) -> None:
    sysusers = require_binary("systemd-sysusers", "apt-get install systemd")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    done = subprocess.run(
        [sysusers, f"--root={root}", str(SYSUSERS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    passwd = (root / "etc" / "passwd").read_text()
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (root / "etc" / "group").read_text().splitlines()
    }
    assert passwd.startswith("keyslot:x:")
    assert ":/var/lib/keyslot:/usr/sbin/nologin" in passwd
    assert "keyslot" in groups["dialout"]
    assert "keyslot" in groups["bluetooth"]

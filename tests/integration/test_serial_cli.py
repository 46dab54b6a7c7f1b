"""`keyslot sim serial`, `keyslot pair` and `keyslot bench`, each in its own process, as a
person at a bench would run them."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import require_binary

KEYSLOT = [sys.executable, "-m", "keyslot.cli"]


@pytest.fixture
def simulated_lock(tmp_path: Path) -> Iterator[str]:
    """A nuki lock in pairing mode in another process; yields its pty path."""
    process = subprocess.Popen(
        [
            *KEYSLOT,
            "sim",
            "serial",
            "--profile",
            "nuki",
            "--pairing",
            "--state",
            str(tmp_path / "lock"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the simulator printed no pty path"
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/"), path
        yield path
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def keyslot(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEYSLOT_DATA_DIR": str(data)}
    return subprocess.run(
        [*KEYSLOT, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_sim_pair_and_bench_across_processes(simulated_lock: str, tmp_path: Path) -> None:
    require_binary("python3", "apt-get install python3")
    data = tmp_path / "store"
    url = f"serial://{simulated_lock}"
    paired = keyslot("pair", url, "--data-dir", str(data), data=data)
    assert paired.returncode == 0, paired.stderr
    assert "confirmation code:" in paired.stdout
    assert (tmp_path / "lock.serial-pairing").exists()  # the lock keeps its key, encrypted
    assert b"pairing_key" not in (tmp_path / "lock.serial-pairing").read_bytes()

    again = keyslot("pair", url, "--data-dir", str(data), data=data)
    assert again.returncode == 1
    assert "pairing mode" in again.stderr

    report = tmp_path / "report"
    checks = "write_then_read_back or capabilities or duplicate_code or names_as"
    bench = keyslot(
        "bench",
        "--lock",
        url,
        "--report",
        str(report),
        "-k",
        checks,
        "--data-dir",
        str(data),
        data=data,
    )
    assert bench.returncode == 0, bench.stdout + bench.stderr
    result = json.loads((report / "bench-report.json").read_text())
    assert result["passed"] == 4
    assert result["failed"] == 0
    names = {c["name"] for c in result["checks"]}
    assert names == {
        "test_write_then_read_back",
        "test_capabilities_are_sane",
        "test_duplicate_code_refused",
        "test_names_as_the_lock_shows_them",
    }
    assert all(c["seconds"] >= 0 for c in result["checks"])
    assert "| test_write_then_read_back | passed |" in (report / "bench-report.md").read_text()
    assert "4/4" in bench.stderr  # the progress bar reached the end


def test_bench_without_the_key_fails_clearly(simulated_lock: str, tmp_path: Path) -> None:
    data = tmp_path / "store"
    report = tmp_path / "report"
    bench = keyslot(
        "bench",
        "--lock",
        f"serial://{simulated_lock}",
        "--report",
        str(report),
        "-k",
        "write_then_read_back",
        "--data-dir",
        str(data),
        data=data,
    )
    assert bench.returncode == 1
    assert "not ready for the bench" in bench.stderr
    assert "keyslot pair serial://" in bench.stderr
    assert not report.exists()

"""`keyslot locks`, `keyslot codes` and `keyslot keys` on a local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyslot.cli import main
from keyslot.store import Store


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KEYSLOT_STORE_KEY", raising=False)
    return tmp_path / "data"


def run(data: Path, *argv: str) -> int:
    return main([argv[0], "--data-dir", str(data), *argv[1:]])


def add_lock(data: Path, capsys: pytest.CaptureFixture[str], url: str, name: str) -> str:
    assert run(data, "locks", "add", url, "--name", name) == 0
    return capsys.readouterr().out.strip()


def test_locks_add_list_remove(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device_id = add_lock(data, capsys, "sim://kwikset?id=front", "Front")
    add_lock(data, capsys, "zwave+mqtt://user:s3cret@broker:1883/5", "Back")
    assert run(data, "locks", "list") == 0
    out = capsys.readouterr().out
    assert device_id in out
    assert "Front" in out
    assert "s3cret" not in out
    assert "user:***@broker" in out
    assert run(data, "locks", "list", "--json") == 0
    devices = json.loads(capsys.readouterr().out)
    assert [d["display_name"] for d in devices] == ["Front", "Back"]
    assert run(data, "locks", "add", "sim://kwikset?id=front") == 1
    assert "already" in capsys.readouterr().err
    assert run(data, "locks", "remove", "Front") == 0
    assert device_id in capsys.readouterr().out
    assert run(data, "locks", "remove", "Front") == 1
    assert "no single lock" in capsys.readouterr().err
    assert run(data, "locks", "add", "ftp://nowhere") == 1
    assert "not a lock URL" in capsys.readouterr().err


def test_codes_create_list_get_delete(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    add_lock(data, capsys, "sim://kwikset?id=front", "Front")
    assert run(data, "codes", "create", "--lock", "Front", "--name", "Guest", "--code", "2580") == 0
    out = capsys.readouterr().out
    assert "Guest" in out
    assert "2580" not in out
    assert "****" in out
    assert run(data, "codes", "list", "--show-codes") == 0
    out = capsys.readouterr().out
    assert "2580" in out
    assert run(data, "codes", "list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["code"] == "****"
    assert listed["status"] == "setting"
    access_code_id = listed["access_code_id"]
    assert run(data, "codes", "get", access_code_id, "--json", "--show-codes") == 0
    assert json.loads(capsys.readouterr().out)["code"] == "2580"
    assert run(data, "codes", "create", "--lock", "Front", "--code", "2580") == 1
    assert "already uses this code" in capsys.readouterr().err
    assert run(data, "codes", "delete", access_code_id) == 0
    assert "deleted" in capsys.readouterr().out  # never reached the lock: gone at once
    assert run(data, "codes", "get", access_code_id) == 1
    assert "not found" in capsys.readouterr().err


def test_codes_create_time_bound_and_generated(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_lock(data, capsys, "sim://kwikset?id=front", "Front")
    assert (
        run(
            data,
            "codes",
            "create",
            "--lock",
            "Front",
            "--starts-at",
            "2099-01-01T10:00Z",
            "--ends-at",
            "2099-01-02T10:00Z",
            "--json",
            "--show-codes",
        )
        == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["type"] == "time_bound"
    assert created["status"] == "unset"
    assert created["code"].isdigit()
    assert run(data, "codes", "create", "--lock", "Front", "--ends-at", "2099-01-02T10:00Z") == 1
    assert "both" in capsys.readouterr().err
    assert run(data, "codes", "list", "--lock", "nowhere") == 1
    assert run(data, "codes", "create", "--lock", "nowhere") == 1


def test_a_pin_never_reaches_the_data_dir_in_clear(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_lock(data, capsys, "sim://kwikset?id=front", "Front")
    assert run(data, "codes", "create", "--lock", "Front", "--code", "73915") == 0
    for path in data.iterdir():
        assert b"73915" not in path.read_bytes()


def test_keys_create_list_revoke(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, "keys", "create", "--name", "ci") == 0
    captured = capsys.readouterr()
    key = captured.out.strip()
    assert key.startswith("seam_")
    assert "shown only now" in captured.err
    with Store.open(data) as store:
        assert store.api_keys.verify(key)
    assert run(data, "keys", "list") == 0
    out = capsys.readouterr().out
    assert key[:13] in out
    assert key not in out
    assert run(data, "keys", "revoke", key[:13]) == 0
    assert "revoked" in capsys.readouterr().out
    with Store.open(data) as store:
        assert not store.api_keys.verify(key)
    assert run(data, "keys", "revoke", key[:13]) == 1
    assert run(data, "keys", "list", "--all") == 0
    assert "revoked" in capsys.readouterr().out


def test_default_data_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEYSLOT_DATA_DIR", str(tmp_path / "env-data"))
    assert main(["locks", "add", "sim://nuki?id=x"]) == 0
    capsys.readouterr()
    assert (tmp_path / "env-data" / "keyslot.db").exists()
    assert (tmp_path / "env-data" / "store.key").stat().st_mode & 0o777 == 0o600

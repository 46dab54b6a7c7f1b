"""`keyslot backup` / `keyslot restore`: a round trip keeps every secret, and nothing is lost."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyslot.backup import BackupError, open_backup, seal_backup
from keyslot.backup_store import restore_store, snapshot_store
from keyslot.cli import main
from keyslot.model import AccessCode
from keyslot.protocol.clock import ManualClock
from keyslot.store import CodeRecord, DeviceRecord, Store
from keyslot.store.crypto import ENV_KEY

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PIN = "4821"
PASSPHRASE = "correct horse battery staple"
LOCK_URL = "zwave+mqtt://user:s3cret@127.0.0.1:1883/5"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_KEY, "KEYSLOT_BACKUP_PASSPHRASE", "KEYSLOT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)


def make_store(data_dir: Path) -> str:
    """A store with a lock, an access code with a PIN and a pairing key; its workspace id."""
    with Store.open(data_dir, clock=ManualClock(T0)) as store:
        store.devices.put(
            DeviceRecord(
                device_id="dev-1",
                lock_url=LOCK_URL,
                name="Front door",
                transport="zwave+mqtt",
                created_at=T0,
            )
        )
        code = AccessCode(
            access_code_id="code-1",
            device_id="dev-1",
            workspace_id=store.workspace_id,
            created_at=T0,
            name="Cleaner",
            code=PIN,
        )
        store.access_codes.put(CodeRecord(code))
        store.save_key("ble://AA:BB:CC:DD:EE:FF", b"\x01" * 16)
        return store.workspace_id


def passphrase_file(tmp_path: Path, text: str = PASSPHRASE) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def backup_cli(data_dir: Path, out: Path, pass_file: Path, *extra: str) -> int:
    argv = ["backup", "--data-dir", str(data_dir), "--passphrase-file", str(pass_file)]
    return main([*argv, *extra, str(out)])


def restore_cli(data_dir: Path, backup: Path, pass_file: Path, *extra: str) -> int:
    argv = ["restore", "--data-dir", str(data_dir), "--passphrase-file", str(pass_file)]
    return main([*argv, *extra, str(backup)])


def test_round_trip_restores_codes_keys_and_workspace(tmp_path: Path) -> None:
    workspace = make_store(tmp_path / "gateway")
    pass_file = passphrase_file(tmp_path)
    backup = tmp_path / "gw.ksbackup"
    assert backup_cli(tmp_path / "gateway", backup, pass_file) == 0
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600

    target = tmp_path / "new-gateway"
    assert restore_cli(target, backup, pass_file) == 0
    for name in ("keyslot.db", "store.key"):
        assert stat.S_IMODE((target / name).stat().st_mode) == 0o600
    with Store.open(target) as store:
        assert store.workspace_id == workspace
        assert store.access_codes.require("code-1").access_code.code == PIN
        assert store.devices.require("dev-1").lock_url == LOCK_URL
        assert store.load_key("ble://AA:BB:CC:DD:EE:FF") == b"\x01" * 16


def test_the_backup_file_reveals_no_secret(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    backup = tmp_path / "gw.ksbackup"
    assert backup_cli(tmp_path / "gateway", backup, passphrase_file(tmp_path)) == 0
    blob = backup.read_bytes()
    key_hex = (tmp_path / "gateway" / "store.key").read_text().strip()
    for secret in (key_hex.encode(), bytes.fromhex(key_hex), b"s3cret", b"Front door", b"Cleaner"):
        assert secret not in blob


def test_backup_includes_commits_still_in_the_wal_of_an_open_store(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    live = Store.open(tmp_path / "gateway", clock=ManualClock(T0))
    try:
        live.save_key("ble://11:22:33:44:55:66", b"\x02" * 16)  # committed, not checkpointed
        assert (tmp_path / "gateway" / "keyslot.db-wal").stat().st_size > 0
        contents = snapshot_store(tmp_path / "gateway")
    finally:
        live.close()
    restore_store(tmp_path / "copy", contents)
    with Store.open(tmp_path / "copy") as store:
        assert store.load_key("ble://11:22:33:44:55:66") == b"\x02" * 16


def test_wrong_passphrase_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_store(tmp_path / "gateway")
    backup = tmp_path / "gw.ksbackup"
    assert backup_cli(tmp_path / "gateway", backup, passphrase_file(tmp_path)) == 0
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all\n")
    wrong.chmod(0o600)
    assert restore_cli(tmp_path / "target", backup, wrong) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    assert not (tmp_path / "target").exists()


def test_restore_refuses_to_replace_a_store_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_store(tmp_path / "gateway")
    pass_file = passphrase_file(tmp_path)
    backup = tmp_path / "gw.ksbackup"
    assert backup_cli(tmp_path / "gateway", backup, pass_file) == 0
    other = tmp_path / "other"
    make_store(other)
    before = (other / "keyslot.db").read_bytes()

    assert restore_cli(other, backup, pass_file) == 1
    assert "--force" in capsys.readouterr().err
    assert (other / "keyslot.db").read_bytes() == before


def test_forced_restore_keeps_the_replaced_store_and_key_aside(tmp_path: Path) -> None:
    workspace = make_store(tmp_path / "gateway")
    pass_file = passphrase_file(tmp_path)
    backup = tmp_path / "gw.ksbackup"
    assert backup_cli(tmp_path / "gateway", backup, pass_file) == 0
    other = tmp_path / "other"
    other_workspace = make_store(other)

    assert restore_cli(other, backup, pass_file, "--force") == 0
    with Store.open(other) as store:
        assert store.workspace_id == workspace
    (aside,) = other.glob("replaced-*")
    with Store.open(aside) as old:  # the replaced store still opens with its own key
        assert old.workspace_id == other_workspace
        assert old.access_codes.require("code-1").access_code.code == PIN


def test_restore_refuses_a_store_that_a_process_has_open(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    contents = snapshot_store(tmp_path / "gateway")
    live = Store.open(tmp_path / "gateway")
    try:
        with pytest.raises(BackupError, match=rf"open in .* \(pid {os.getpid()}\)"):
            restore_store(tmp_path / "gateway", contents, force=True)
    finally:
        live.close()
    assert not list((tmp_path / "gateway").glob("replaced-*"))


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    contents = snapshot_store(tmp_path / "gateway")
    blob = bytearray(seal_backup(contents.manifest, contents.database, PASSPHRASE, log2_n=10))
    blob[len(blob) // 2] ^= 0x40
    with pytest.raises(BackupError, match="damaged"):
        open_backup(bytes(blob), PASSPHRASE)
    with pytest.raises(BackupError, match="not a keyslot backup"):
        open_backup(b"SQLite format 3\0" + bytes(100), PASSPHRASE)


def test_an_implausible_key_derivation_cost_is_refused(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    contents = snapshot_store(tmp_path / "gateway")
    blob = bytearray(seal_backup(contents.manifest, contents.database, PASSPHRASE, log2_n=10))
    blob[10] = 30  # log2 N: 2**30 would need 128 GiB
    with pytest.raises(BackupError, match="implausible"):
        open_backup(bytes(blob), PASSPHRASE)


def test_a_short_passphrase_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_store(tmp_path / "gateway")
    short = passphrase_file(tmp_path, "hunter2")
    assert backup_cli(tmp_path / "gateway", tmp_path / "b", short) == 1
    assert "at least 12 characters" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_backup_of_a_missing_store_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert backup_cli(tmp_path / "nothing", tmp_path / "b", passphrase_file(tmp_path)) == 1
    assert "there is no store" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_backup_without_the_key_file_fails_and_makes_no_new_key(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    (tmp_path / "gateway" / "store.key").unlink()
    with pytest.raises(BackupError, match=r"key .* is missing"):
        snapshot_store(tmp_path / "gateway")
    assert not (tmp_path / "gateway" / "store.key").exists()


def test_backup_does_not_overwrite_a_file_without_force(tmp_path: Path) -> None:
    make_store(tmp_path / "gateway")
    pass_file = passphrase_file(tmp_path)
    out = tmp_path / "b"
    out.write_bytes(b"precious")
    assert backup_cli(tmp_path / "gateway", out, pass_file) == 1
    assert out.read_bytes() == b"precious"
    assert backup_cli(tmp_path / "gateway", out, pass_file, "--force") == 0
    assert open_backup(out.read_bytes(), PASSPHRASE).manifest["database_bytes"] > 0


def test_store_key_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_store(tmp_path / "gateway")
    key_hex = (tmp_path / "gateway" / "store.key").read_text().strip()
    contents = snapshot_store(tmp_path / "gateway")
    monkeypatch.setenv(ENV_KEY, "ab" * 32)
    with pytest.raises(BackupError, match=f"{ENV_KEY} is set to another key"):
        restore_store(tmp_path / "target", contents)
    monkeypatch.setenv(ENV_KEY, key_hex)
    result = restore_store(tmp_path / "target", contents)
    assert result.key_file is None
    assert not (tmp_path / "target" / "store.key").exists()
    with Store.open(tmp_path / "target") as store:
        assert store.access_codes.require("code-1").access_code.code == PIN


def test_verify_checks_the_backup_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = make_store(tmp_path / "gateway")
    monkeypatch.setenv("KEYSLOT_BACKUP_PASSPHRASE", PASSPHRASE)
    backup = tmp_path / "gw.ksbackup"
    assert main(["backup", "--data-dir", str(tmp_path / "gateway"), str(backup)]) == 0
    target = tmp_path / "target"
    assert main(["restore", "--verify", "--data-dir", str(target), str(backup)]) == 0
    assert f"backup OK: workspace {workspace}" in capsys.readouterr().out
    assert not target.exists()


def test_a_world_readable_passphrase_file_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_store(tmp_path / "gateway")
    loose = passphrase_file(tmp_path)
    loose.chmod(0o644)
    assert backup_cli(tmp_path / "gateway", tmp_path / "b", loose) == 0
    assert f"chmod 600 {loose}" in capsys.readouterr().err

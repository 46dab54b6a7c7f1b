"""A simulated lock outlives its process: encrypted, atomic saves and faithful loads."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import KeyslotError, Schedule, SlotEntry
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.state import KEY_ENV, SimulatorStateError, key_path

CODES = ("48213579", "93517", "7351")


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def filled(path: Path, clock: ManualClock) -> LockFirmware:
    fw = LockFirmware(get_profile("split"), clock=clock, lock_id="door-1", state_path=path)
    window = Schedule(clock.now(), clock.now() + timedelta(days=1))
    fw.write_slot(1, SlotEntry(CODES[0], "Mary Ann Smith", schedule=window))
    fw.write_slot(7, SlotEntry(CODES[1], "Bob", one_time=True))
    fw.write_slot(25, SlotEntry(CODES[2], "Zoë Ångström", enabled=False))
    fw.set_clock(clock.now() + timedelta(minutes=3))
    return fw


def test_round_trip(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = filled(path, clock)
    loaded = LockFirmware.load(path, clock)
    assert loaded.profile is fw.profile
    assert loaded.lock_id == "door-1"
    assert loaded.read_slots() == fw.read_slots()
    assert loaded.checksum() == fw.checksum()
    assert loaded.now() == fw.now()
    assert loaded.enter(CODES[1]).unlocked


def test_constructor_resumes_saved_state(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = filled(path, clock)
    again = LockFirmware(get_profile("split"), clock=clock, lock_id="door-1", state_path=path)
    assert again.read_slots() == fw.read_slots()
    with pytest.raises(SimulatorStateError, match="split"):
        LockFirmware(get_profile("kwikset"), clock=clock, state_path=path)


def test_every_mutation_is_saved(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = filled(path, clock)
    fw.clear_slot(7)
    assert not LockFirmware.load(path, clock).read_slot(7).occupied
    fw.manager_set(3, "8642", "Manager")
    assert LockFirmware.load(path, clock).read_slot(3).name == "Manager"
    fw.write_slot(4, SlotEntry("3579", "Once", one_time=True))
    fw.enter("3579")
    assert not LockFirmware.load(path, clock).read_slot(4).occupied


def test_no_pin_in_plaintext(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    filled(path, clock)
    blob = path.read_bytes()
    for code in CODES:
        assert code.encode() not in blob
    assert b"Mary" not in blob
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_key_file_is_private(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    filled(path, clock)
    mode = stat.S_IMODE(os.stat(key_path(path)).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def test_key_from_environment(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "11" * 32)
    path = tmp_path / "lock.state"
    fw = filled(path, clock)
    assert not key_path(path).exists()
    assert LockFirmware.load(path, clock).read_slots() == fw.read_slots()
    monkeypatch.setenv(KEY_ENV, "22" * 32)
    with pytest.raises(SimulatorStateError, match="decrypted"):
        LockFirmware.load(path, clock)
    monkeypatch.setenv(KEY_ENV, "not hex")
    with pytest.raises(SimulatorStateError, match="hex"):
        LockFirmware.load(path, clock)


def test_damaged_file_is_reported_and_kept(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    filled(path, clock)
    damaged = bytearray(path.read_bytes())
    damaged[-5] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(SimulatorStateError) as err:
        LockFirmware.load(path, clock)
    assert isinstance(err.value, KeyslotError)
    assert path.read_bytes() == bytes(damaged)  # nothing lost: the file is left as it was
    path.write_bytes(b"hello")
    with pytest.raises(SimulatorStateError, match="not a keyslot"):
        LockFirmware.load(path, clock)


def test_missing_key_file(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    filled(path, clock)
    key_path(path).unlink()
    with pytest.raises(SimulatorStateError, match="key file"):
        LockFirmware.load(path, clock)


def test_save_needs_a_path(tmp_path: Path, clock: ManualClock) -> None:
    fw = LockFirmware(get_profile("kwikset"), clock=clock)
    fw.write_slot(1, SlotEntry("4821"))
    with pytest.raises(SimulatorStateError):
        fw.save()
    fw.save(tmp_path / "later.state")
    assert LockFirmware.load(tmp_path / "later.state", clock).read_slot(1).occupied


def test_unwritable_directory(tmp_path: Path, clock: ManualClock) -> None:
    fw = LockFirmware(get_profile("kwikset"), clock=clock)
    with pytest.raises(SimulatorStateError):
        fw.save(tmp_path / "missing-dir" / "lock.state")


def test_reboot_reloads_from_flash(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = filled(path, clock)
    before = fw.read_slots()
    fw.reboot()
    assert fw.read_slots() == before
    assert LockFirmware.load(path, clock).boot_count == 0  # the boot count is not a mutation

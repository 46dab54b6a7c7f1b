"""A simulated serial lock started from a state file keeps its pairing across restarts.

`keyslot sim serial --state FILE` saves the key it agreed at pairing beside the state; the
next start from the same file must load it, so the host's stored key still opens the lock.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from keyslot.drivers import open_lock, parse_lock_url
from keyslot.drivers.serial import pair
from keyslot.protocol.clock import ManualClock, SystemClock
from keyslot.protocol.slots import SlotEntry
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.serial_endpoint import SerialEndpoint, pairing_key_path
from keyslot.simulator.state import SimulatorStateError, read_state, write_state
from keyslot.store import Store
from tests.serial_helpers import MemoryKeyStore

KEYSLOT = [sys.executable, "-m", "keyslot.cli"]
OPTIONS = "baud=921600&timeout=0.2&retries=6"


@contextmanager
def sim_serial(state: Path, link: Path, *, pairing: bool) -> Iterator[subprocess.Popen[str]]:
    """`keyslot sim serial` on a pty behind `link`, kept in `state`; stopped on exit."""
    args = [*KEYSLOT, "sim", "serial", "--profile", "kwikset", "--state", str(state)]
    args += ["--link", str(link), *(["--pairing"] if pairing else [])]
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def served_path(process: subprocess.Popen[str]) -> str:
    """The path the simulator prints once it serves, or a failure with what it said instead."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "the simulator printed no pty path"
    path = process.stdout.readline().strip()
    if not path:
        assert process.stderr is not None
        process.wait(10)
        pytest.fail(f"the simulator stopped: {process.stderr.read().strip()[-400:]}")
    return path


def keyslot(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEYSLOT_DATA_DIR": str(data)}
    return subprocess.run(
        [*KEYSLOT, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


async def test_restart_from_state_keeps_the_pairing(tmp_path: Path) -> None:
    state, link, data = tmp_path / "lock", tmp_path / "lock.tty", tmp_path / "store"
    url = f"serial://{link}?{OPTIONS}"
    with sim_serial(state, link, pairing=True) as first:
        assert served_path(first) == str(link)
        paired = keyslot("pair", url, "--data-dir", str(data), data=data)
        assert paired.returncode == 0, paired.stderr
    assert pairing_key_path(state).exists()

    with sim_serial(state, link, pairing=False) as second:
        assert served_path(second) == str(link)
        store = Store.open(data)
        try:
            lock = await open_lock(url, clock=SystemClock(), keys=store)
            try:
                slots = await lock.read_slots()
                assert not any(slot.occupied for slot in slots)
                written = await lock.write_slot(slots[0].index, SlotEntry("4827", "Kit"))
                assert written.occupied
            finally:
                await lock.aclose()
        finally:
            store.close()


async def test_endpoint_saves_a_key_it_loads_again(tmp_path: Path, clock: ManualClock) -> None:
    state = tmp_path / "lock"
    key_file = pairing_key_path(state)
    firmware = LockFirmware(
        get_profile("kwikset"), clock=clock, lock_id="restart", state_path=state
    )
    keys = MemoryKeyStore()
    endpoint = SerialEndpoint(firmware, pairing_mode=True, key_path=key_file)
    try:
        await endpoint.open_tcp()
        url = f"{endpoint.url}?{OPTIONS}"
        await pair(parse_lock_url(url), keys, SystemClock())
    finally:
        await endpoint.aclose()
    assert read_state(key_file)["format"] == 1

    again = SerialEndpoint(firmware, key_path=key_file)
    try:
        await again.open_tcp()
        url = f"{again.url}?{OPTIONS}"
        # the driver keeps keys by URL and the port changed: give the new URL the old key
        keys.keys = {f"{again.url}": next(iter(keys.keys.values()))}
        lock = await open_lock(url, clock=SystemClock(), keys=keys)
        try:
            assert len(await lock.read_slots()) == firmware.profile.slot_count
        finally:
            await lock.aclose()
    finally:
        await again.aclose()


def test_a_key_file_of_the_old_form_still_loads(tmp_path: Path, clock: ManualClock) -> None:
    key_file = pairing_key_path(tmp_path / "lock")
    key = bytes(range(32))
    write_state(key_file, {"pairing_key": key.hex()})  # what earlier versions wrote
    firmware = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="old")
    endpoint = SerialEndpoint(firmware, key_path=key_file)
    assert endpoint.device.pairing_key == key


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path, clock: ManualClock) -> None:
    key_file = pairing_key_path(tmp_path / "lock")
    write_state(key_file, {"format": 1, "pairing_key": "not hex"})
    firmware = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="bad")
    with pytest.raises(SimulatorStateError, match="pairing key"):
        SerialEndpoint(firmware, key_path=key_file)

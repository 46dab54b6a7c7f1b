"""An async front-end defers a simulated lock's save and awaits it before answering."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyslot.drivers.sim import SimLock
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import SlotEntry
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.state import KEY_ENV, SimulatorStateError, read_state


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def _saved_codes(path: Path) -> dict[str, str]:
    return {index: slot["code"] for index, slot in read_state(path)["slots"].items()}


def test_changes_wait_for_flush(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="d", state_path=path)
    fw.write_slot(1, SlotEntry("1357", "Ann"))  # outside: saved at once
    assert _saved_codes(path) == {"1": "1357"}
    with fw.saves_deferred():
        fw.write_slot(2, SlotEntry("2468", "Bob"))
    assert _saved_codes(path) == {"1": "1357"}  # not yet
    asyncio.run(fw.flush())
    assert _saved_codes(path) == {"1": "1357", "2": "2468"}


def test_concurrent_flushes_write_the_latest_state(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="d", state_path=path)

    async def main() -> None:
        with fw.saves_deferred():
            fw.write_slot(1, SlotEntry("1357", "Ann"))
        first = asyncio.ensure_future(fw.flush())
        await asyncio.sleep(0)  # the first save is running in its thread
        with fw.saves_deferred():
            fw.write_slot(2, SlotEntry("2468", "Bob"))
        await asyncio.gather(first, fw.flush())

    asyncio.run(main())
    assert _saved_codes(path) == {"1": "1357", "2": "2468"}


def test_sim_driver_answers_after_the_save(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "lock.state"
    fw = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="d", state_path=path)

    async def main() -> None:
        lock = SimLock(fw, clock=clock)
        await lock.write_slot(3, SlotEntry("97531", "Cy"))
        assert _saved_codes(path) == {"3": "97531"}
        await lock.clear_slot(3)
        assert _saved_codes(path) == {}

    asyncio.run(main())


def test_a_failed_save_is_reported_and_tried_again(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "gone" / "lock.state"
    path.parent.mkdir()
    fw = LockFirmware(get_profile("kwikset"), clock=clock, lock_id="d", state_path=path)
    fw.save()
    key = path.with_name(path.name + ".key").read_bytes()
    with fw.saves_deferred():
        fw.write_slot(1, SlotEntry("1357", "Ann"))
    for child in path.parent.iterdir():
        child.unlink()
    path.parent.rmdir()
    with pytest.raises(SimulatorStateError, match="cannot"):
        asyncio.run(fw.flush())
    path.parent.mkdir()
    path.with_name(path.name + ".key").write_bytes(key)
    asyncio.run(fw.flush())  # still owed: written now
    assert _saved_codes(path) == {"1": "1357"}

"""`keyslot bench` on a lock that is in use: it leaves the lock's own codes alone, keeps
the codes it writes and the broker password out of its report, and cleans up after a check
that runs out of time.

The bench runs the conformance suite in this process (pytest.main) against a `sim://` lock
with an `id`, so the test can seed the lock before and inspect it after.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from keyslot.bench import BenchReport, run_bench
from keyslot.drivers import parse_lock_url
from keyslot.drivers.sim import SimLock, firmware_for, forget_firmware, get_firmware
from keyslot.protocol.clock import ManualClock, SystemClock
from keyslot.protocol.slots import CodeRejected, Slot, SlotEntry
from keyslot.simulator.firmware import LockFirmware
from tests.conformance.hardware import HardwareRun, hardware_target
from tests.conformance.helpers import ForeignSlotError, expect_error

# codes a resident of a nuki lock might have (6 digits, no zeros, not starting with 12)
RESIDENTS = {1: ("583947", "Resident"), 4: ("947361", "Cleaner")}


class CodeSpy:
    """A pytest plugin that receives every code the conformance suite issues."""

    def __init__(self) -> None:
        self.suite_codes: list[str] = []


def spying(spy: CodeSpy) -> Callable[..., int]:
    """A bench runner: pytest.main with `spy` among the plugins."""

    def run(args: list[str], plugins: list[Any]) -> int:
        return int(pytest.main(args, plugins=[*plugins, spy]))

    return run


@pytest.fixture
def lock_id() -> Iterator[str]:
    name = f"bench-safety-{uuid.uuid4().hex[:8]}"
    yield name
    forget_firmware(name)


def resident_lock(url: str) -> tuple[LockFirmware, dict[int, Slot]]:
    """The simulated lock of `url`, with the residents' codes in it; returns what it holds."""
    firmware = firmware_for(parse_lock_url(url), SystemClock())
    for index, (code, name) in RESIDENTS.items():
        firmware.write_slot(index, SlotEntry(code, name))
    return firmware, {i: firmware.read_slot(i) for i in RESIDENTS}


def assert_only_residents(lock_id: str, before: dict[int, Slot]) -> None:
    firmware = get_firmware(lock_id)
    for slot in firmware.read_slots():
        # compared by hand: an assertion's introspection would print the codes
        if slot.index in before:
            if slot != before[slot.index] or slot.code != RESIDENTS[slot.index][0]:
                raise AssertionError(f"slot {slot.index} was changed by the bench")
        elif slot.occupied:
            raise AssertionError(f"the bench left a code in slot {slot.index}")


def outcomes(report: BenchReport) -> dict[str, str]:
    return {check.name: check.outcome for check in report.checks}


def test_bench_leaves_the_locks_own_codes_alone(lock_id: str) -> None:
    url = f"sim://nuki?id={lock_id}"
    firmware, before = resident_lock(url)
    assert firmware.profile.max_active_codes is not None  # a cap: the full-table check runs
    report = run_bench(url, progress=io.StringIO())
    assert_only_residents(lock_id, before)
    ran = outcomes(report)
    assert report.ok, [c for c in report.checks if c.outcome in ("failed", "error")]
    assert ran["test_full_table_refused"] == "passed"
    assert ran["test_write_then_read_back"] == "passed"
    # writing outside the lock's numbering could reach a slot the lock keeps to itself
    assert ran["test_slot_outside_numbering_refused"] == "skipped"


def test_bench_report_and_log_hold_no_code_and_no_password(
    lock_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "s3cret-broker-pass"  # a made-up password the report must hide
    url = f"sim://bench:{password}@nuki?id={lock_id}"
    _firmware, before = resident_lock(url)
    written_back = SimLock.write_slot

    async def reads_back_nothing(self: SimLock, index: int, entry: SlotEntry) -> Slot:
        # a lock that answers a write without the code: the read-back check fails on it
        return replace(await written_back(self, index, entry), code=None)

    monkeypatch.setattr(SimLock, "write_slot", reads_back_nothing)
    spy = CodeSpy()
    report = run_bench(url, progress=io.StringIO(), runner=spying(spy), seed=4242)
    markdown, data = report.write(tmp_path / "report")
    log = (tmp_path / "report" / "bench-pytest.log").read_text(encoding="utf-8")

    assert outcomes(report)["test_write_then_read_back"] == "failed"
    assert "AssertionError" in log  # the failure is explained, just without the code
    assert spy.suite_codes, "the suite issued no codes: the check below would prove nothing"
    files = {"log": log, "md": markdown.read_text(), "json": data.read_text()}
    for name, text in files.items():
        assert password not in text, name
        for code in spy.suite_codes:
            assert code not in text, f"a code the suite wrote is in the {name}"
        for code, _ in RESIDENTS.values():
            assert code not in text, f"a resident's code is in the {name}"
    summary = json.loads(files["json"])
    assert summary["lock_url"] == f"sim://bench:***@nuki?id={lock_id}"
    assert summary["code_seed"] == 4242
    assert "4242" in files["md"]
    monkeypatch.undo()
    assert_only_residents(lock_id, before)


def test_bench_seeds_codes_at_random_and_replays_a_seed(lock_id: str) -> None:
    url = f"sim://nuki?id={lock_id}"
    resident_lock(url)
    runs = []
    for seed in (None, None, 99, 99):
        spy = CodeSpy()
        report = run_bench(
            url, progress=io.StringIO(), runner=spying(spy), seed=seed, select="write_then_read"
        )
        assert report.ok
        assert isinstance(report.code_seed, int)
        runs.append((report.code_seed, spy.suite_codes))
    (seed_a, codes_a), (seed_b, codes_b), (_, replay_a), (_, replay_b) = runs
    assert seed_a != seed_b
    assert codes_a != codes_b  # a fresh seed each run: the codes are not in the source
    assert replay_a == replay_b  # a seed from a report replays the same codes


def test_a_check_that_runs_out_of_time_still_cleans_up(lock_id: str) -> None:
    # 0.2 s per operation: filling the table takes longer than the check may
    url = f"sim://nuki?id={lock_id}&latency=0.2"
    _firmware, before = resident_lock(url)
    report = run_bench(url, progress=io.StringIO(), select="full_table_refused", timeout=1.0)
    [check] = [c for c in report.checks if c.name == "test_full_table_refused"]
    assert check.outcome == "failed"
    assert "Timeout" in check.message
    assert report.timeout == 1.0
    assert "teardown" not in [c.message for c in report.checks]
    assert_only_residents(lock_id, before)


def test_the_time_limit_does_not_cut_the_cleanup_short(lock_id: str) -> None:
    # 0.15 s per operation: the check takes about 2.1 s and its cleanup 1.4 s more, so a
    # 3 s limit on both together would stop the cleanup halfway
    url = f"sim://nuki?id={lock_id}&latency=0.15"
    _firmware, before = resident_lock(url)
    report = run_bench(url, progress=io.StringIO(), select="full_table_refused", timeout=3.0)
    assert outcomes(report) == {"test_full_table_refused": "passed"}
    assert_only_residents(lock_id, before)


async def test_the_hardware_harness_refuses_slots_it_did_not_fill(
    lock_id: str, clock: ManualClock
) -> None:
    url = f"sim://nuki?id={lock_id}"
    _firmware, before = resident_lock(url)
    run = HardwareRun(url)
    target = hardware_target(run)
    async with target.open("device", clock) as harness:
        assert run.usable == frozenset(range(1, 21)) - set(RESIDENTS)
        for index in (*RESIDENTS, 0, 21):
            with pytest.raises(ForeignSlotError, match=f"slot {index}"):
                await harness.lock.write_slot(index, SlotEntry("618274", "Intruder"))
            with pytest.raises(ForeignSlotError):
                await harness.lock.clear_slot(index)
        # a check expecting a refusal does not mistake the guard for the lock's answer
        with pytest.raises(ForeignSlotError):
            await expect_error(harness, harness.lock.write_slot(1, SlotEntry("6")), CodeRejected)
        await harness.lock.write_slot(2, SlotEntry("618274", "Guest"))
    assert run.written == {2}
    assert_only_residents(lock_id, before)  # the guest's code was cleared after the check

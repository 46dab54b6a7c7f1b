"""The byte-stream fault injector does what its rates say, reproducibly."""

from __future__ import annotations

import pytest

from keyslot.simulator.faults import FaultSpecError
from keyslot.simulator.serial_faults import ByteFaults


@pytest.mark.parametrize("burst", [1, 8])
def test_corrupted_fraction_matches_the_rate(burst: int) -> None:
    faults = ByteFaults(corrupt=0.05, burst=burst, seed=1)
    data = bytes(range(256)) * 400
    out = faults.mangle(data, "in")
    changed = sum(a != b for a, b in zip(data, out, strict=True))
    assert changed == faults.bytes_corrupted
    assert 0.04 < faults.corrupted_fraction < 0.06


def test_bursts_hit_runs_of_bytes() -> None:
    faults = ByteFaults(corrupt=0.05, burst=8, seed=2)
    data = bytes(1) * 50_000
    out = faults.mangle(data, "out")
    runs = "".join("x" if b else "." for b in out).split(".")
    lengths = [len(r) for r in runs if r]
    assert max(lengths) >= 8
    assert sum(lengths) / len(lengths) > 6


def test_frame_drops_and_same_seed_same_faults() -> None:
    first, second = ByteFaults(drop_frames=0.05, seed=9), ByteFaults(drop_frames=0.05, seed=9)
    drops = [first.drop_frame() for _ in range(4000)]
    assert drops == [second.drop_frame() for _ in range(4000)]
    assert 0.03 < sum(drops) / len(drops) < 0.07
    assert first.frames_dropped == sum(drops)


def test_duplicates_and_lost_bytes_change_the_length() -> None:
    assert len(ByteFaults(duplicate=0.1, seed=3).mangle(bytes(1000), "in")) > 1050
    assert len(ByteFaults(drop_bytes=0.1, seed=3).mangle(bytes(1000), "in")) < 950


def test_parse() -> None:
    faults = ByteFaults.parse("corrupt:0.05,burst:4,drop_frames:0.05,delay:0.1@0.2,seed:7")
    assert (faults.corrupt, faults.burst, faults.drop_frames) == (0.05, 4, 0.05)
    assert (faults.delay, faults.delay_seconds, faults.seed) == (0.1, 0.2, 7)
    assert faults.active
    assert not ByteFaults.parse("").active
    for bad in ("corrupt", "corrupt:x", "noise:0.1", "corrupt:2", "burst:0"):
        with pytest.raises(FaultSpecError):
            ByteFaults.parse(bad)

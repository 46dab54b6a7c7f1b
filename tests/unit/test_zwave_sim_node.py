"""The simulated Z-Wave lock node: what its User Code Reports carry and what a Set does;
and the `keyslot sim zwave` command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import SlotEntry
from keyslot.protocol.zwave_values import (
    SUPPORTED_USERS,
    USER_CODE,
    USER_CODE_CHECKSUM,
    NodeState,
    SetValueStatus,
    UserIdStatus,
    user_code_checksum,
)
from keyslot.simulator import zwave_cli
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.zwave_node import SimNode


def node(profile: str, clock: ManualClock) -> SimNode:
    firmware = LockFirmware(get_profile(profile), clock=clock, lock_id="unit")
    return SimNode(7, firmware, "nodeID_7")


def test_reports_mask_codes_as_the_profile_says(clock: ManualClock) -> None:
    masked, readable = node("schlage", clock), node("kwikset", clock)
    for sim in (masked, readable):
        assert sim.report(1) == (UserIdStatus.AVAILABLE, "")
        assert sim.set_code(1, "0123").status is SetValueStatus.SUCCESS
    assert masked.report(1) == (UserIdStatus.ENABLED, "**********")
    assert readable.report(1) == (UserIdStatus.ENABLED, "0123")
    assert masked.checksum() == user_code_checksum([(1, 1, "0123")])


def test_a_set_as_the_lock_takes_it(clock: ManualClock) -> None:
    sim = node("kwikset", clock)
    assert sim.set_code(1, 123).status is SetValueStatus.INVALID_VALUE  # a number, not a code
    assert sim.set_code(99, "1234").status is SetValueStatus.INVALID_VALUE  # no such user id
    assert sim.set_code(1, "12").status is SetValueStatus.FAIL  # the profile's rules
    assert not sim.firmware.read_slot(1).occupied
    assert sim.set_code(1, "2468").applied
    duplicate = sim.set_code(2, "2468")
    assert duplicate.duplicate
    assert not duplicate.applied
    full = sim.set_code(3, "1357", full=True)
    assert full.no_room
    assert sim.report(3) == (UserIdStatus.NOT_AVAILABLE, "")
    assert sim.set_code(3, "1357").applied  # room again
    assert sim.report(3) == (UserIdStatus.ENABLED, "1357")
    assert sim.writes == {1: 3, 99: 1, 2: 1, 3: 2}


def test_clearing_by_status(clock: ManualClock) -> None:
    sim = node("kwikset", clock)
    sim.set_code(4, "9753")
    assert sim.set_status(4, 1).status is SetValueStatus.INVALID_VALUE
    assert sim.set_status(4, False).status is SetValueStatus.INVALID_VALUE
    assert sim.set_status(4, 0).applied
    assert sim.report(4) == (UserIdStatus.AVAILABLE, "")


def test_a_full_profile_reports_no_room(clock: ManualClock) -> None:
    sim = node("nuki", clock)  # at most 10 codes at once, six digits 1-9
    pins = ["345678", "456789", "567891", "678912", "789123", "891234", "913245", "923456"]
    pins += ["934567", "945678", "956789"]
    for index, pin in enumerate(pins[:10], start=1):
        assert sim.set_code(index, pin).applied
    outcome = sim.set_code(11, pins[10])
    assert outcome.no_room


def test_retained_values_and_summary(clock: ManualClock) -> None:
    sim = node("schlage", clock)
    sim.firmware.write_slot(2, SlotEntry("86420"))
    values = {(prop, key): value for prop, key, value in sim.retained_values()}
    assert values[(SUPPORTED_USERS, None)] == 30
    assert values[(USER_CODE, 2)] == "**********"
    assert values[(USER_CODE, 3)] == ""
    assert values[(USER_CODE_CHECKSUM, None)] == sim.checksum()
    summary = sim.summary()
    assert (summary.node_id, summary.manufacturer) == (7, "Schlage")
    assert summary.value(99, USER_CODE, 2) == "**********"


def test_sleep_and_wake(clock: ManualClock) -> None:
    sim = node("kwikset", clock)
    sim.set_state(NodeState.ASLEEP)
    assert not sim.awake.is_set()
    sim.set_state(NodeState.AWAKE)
    assert sim.awake.is_set()


def test_cli_options() -> None:
    parser = argparse.ArgumentParser()
    zwave_cli.configure_cli(parser)
    args = parser.parse_args(["--nodes", "2,3:kwikset", "--verification-delay", "0.5"])
    assert args.verification_delay == 0.5
    assert zwave_cli._parse_nodes(args.nodes, args.profile) == {2: "schlage", 3: "kwikset"}
    for bad in ("x", "0", "2:schlage,99999"):
        with pytest.raises(ValueError, match="node id"):
            zwave_cli._parse_nodes(bad, "schlage")


def test_cli_refuses_a_bad_broker_url(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    zwave_cli.configure_cli(parser)
    assert zwave_cli.run_cli(parser.parse_args(["--broker", "http://x"])) == 2
    assert "--broker" in capsys.readouterr().out
    assert zwave_cli.run_cli(parser.parse_args(["--nodes", "two"])) == 2


def test_cli_keeps_lock_state_encrypted(tmp_path: Path, clock: ManualClock) -> None:
    parser = argparse.ArgumentParser()
    zwave_cli.configure_cli(parser)
    args = parser.parse_args(["--state-dir", str(tmp_path / "state"), "--faults", "lose:0.5"])
    first = zwave_cli._firmware(4, "kwikset", args, clock)
    first.write_slot(2, SlotEntry("0246813"))
    assert first.faults.lose == 0.5
    again = zwave_cli._firmware(4, "schlage", args, clock)  # the saved lock wins
    assert again.profile.name == "kwikset"
    assert again.read_slot(2).code == "0246813"
    for saved in (tmp_path / "state").iterdir():
        assert b"0246813" not in saved.read_bytes()

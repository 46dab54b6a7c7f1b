"""Offline access codes end to end: Seam's Python SDK against `keyslot serve` with a simulated
igloohome-style lock. The gateway pairs the lock at start; a code issued over HTTP opens the
keypad inside its window and is denied outside it; Seam's refusals come back as SDK errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seam import Seam
from seam.exceptions import SeamHttpInvalidInputError

from tests.e2e.gateway_support import GatewayProcess, eventually, write_config

pytestmark = pytest.mark.slow

GATE = "Gate"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = Path(tmp_path_factory.mktemp("offline"))
    state = directory / "gate.lock"
    extra = f'[[locks]]\nurl = "sim://algopin?id=gate&state={state}"\nname = "{GATE}"\n'
    process = GatewayProcess(write_config(directory, extra=extra)).start()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def seam(gateway: GatewayProcess) -> Iterator[Seam]:
    client = Seam(api_key=gateway.api_key, endpoint=gateway.url)
    yield client
    client.client.close()


@pytest.fixture(scope="module")
def gate(seam: Seam) -> str:
    devices = {d.display_name: d for d in seam.devices.list()}
    device = devices[GATE]
    assert device.can_program_offline_access_codes
    assert device.properties is not None
    options = device.properties.offline_time_frame_options or []
    assert [o["display_name"] for o in options][:2] == ["Hourly", "Daily"]
    assert not devices["Front door"].can_program_offline_access_codes
    return str(device.device_id)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _events(seam: Seam, device_id: str, event_type: str) -> list[dict[str, Any]]:
    answer = seam.client.post("/events/list", json={"device_id": device_id})
    return [e for e in answer["events"] if e["event_type"] == event_type]


def _enter(seam: Seam, device_id: str, code: str) -> bool:
    """Type `code` on the lock's keypad; whether it unlocked, as its action attempt says
    (the SDK's typed result drops the field, so the attempt is read back as JSON)."""
    attempt = seam.locks.simulate.keypad_code_entry(device_id=device_id, code=code)
    assert attempt.status == "success"
    raw = seam.client.post(
        "/action_attempts/get", json={"action_attempt_id": attempt.action_attempt_id}
    )
    return bool(raw["action_attempt"]["result"]["unlocked"])


def test_issued_code_opens_the_lock_at_the_right_time(seam: Seam, gate: str) -> None:
    now = datetime.now(UTC)
    code = seam.access_codes.create(
        device_id=gate,
        name="Guest",
        is_offline_access_code=True,
        starts_at=_iso(now),
        ends_at=_iso(now + timedelta(hours=2)),
    )
    assert code.is_offline_access_code
    assert code.status == "set"
    assert code.code is not None
    assert len(code.code) == 10
    assert code.starts_at is not None
    assert datetime.fromisoformat(code.starts_at) == _hour(now)  # the real, rounded window

    before = len(_events(seam, gate, "lock.unlocked"))
    assert _enter(seam, gate, code.code)
    eventually(lambda: len(_events(seam, gate, "lock.unlocked")) > before)


def test_programming_the_lock_leaves_offline_codes_alone(seam: Seam, gate: str) -> None:
    """An online code makes the gateway program the lock; the offline code, which lives in
    no slot, must come out of that pass as it went in."""
    now = datetime.now(UTC)
    offline = seam.access_codes.create(
        device_id=gate,
        is_offline_access_code=True,
        starts_at=_iso(now),
        ends_at=_iso(now + timedelta(hours=3)),
    )
    online = seam.access_codes.create(device_id=gate, name="Cleaner", code="5820")
    eventually(lambda: seam.access_codes.get(access_code_id=online.access_code_id).status == "set")
    again = seam.access_codes.get(access_code_id=offline.access_code_id)
    assert (again.status, again.errors, again.warnings, again.code) == (
        "set",
        [],
        [],
        offline.code,
    )
    assert offline.code is not None
    assert _enter(seam, gate, offline.code)


def test_code_entered_before_its_window_is_denied(seam: Seam, gate: str) -> None:
    now = datetime.now(UTC)
    later = seam.access_codes.create(
        device_id=gate,
        is_offline_access_code=True,
        starts_at=_iso(now + timedelta(hours=5)),
        ends_at=_iso(now + timedelta(hours=8)),
    )
    assert later.code is not None
    before = len(_events(seam, gate, "lock.access_denied"))
    assert not _enter(seam, gate, later.code)
    denied = eventually(
        lambda: (found := _events(seam, gate, "lock.access_denied"))[before:] and found
    )
    assert denied[0]["reason"]["reason_code"] == "expired_code"  # newest first


def test_one_time_daily_and_seam_refusals(seam: Seam, gate: str) -> None:
    now = datetime.now(UTC)
    once = seam.access_codes.create(
        device_id=gate,
        is_offline_access_code=True,
        is_one_time_use=True,
        starts_at=_iso(now),
        ends_at=_iso(now + timedelta(hours=1)),
    )
    assert once.is_one_time_use
    assert once.code is not None
    assert _enter(seam, gate, once.code)
    assert not _enter(seam, gate, once.code)

    daily = seam.access_codes.create(
        device_id=gate,
        is_offline_access_code=True,
        max_time_rounding="1d",
        starts_at=_iso(now + timedelta(days=1)),
        ends_at=_iso(now + timedelta(days=3)),
    )
    assert daily.ends_at is not None
    assert datetime.fromisoformat(daily.ends_at).time().isoformat() == "00:00:00"

    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.create(
            device_id=gate,
            is_offline_access_code=True,
            code="1234567890",
            starts_at=_iso(now),
            ends_at=_iso(now + timedelta(hours=1)),
        )
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.update(access_code_id=once.access_code_id, name="Renamed")
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.delete(access_code_id=daily.access_code_id)
    assert seam.access_codes.get(access_code_id=daily.access_code_id).status == "set"


def test_a_start_hour_takes_three_codes(seam: Seam, gate: str) -> None:
    start = _hour(datetime.now(UTC)) + timedelta(hours=30)
    starts, ends = _iso(start), _iso(start + timedelta(hours=4))

    def create() -> str | None:
        return seam.access_codes.create(
            device_id=gate, is_offline_access_code=True, starts_at=starts, ends_at=ends
        ).code

    codes = [create() for _ in range(3)]
    assert len(set(codes)) == 3
    with pytest.raises(SeamHttpInvalidInputError) as err:
        create()
    assert "at most 3" in str(err.value)

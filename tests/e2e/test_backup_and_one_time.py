"""Backup access codes and one-time codes end to end: Seam's Python SDK (and plain HTTP where
the SDK drops a field) against `keyslot serve` with simulated locks.

The vault is a Schlage-style lock that reads codes back masked, and a manager has already
put a PIN on it at the keypad: keyslot cannot see that PIN, so a code created with the same
one fails to set on the lock. Its backup is pulled, typed on the keypad, and the pool refills.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seam import Seam

from keyslot.protocol.clock import SystemClock
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile
from tests.contract import validate_response
from tests.e2e.gateway_support import GatewayProcess, eventually, write_config

pytestmark = pytest.mark.slow

VAULT = "Vault"
STUDIO = "Studio"
MANAGER_PIN = "4821"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = Path(tmp_path_factory.mktemp("backup"))
    vault_state = directory / "vault.lock"
    vault = LockFirmware(
        get_profile("schlage"), clock=SystemClock(), lock_id="vault", state_path=vault_state
    )
    vault.manager_set(30, MANAGER_PIN)  # set at the keypad; it reads back as asterisks
    vault.save()
    studio_state = directory / "studio.lock"
    extra = (
        f'[[locks]]\nurl = "sim://schlage?id=vault&state={vault_state}"\nname = "{VAULT}"\n\n'
        f'[[locks]]\nurl = "sim://split?id=studio&state={studio_state}"\nname = "{STUDIO}"\n'
    )
    process = GatewayProcess(write_config(directory, extra=extra)).start()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def seam(gateway: GatewayProcess) -> Iterator[Seam]:
    client = Seam(api_key=gateway.api_key, endpoint=gateway.url)
    yield client
    client.client.close()


@pytest.fixture(scope="module")
def devices(seam: Seam) -> dict[str, str]:
    return {d.display_name: d.device_id for d in seam.devices.list()}


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _code(seam: Seam, access_code_id: str) -> dict[str, Any]:
    """An access code as JSON (every field, as the gateway sends it)."""
    answer = seam.client.post("/access_codes/get", json={"access_code_id": access_code_id})
    code: dict[str, Any] = answer["access_code"]
    return code


def _codes(seam: Seam, device_id: str) -> list[dict[str, Any]]:
    answer = seam.client.post("/access_codes/list", json={"device_id": device_id})
    codes: list[dict[str, Any]] = answer["access_codes"]
    return codes


def _events(seam: Seam, device_id: str, event_type: str) -> list[dict[str, Any]]:
    answer = seam.client.post(
        "/events/list", json={"device_id": device_id, "event_types": [event_type]}
    )
    return [e for e in answer["events"] if e["event_type"] == event_type]


def _enter(seam: Seam, device_id: str, code: str) -> bool:
    """Type `code` on the lock's keypad; whether it unlocked (from its action attempt)."""
    attempt = seam.locks.simulate.keypad_code_entry(device_id=device_id, code=code)
    assert attempt.status == "success"
    raw = seam.client.post(
        "/action_attempts/get", json={"action_attempt_id": attempt.action_attempt_id}
    )
    return bool(raw["action_attempt"]["result"]["unlocked"])


def _pool(seam: Seam, device_id: str) -> list[dict[str, Any]]:
    """The backups waiting in the device's pool, on the lock."""
    return [
        c
        for c in _codes(seam, device_id)
        if c["is_backup"] and c["ends_at"] is None and c["status"] == "set"
    ]


def test_a_backup_stands_in_for_a_code_that_failed_to_set(
    seam: Seam, devices: dict[str, str]
) -> None:
    vault = devices[VAULT]
    properties = seam.devices.get(device_id=vault).properties
    assert properties is not None
    assert properties.supports_backup_access_code_pool
    now = datetime.now(UTC)
    ends = now + timedelta(days=1)
    created = seam.access_codes.create(
        device_id=vault,
        name="Courier",
        code=MANAGER_PIN,
        starts_at=_iso(now),
        ends_at=_iso(ends),
        use_backup_access_code_pool=True,
    )
    cid = created.access_code_id
    failed = eventually(
        lambda: (c := _code(seam, cid))["errors"] and c["is_backup_access_code_available"] and c,
        timeout=30,
    )
    assert [e["error_code"] for e in failed["errors"]] == ["duplicate_code_on_device"]
    assert failed["status"] != "set"
    failures = _events(seam, vault, "access_code.failed_to_set_on_device")
    assert cid in {e["access_code_id"] for e in failures}
    assert len(_pool(seam, vault)) == 2
    properties = seam.devices.get(device_id=vault).properties
    assert properties is not None
    assert properties.backup_access_code_pool_enabled

    # The SDK answers with the original code, now pointing at its backup.
    original = seam.access_codes.pull_backup_access_code(access_code_id=cid)
    assert original.access_code_id == cid
    backup_id = original.pulled_backup_access_code_id
    assert backup_id
    assert "using_backup_access_code" in {w.warning_code for w in original.warnings}
    # Pulling again gives the same backup; the answer carries both codes.
    answer = seam.client.post("/access_codes/pull_backup_access_code", json={"access_code_id": cid})
    validate_response(answer, "/access_codes/pull_backup_access_code", "post")
    backup = answer["backup_access_code"]
    assert backup["access_code_id"] == backup_id
    assert answer["access_code"]["pulled_backup_access_code_id"] == backup_id
    assert backup["is_backup"] is True
    assert backup["status"] == "set"
    assert backup["type"] == "time_bound"
    assert datetime.fromisoformat(backup["ends_at"]) == datetime.fromisoformat(
        _code(seam, cid)["ends_at"]
    )
    assert backup["code"] != MANAGER_PIN
    by_sdk = seam.access_codes.get(access_code_id=backup_id)
    assert by_sdk.is_backup
    pulled = _events(seam, vault, "access_code.backup_access_code_pulled")
    assert [(e["access_code_id"], e["backup_access_code_id"]) for e in pulled] == [(cid, backup_id)]

    # The backup opens the lock, and the keypad's report names it.
    assert _enter(seam, vault, backup["code"])
    unlocked = eventually(
        lambda: [e for e in _events(seam, vault, "lock.unlocked") if e.get("access_code_id")],
        timeout=20,
    )
    assert unlocked[0]["access_code_id"] == backup_id
    assert unlocked[0]["method"] == "keycode"

    # The pool is full again, without the pulled backup, and the device says nothing is wrong.
    refilled: list[dict[str, Any]] = eventually(
        lambda: p if len(p := _pool(seam, vault)) == 2 else None, timeout=30
    )
    assert backup_id not in {c["access_code_id"] for c in refilled}
    assert backup["code"] not in {c["code"] for c in refilled}
    after = seam.client.post("/devices/get", json={"device_id": vault})["device"]
    assert {e["error_code"] for e in after["errors"]}.isdisjoint({"empty_backup_access_code_pool"})
    assert {w["warning_code"] for w in after["warnings"]}.isdisjoint(
        {"partial_backup_access_code_pool"}
    )


@pytest.mark.parametrize(("lock", "pin"), [(STUDIO, "4826"), ("Front door", "7315")])
def test_a_one_time_code_opens_the_lock_once(
    seam: Seam, devices: dict[str, str], lock: str, pin: str
) -> None:
    device_id = devices[lock]
    code = seam.access_codes.create(
        device_id=device_id, name="Delivery", code=pin, is_one_time_use=True
    )
    cid = code.access_code_id
    assert code.is_one_time_use
    eventually(lambda: _code(seam, cid)["status"] == "set", timeout=30)
    assert _enter(seam, device_id, pin)
    spent = eventually(lambda: (c := _code(seam, cid))["status"] == "unset" and c, timeout=30)
    assert spent["errors"] == []
    assert not _enter(seam, device_id, pin)  # used up
    uses = [e for e in _events(seam, device_id, "lock.unlocked") if e.get("access_code_id") == cid]
    assert len(uses) == 1
    removed = _events(seam, device_id, "access_code.removed_from_device")
    assert cid in {e["access_code_id"] for e in removed}
    denied = eventually(lambda: _events(seam, device_id, "lock.access_denied"), timeout=20)
    assert denied

"""`keyslot serve` with a config that sizes a lock's backup pool and a lock paired for offline
codes: the pool is filled at start with no code asking for it, and a clear-all code issued
over HTTP revokes, at the simulated keypad, the offline codes issued before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.gateway_support import GatewayProcess, eventually, write_config

pytestmark = pytest.mark.slow

POOL = 3


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = Path(tmp_path_factory.mktemp("pool-clear"))
    extra = (
        f'[[locks]]\nurl = "sim://schlage?id=shed&state={directory / "shed.lock"}"\n'
        f'name = "Shed"\nbackup_access_code_pool_size = {POOL}\n\n'
        f'[[locks]]\nurl = "sim://algopin?id=gate&state={directory / "gate.lock"}"\n'
        'name = "Gate"\n'
    )
    process = GatewayProcess(write_config(directory, extra=extra)).start()
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def api(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=10.0) as client:
        yield client


def _post(api: httpx.Client, path: str, **body: Any) -> dict[str, Any]:
    res = api.post(path, json=body)
    assert res.status_code == 200, res.text
    answer: dict[str, Any] = res.json()
    return answer


def _device(api: httpx.Client, name: str) -> str:
    devices = _post(api, "/devices/list")["devices"]
    return str(next(d["device_id"] for d in devices if d["display_name"] == name))


def _ready_backups(api: httpx.Client, device_id: str) -> list[dict[str, Any]]:
    codes = _post(api, "/access_codes/list", device_id=device_id)["access_codes"]
    return [c for c in codes if c["is_backup"] and c["status"] == "set"]


def _unlocks(api: httpx.Client, device_id: str, code: str) -> bool:
    answer = _post(api, "/locks/simulate/keypad_code_entry", device_id=device_id, code=code)
    return bool(answer["action_attempt"]["result"]["unlocked"])


def test_the_configured_pool_is_filled_at_start(api: httpx.Client) -> None:
    shed = _device(api, "Shed")
    backups = eventually(lambda: len(found := _ready_backups(api, shed)) == POOL and found)
    assert len({b["code"] for b in backups}) == POOL
    device = _post(api, "/devices/get", device_id=shed)["device"]
    assert device["properties"]["backup_access_code_pool_enabled"] is True
    assert not _ready_backups(api, _device(api, "Front door"))  # a lock with no size: no pool


def test_a_clear_all_code_revokes_earlier_offline_codes(api: httpx.Client) -> None:
    gate = _device(api, "Gate")
    now = datetime.now(UTC)
    window = {"starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat()}
    created = _post(
        api, "/access_codes/create", device_id=gate, is_offline_access_code=True, **window
    )
    earlier = created["access_code"]["code"]
    assert _unlocks(api, gate, earlier)
    clear = _post(api, "/access_codes/offline/create_clear_all_code", device_id=gate)
    code = clear["clear_all_code"]["code"]
    assert clear["clear_all_code"]["generation"] == 1
    again = _post(api, "/access_codes/offline/create_clear_all_code", device_id=gate)
    assert again["clear_all_code"]["code"] == code  # nothing issued since: the same code
    assert not _unlocks(api, gate, code)  # clears, does not open
    assert not _unlocks(api, gate, earlier)
    later = _post(
        api, "/access_codes/create", device_id=gate, is_offline_access_code=True, **window
    )
    assert _unlocks(api, gate, later["access_code"]["code"])

    refused = api.post(
        "/access_codes/offline/create_clear_all_code", json={"device_id": _device(api, "Shed")}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_input"

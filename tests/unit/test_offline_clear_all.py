"""Clear-all offline codes: issued by the service and over HTTP, checked at a simulated
igloohome-style keypad, which then refuses every offline code issued before them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import jsonschema
import pytest

from keyslot.drivers import open_lock
from keyslot.drivers.sim import forget_firmware, get_firmware
from keyslot.gateway.app import Gateway
from keyslot.gateway.openapi import SCHEMAS
from keyslot.model import AccessCode, DeviceNotFound, InvalidInput
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.offline_pin import CLEAR_ALL_DIGITS
from keyslot.protocol.slots import SlotProgrammer
from keyslot.service import Service
from keyslot.service_offline import ClearAllCode
from keyslot.service_offline_pairing import pair_offline_locks
from keyslot.simulator.firmware import REASON_CLEARED, LockFirmware
from keyslot.simulator.profiles import get_profile
from keyslot.store import DeviceRecord, Store, StoreCorrupt

HOUR = timedelta(hours=1)
PATH = "/access_codes/offline/create_clear_all_code"
_ids = itertools.count(1)


@dataclass
class Site:
    clock: ManualClock
    store: Store
    service: Service
    gate: str  # an algopin lock, paired for offline codes
    front: str  # a kwikset lock: no offline codes
    lock_id: str

    @property
    def keypad(self) -> LockFirmware:
        return get_firmware(self.lock_id)

    def offline_code(self, hours: int = 3) -> AccessCode:
        now = self.clock.now()
        code, _ = self.service.create_access_code(
            device_id=self.gate,
            is_offline_access_code=True,
            starts_at=now,
            ends_at=now + hours * HOUR,
        )
        return code

    def clear_all(self) -> ClearAllCode:
        return self.service.create_offline_clear_all_code(device_id=self.gate)

    def opens(self, code: str | None) -> bool:
        assert code is not None
        return self.keypad.enter(code).unlocked


@pytest.fixture
async def site(clock: ManualClock) -> AsyncIterator[Site]:
    store = Store.memory(key=b"\x31" * 32, clock=clock)
    service = Service(store)
    lock_id = f"clear-{next(_ids)}"
    gate = service.add_device(lock_url=f"sim://algopin?id={lock_id}", name="Gate").device_id
    front = service.add_device(lock_url=f"sim://kwikset?id=front-{lock_id}", name="Front")
    info = get_profile("kwikset").info("front")
    store.devices.update(front.device_id, lambda d: replace(d, lock_info=info, online=True))

    async def opener(device: DeviceRecord) -> SlotProgrammer:
        return await open_lock(device.lock_url, clock=clock, keys=store)

    assert await pair_offline_locks(store, clock=clock, opener=opener) == [gate]
    yield Site(clock, store, service, gate, front.device_id, lock_id)
    forget_firmware(lock_id)
    store.close()


async def test_the_clear_all_code_revokes_every_earlier_offline_code(site: Site) -> None:
    used = site.offline_code()
    waiting = site.offline_code()
    assert site.opens(used.code)
    clear = site.clear_all()
    assert len(clear.code) == CLEAR_ALL_DIGITS
    assert clear.code.isdigit()
    assert (clear.device_id, clear.generation) == (site.gate, 1)
    assert clear.code not in repr(clear)
    after = site.offline_code()
    assert not site.opens(after.code)  # the lock is a generation behind until the code is typed

    entered = site.keypad.enter(clear.code)
    assert (entered.unlocked, entered.reason) == (False, REASON_CLEARED)
    assert site.keypad.offline.generation == 1
    assert not site.opens(used.code)
    assert not site.opens(waiting.code)
    assert site.opens(after.code)
    assert site.keypad.enter(clear.code).reason == "unknown_code"  # it works once


async def test_asked_again_with_nothing_issued_since_it_is_the_same_code(site: Site) -> None:
    first = site.clear_all()
    assert site.clear_all() == first
    again = Service(site.store).create_offline_clear_all_code(device_id=site.gate)
    assert again == first  # kept in the device's settings, not in the service
    code = site.offline_code()
    second = site.clear_all()
    assert second.generation == 2
    assert second.code != first.code
    # the lock takes them in order: the second is unknown until the first was typed
    assert site.keypad.enter(second.code).reason == "unknown_code"
    assert site.keypad.enter(first.code).reason == REASON_CLEARED
    assert site.keypad.enter(second.code).reason == REASON_CLEARED
    assert not site.opens(code.code)  # issued between the two: revoked by the second
    assert site.opens(site.offline_code().code)


async def test_codes_of_a_new_generation_have_their_own_count_per_hour(site: Site) -> None:
    for _ in range(3):
        site.offline_code()
    with pytest.raises(InvalidInput, match="at most 3"):
        site.offline_code()
    clear = site.clear_all()
    fresh = [site.offline_code() for _ in range(3)]
    assert site.keypad.enter(clear.code).reason == REASON_CLEARED
    assert all(site.opens(c.code) for c in fresh)


async def test_locks_that_cannot_take_one(site: Site) -> None:
    with pytest.raises(InvalidInput, match="not supported by this device") as err:
        site.service.create_offline_clear_all_code(device_id=site.front)
    assert set(err.value.validation_errors or {}) == {"device_id"}
    unpaired = site.service.add_device(lock_url="sim://algopin?id=never-paired-clear", name="New")
    info = get_profile("algopin").info("never-paired-clear")
    site.store.devices.update(unpaired.device_id, lambda d: replace(d, lock_info=info))
    with pytest.raises(InvalidInput, match="not been paired"):
        site.service.create_offline_clear_all_code(device_id=unpaired.device_id)
    with pytest.raises(DeviceNotFound):
        site.service.create_offline_clear_all_code(device_id="7d9c1f0e-5b2a-4e8d-9c3f-1a2b3c4d5e6f")
    assert site.store.devices.require(site.front).settings.get("offline_pins") is None


async def test_damaged_counters_are_refused(site: Site) -> None:
    site.store.devices.update(
        site.gate,
        lambda d: replace(
            d, settings={**d.settings, "offline_pins": {"generation": 0, "clear_is_newest": True}}
        ),
    )
    with pytest.raises(StoreCorrupt):
        site.clear_all()


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    _, key = site.store.api_keys.create("test")
    keypads = {site.gate: site.keypad}
    gateway = Gateway(site.service, clock=site.clock, keypads=keypads.get)
    await gateway.start()
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {key}"}
    ) as http:
        yield http
    await gateway.stop()


async def _post(http: httpx.AsyncClient, path: str, status: int, **body: Any) -> dict[str, Any]:
    res = await http.post(path, json=body)
    assert res.status_code == status, res.text
    answer: dict[str, Any] = res.json()
    assert answer["ok"] is (status == 200)
    return answer


async def test_issued_over_http_and_typed_at_the_keypad(
    site: Site, client: httpx.AsyncClient
) -> None:
    now = site.clock.now()
    created = await _post(
        client,
        "/access_codes/create",
        200,
        device_id=site.gate,
        is_offline_access_code=True,
        starts_at=now.isoformat(),
        ends_at=(now + 2 * HOUR).isoformat(),
    )
    earlier = created["access_code"]["code"]
    answer = await _post(client, PATH, 200, device_id=site.gate)
    clear = answer["clear_all_code"]
    jsonschema.validate(clear, SCHEMAS["offline_clear_all_code"])
    assert clear["device_id"] == site.gate
    assert clear["generation"] == 1
    for code, unlocked in ((clear["code"], False), (earlier, False)):
        entry = await _post(
            client, "/locks/simulate/keypad_code_entry", 200, device_id=site.gate, code=code
        )
        assert entry["action_attempt"]["result"] == {"unlocked": unlocked}
    assert site.keypad.offline.generation == 1


@pytest.mark.parametrize(
    ("who", "status", "error_type"),
    [
        ("front", 400, "invalid_input"),
        ("nobody", 404, "device_not_found"),
        (None, 400, "invalid_input"),
    ],
)
async def test_errors_use_seams_envelope(
    site: Site, client: httpx.AsyncClient, who: str | None, status: int, error_type: str
) -> None:
    ids = {"front": site.front, "nobody": "7d9c1f0e-5b2a-4e8d-9c3f-1a2b3c4d5e6f"}
    body = {} if who is None else {"device_id": ids[who]}
    answer = await _post(client, PATH, status, **body)
    assert answer["error"]["type"] == error_type
    assert answer["error"]["message"]
    jsonschema.validate(answer, SCHEMAS["error"])


async def test_the_route_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    res = await client.get("/openapi.json")
    operation = res.json()["paths"][PATH]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["device_id"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["clear_all_code"] == {
        "$ref": "#/components/schemas/offline_clear_all_code"
    }
    assert {"400", "401", "404"} <= set(operation["responses"])

"""Restart the gateway in the middle of a batch of creates: nothing accepted is lost.

Clients keep creating codes while the gateway is stopped (gracefully, or killed as by a
power cut) and started again on the same port. Every create that was answered 200 must
be there afterwards and reach its lock (`set`), and no code may appear twice.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.gateway_support import GatewayProcess, eventually, write_config

pytestmark = pytest.mark.slow

PER_LOCK = 8  # within the smaller lock (the Nuki profile holds at most 10 codes)
CLIENTS = 4


@dataclass
class Batch:
    """What the client threads share: creates left per lock, and the ids answered 200."""

    url: str
    key: str
    device_ids: list[str]
    budget: list[int]
    accepted: list[str] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def take(self) -> int | None:
        with self.guard:
            if sum(self.budget) == 0:
                return None
            index = max(range(len(self.budget)), key=lambda i: self.budget[i])
            self.budget[index] -= 1
            return index

    def give_back(self, index: int) -> None:
        with self.guard:
            self.budget[index] += 1


def _creator(batch: Batch) -> None:
    headers = {"Authorization": f"Bearer {batch.key}"}
    with httpx.Client(base_url=batch.url, headers=headers, timeout=5) as client:
        while not batch.stop.is_set():
            index = batch.take()
            if index is None:
                return
            body = {"device_id": batch.device_ids[index], "name": "Batch"}
            try:
                res = client.post("/access_codes/create", json=body)
            except httpx.TransportError:
                res = None
            if res is not None and res.status_code == 200:
                with batch.guard:
                    batch.accepted.append(res.json()["access_code"]["access_code_id"])
            else:  # refused, or never answered: that lock gets another try
                batch.give_back(index)
                batch.stop.wait(0.05)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
def test_every_accepted_create_survives_a_restart(tmp_path: Path, how: signal.Signals) -> None:
    gateway = GatewayProcess(write_config(tmp_path)).start()
    key = gateway.api_key
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=5) as api:
        device_ids = [d["device_id"] for d in api.get("/devices/list").json()["devices"]]
    batch = Batch(gateway.url, key, device_ids, [PER_LOCK] * len(device_ids))
    accepted = batch.accepted
    threads = [threading.Thread(target=_creator, args=(batch,)) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: len(accepted) >= PER_LOCK // 2, timeout=30, interval=0.005)
        at_restart = len(accepted)
        if how == signal.SIGKILL:
            gateway.kill()
        else:
            assert gateway.stop(how) == 0
        gateway.start(port=gateway.port)
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert at_restart < len(accepted)  # the batch went on across the restart
    finally:
        batch.stop.set()
        for thread in threads:
            thread.join(timeout=10)
    try:
        assert len(accepted) == PER_LOCK * len(device_ids)
        with httpx.Client(base_url=gateway.url, headers=headers, timeout=5) as api:
            stored = []
            for device_id in device_ids:
                page = api.get("/access_codes/list", params={"device_id": device_id}).json()
                stored.extend(c["access_code_id"] for c in page["access_codes"])
            assert set(accepted) <= set(stored)
            assert len(stored) == len(set(stored))
            assert len(stored) <= len(accepted) + CLIENTS  # at most the calls cut off mid-answer

            def all_set() -> bool:
                listed = []
                for device_id in device_ids:
                    page = api.get("/access_codes/list", params={"device_id": device_id}).json()
                    listed.extend(page["access_codes"])
                return all(c["status"] == "set" for c in listed if c["access_code_id"] in accepted)

            eventually(all_set, timeout=60, interval=0.25)
    finally:
        assert gateway.stop() == 0

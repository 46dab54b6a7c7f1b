"""A real reconciler process, killed with SIGKILL at random points and restarted, never loses,
duplicates or orphans a code.

Twelve simulated locks (state saved to disk, encrypted) carry hundreds of codes; between
kills the owner creates, changes and deletes codes. After the last restart has converged,
every lock's saved state is compared with the store: each wanted code in its own slot,
exactly once, and nothing else on any lock.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from keyslot.model import AccessCodeError, AccessCodeErrorCode, AccessCodeStatus, SeamApiError
from keyslot.protocol.clock import SystemClock
from keyslot.service import Service
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.state import KEY_ENV
from keyslot.store import Desired, Store

PROFILES = ("kwikset", "schlage", "split")
LOCKS = 12
CODES_PER_LOCK = 20  # the smallest profile has 25 slots: room for new codes
KILLS = 22
LATENCY = 0.004  # seconds per lock operation
DUPLICATE = AccessCodeErrorCode.DUPLICATE_CODE_ON_DEVICE


def _pin(n: int) -> str:
    """Distinct first four digits (Schlage), never all one digit (Yale), 5 digits (all)."""
    return f"{2000 + n}{n % 9 + 1}"


class Fleet:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.data = root / "data"
        self.rng = random.Random(seed)
        self.urls = [
            f"sim://{PROFILES[i % len(PROFILES)]}?id=crash-{i}&state={root / f'lock{i}.state'}"
            f"&latency={LATENCY}"
            for i in range(LOCKS)
        ]
        self.next_pin: dict[str, int] = {}

    def open(self) -> tuple[Store, Service]:
        store = Store.open(self.data, clock=SystemClock())
        return store, Service(store, clock=SystemClock())

    def populate(self) -> None:
        store, service = self.open()
        try:
            for url in self.urls:
                device = service.add_device(lock_url=url)
                for n in range(CODES_PER_LOCK):
                    service.create_access_code(
                        device_id=device.device_id, code=_pin(n), name=f"Guest {n}"
                    )
                self.next_pin[device.device_id] = CODES_PER_LOCK
        finally:
            store.close()

    def change_some(self) -> None:
        """What an owner does between two crashes: new codes, new PINs, deleted codes."""
        store, service = self.open()
        try:
            for device in store.devices.all():
                present = [
                    r
                    for r in store.access_codes.for_device(device.device_id)
                    if r.desired is Desired.PRESENT
                ]
                for record in self.rng.sample(present, k=min(2, len(present))):
                    action = self.rng.choice(["delete", "code", "name"])
                    cid = record.access_code_id
                    try:
                        if action == "delete":
                            service.delete_access_code(access_code_id=cid)
                        elif action == "code":
                            service.update_access_code(
                                access_code_id=cid, code=self._fresh(device.device_id)
                            )
                        else:
                            service.update_access_code(
                                access_code_id=cid, name=f"Renamed {self.rng.randrange(999)}"
                            )
                    except SeamApiError:
                        pass
                if self.rng.random() < 0.5 and len(present) <= CODES_PER_LOCK:
                    service.create_access_code(
                        device_id=device.device_id, code=self._fresh(device.device_id)
                    )
        finally:
            store.close()

    def _fresh(self, device_id: str) -> str:
        n = self.next_pin[device_id]
        self.next_pin[device_id] = n + 1
        return _pin(n)

    def start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "keyslot.reconciler.daemon", "--data-dir", str(self.data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the process prints "ready" or exits
        assert line.strip() == "ready", f"the daemon did not start: {line!r}"
        return proc

    def converged(self) -> bool:
        store, _ = self.open()
        try:
            for device in store.devices.all():
                for record in store.access_codes.for_device(device.device_id):
                    code = record.access_code
                    if record.desired is Desired.ABSENT or code.pending_mutations:
                        return False
                    if code.status is not AccessCodeStatus.SET:
                        return False
            return True
        finally:
            store.close()


def _close(proc: subprocess.Popen[str]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()


def audit(fleet: Fleet) -> tuple[int, int, int]:
    """(lost, duplicated, orphaned) codes across every lock's saved state."""
    store, _ = fleet.open()
    lost = duplicated = orphaned = 0
    try:
        for i, device in enumerate(store.devices.all()):
            state = fleet.root / f"lock{fleet.urls.index(device.lock_url)}.state"
            assert state.exists(), f"lock {i} never saved a state"
            firmware = LockFirmware.load(state, SystemClock())
            held = {
                index: stored.code
                for index in firmware.profile.slot_range
                if (stored := firmware.stored(index)) is not None
            }
            counts = Counter(held.values())
            duplicated += sum(n - 1 for n in counts.values() if n > 1)
            claimed: set[int] = set()
            for record in store.access_codes.for_device(device.device_id):
                code = record.access_code
                # The lock refuses a second copy of a PIN: an attempt shows as this error.
                if any(e.error_code is DUPLICATE for e in code.errors):
                    duplicated += 1
                if record.slot is None or held.get(record.slot) != code.code:
                    lost += 1
                    continue
                claimed.add(record.slot)
            orphaned += sum(1 for index in held if index not in claimed)
    finally:
        store.close()
    return lost, duplicated, orphaned


@pytest.mark.timeout(180)
def test_sigkill_at_random_points_loses_duplicates_and_orphans_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, secrets.token_hex(32))
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"crash test seed {seed}")
    fleet = Fleet(tmp_path, seed)
    fleet.populate()
    for kill in range(KILLS):
        proc = fleet.start()
        time.sleep(fleet.rng.uniform(0.01, 0.3))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL, f"kill {kill} did not land"
        _close(proc)
        fleet.change_some()
    proc = fleet.start()
    try:
        deadline = time.monotonic() + 60
        while not fleet.converged():
            assert time.monotonic() < deadline, "the fleet did not converge after the crashes"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        _close(proc)
    assert code == 0
    lost, duplicated, orphaned = audit(fleet)
    print(f"after {KILLS} kills: lost={lost} duplicated={duplicated} orphaned={orphaned}")
    assert (lost, duplicated, orphaned) == (0, 0, 0)


def test_the_audit_sees_lost_duplicated_and_orphaned_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit itself can fail: damage a converged fleet on purpose and count it."""
    monkeypatch.setenv(KEY_ENV, secrets.token_hex(32))
    fleet = Fleet(tmp_path, 1)
    fleet.urls = fleet.urls[:1]
    store, service = fleet.open()
    try:
        device = service.add_device(lock_url=fleet.urls[0])
        for n in range(3):
            service.create_access_code(device_id=device.device_id, code=_pin(n))
    finally:
        store.close()
    proc = fleet.start()
    try:
        deadline = time.monotonic() + 30
        while not fleet.converged():
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        _close(proc)
    assert audit(fleet) == (0, 0, 0)
    state = tmp_path / "lock0.state"
    firmware = LockFirmware.load(state, SystemClock())
    occupied = [i for i in firmware.profile.slot_range if firmware.stored(i) is not None]
    firmware.clear_slot(occupied[0])  # lost
    firmware.manager_set(20, "98765")  # orphaned
    firmware.save()
    store, service = fleet.open()
    try:  # a second copy of a PIN that the lock refused
        other = store.access_codes.for_device(device.device_id)[1]
        error = AccessCodeError(
            DUPLICATE, "slot 1 already holds this code", other.access_code.created_at
        )
        store.access_codes.put(
            replace(other, access_code=other.access_code.with_error(error)),
            expected_revision=other.revision,
        )
    finally:
        store.close()
    assert audit(fleet) == (1, 1, 1)


def test_the_daemon_adds_the_locks_it_is_given_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, secrets.token_hex(32))
    url = f"sim://kwikset?id=given&state={tmp_path / 'given.state'}"
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keyslot.reconciler.daemon",
            "--data-dir",
            str(data),
            "--locks",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        _close(proc)
    store = Store.open(data, clock=SystemClock())
    try:
        (device,) = store.devices.all()
        assert device.lock_url == url
        assert device.lock_info is not None  # it was reached
    finally:
        store.close()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "keyslot.reconciler.daemon",
            "--data-dir",
            str(data),
            "--locks",
            "nope://x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "not a lock URL" in bad.stderr

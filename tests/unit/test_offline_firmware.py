"""Offline PINs at the simulated keypad: pairing, windows, one-time use, clear-all, lockout
escalation, the used-code table, and what survives a reboot or a restart."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keyslot.drivers import open_lock
from keyslot.drivers.sim import SimLock
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.offline_pin import (
    USED_TABLE_SIZE,
    OfflinePinIssuer,
    OfflinePinKeys,
    OfflinePinKind,
)
from keyslot.protocol.slots import (
    FinalError,
    LockEvent,
    LockEventKind,
    NotSupported,
    SlotEntry,
)
from keyslot.service_offline_pairing import agree_offline_secret
from keyslot.simulator.firmware import REASON_CLEARED, EntryResult, LockFirmware
from keyslot.simulator.offline import PairingRefused
from keyslot.simulator.profiles import get_profile
from keyslot.simulator.state import KEY_ENV, read_state

HOUR = timedelta(hours=1)


def make(clock: ManualClock, **kwargs: object) -> tuple[LockFirmware, list[LockEvent]]:
    fw = LockFirmware(get_profile("algopin"), clock=clock, lock_id="gate", **kwargs)  # type: ignore[arg-type]
    events: list[LockEvent] = []
    fw.subscribe(events.append)
    return fw, events


def pair(fw: LockFirmware) -> OfflinePinIssuer:
    """The gateway's side of pairing, done by hand: X25519, then the same derivation."""
    host = X25519PrivateKey.generate()
    lock_public = fw.pair_offline(host.public_key().public_bytes_raw())
    shared = host.exchange(X25519PublicKey.from_public_bytes(lock_public))
    return OfflinePinIssuer(OfflinePinKeys.derive(shared, fw.info().serial_number))


def wrong_offline_codes(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.randrange(10**10):010d}" for _ in range(count)]


def test_profile_advertises_offline_pins_and_escalating_lockout() -> None:
    profile = get_profile("algopin")
    info = profile.info("gate")
    assert info.offline_pins
    assert info.code_lengths == (4, 5, 6, 7, 8)
    assert [profile.lockout_duration(n) for n in range(6)] == [120, 300, 900, 3600, 3600, 3600]
    assert get_profile("kwikset").lockout_duration(3) == get_profile("kwikset").lockout_seconds


def test_accepted_offline_code_unlocks_without_a_slot(clock: ManualClock) -> None:
    fw, events = make(clock)
    issuer = pair(fw)
    pin = issuer.issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 3 * HOUR)
    assert fw.enter(pin.code) == EntryResult(unlocked=True)
    assert events == [
        LockEvent(LockEventKind.KEYPAD_UNLOCK, clock.now(), slot=None, offline_code=True)
    ]
    clock.advance(2 * 3600 + 3599)
    assert fw.enter(pin.code).unlocked  # multi-use until its end
    assert fw.offline.used_count == 1


def test_offline_code_outside_its_window_is_expired(clock: ManualClock) -> None:
    fw, events = make(clock)
    issuer = pair(fw)
    start = clock.now() + 5 * HOUR
    pin = issuer.issue(OfflinePinKind.HOURLY, start, start + 2 * HOUR)
    early = fw.enter(pin.code)
    assert early == EntryResult(unlocked=False, reason="expired_code")
    assert events[-1] == LockEvent(
        LockEventKind.ACCESS_DENIED, clock.now(), reason="expired_code", offline_code=True
    )
    assert fw.enter(pin.code, at=start + timedelta(minutes=30)).unlocked
    assert fw.enter(pin.code, at=start + 2 * HOUR).reason == "expired_code"


def test_one_time_code_opens_once(clock: ManualClock) -> None:
    fw, _ = make(clock)
    issuer = pair(fw)
    pin = issuer.issue(OfflinePinKind.ONE_TIME, clock.now(), clock.now() + 4 * HOUR)
    assert fw.enter(pin.code).unlocked
    assert fw.enter(pin.code).reason == "expired_code"


def test_slot_table_is_tried_first_and_online_codes_still_work(clock: ManualClock) -> None:
    fw, events = make(clock)
    pair(fw)
    fw.write_slot(3, SlotEntry("48213579", "Ann"))
    assert fw.enter("48213579") == EntryResult(unlocked=True, slot=3)
    assert events[-1].offline_code is False
    # a 10-digit code is no online code of this lock: it goes to the offline verifier
    assert fw.enter("1234567890").reason == "unknown_code"
    assert events[-1].offline_code is True


def test_unpaired_lock_refuses_offline_codes(clock: ManualClock) -> None:
    fw, events = make(clock)
    other = LockFirmware(get_profile("algopin"), clock=clock, lock_id="other")
    pin = pair(other).issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + HOUR)
    assert not fw.offline.paired
    assert fw.enter(pin.code).reason == "unknown_code"
    assert events[-1].offline_code is False  # judged as a plain wrong code
    pair(fw)  # a code for another lock's keys does not open this one
    assert fw.enter(pin.code).reason == "unknown_code"


def test_pairing_needs_the_capability_and_a_real_key(clock: ManualClock) -> None:
    kwikset = LockFirmware(get_profile("kwikset"), clock=clock)
    with pytest.raises(NotSupported):
        kwikset.pair_offline(X25519PrivateKey.generate().public_key().public_bytes_raw())
    fw, _ = make(clock)
    with pytest.raises(PairingRefused) as err:
        fw.pair_offline(b"\x01" * 31)
    assert isinstance(err.value, FinalError)
    with pytest.raises(PairingRefused):
        fw.pair_offline(b"\x00" * 32)  # a low-order point
    assert not fw.offline.paired


def test_repairing_revokes_every_earlier_code(clock: ManualClock) -> None:
    fw, _ = make(clock)
    old = pair(fw).issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 5 * HOUR)
    new = pair(fw).issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 5 * HOUR)
    assert fw.enter(old.code).reason == "unknown_code"
    assert fw.enter(new.code).unlocked


def test_wrong_offline_entries_lock_the_keypad_with_escalation(clock: ManualClock) -> None:
    fw, events = make(clock)
    issuer = pair(fw)
    good = issuer.issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 48 * HOUR)
    guesses = iter(wrong_offline_codes(40))
    for expected in (120, 300, 900, 3600, 3600):
        for _ in range(4):
            assert fw.enter(next(guesses)).reason in ("unknown_code", "expired_code")
        assert fw.locked_out_until is None
        fw.enter(next(guesses))
        assert events[-1].kind is LockEventKind.LOCKOUT
        assert fw.locked_out_until == clock.now() + timedelta(seconds=expected)
        assert fw.enter(good.code).reason == "too_many_attempts"
        clock.advance(expected)
    assert fw.enter(good.code).unlocked  # a right code ends the escalation
    for _ in range(5):
        fw.enter(next(guesses))
    assert fw.locked_out_until == clock.now() + timedelta(seconds=120)


def test_static_and_offline_wrong_entries_count_together(clock: ManualClock) -> None:
    fw, events = make(clock)
    pair(fw)
    for code in ("1111", "22222", *wrong_offline_codes(2), "333333"):
        assert not fw.enter(code).unlocked
    assert events[-1].kind is LockEventKind.LOCKOUT


def test_accepted_offline_code_resets_the_wrong_count(clock: ManualClock) -> None:
    fw, events = make(clock)
    issuer = pair(fw)
    pin = issuer.issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 2 * HOUR)
    for _ in range(3):
        for code in wrong_offline_codes(4, seed=len(events)):
            fw.enter(code)
        assert fw.enter(pin.code).unlocked
    assert LockEventKind.LOCKOUT not in [e.kind for e in events]


def test_clear_all_code_revokes_earlier_codes_without_unlocking(clock: ManualClock) -> None:
    fw, events = make(clock)
    issuer = pair(fw)
    before = issuer.issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 5 * HOUR)
    assert fw.enter(before.code).unlocked
    clear = issuer.issue_clear_all(clock.now())
    after = issuer.issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 5 * HOUR)
    assert fw.enter(after.code).reason == "unknown_code"  # not yet: the lock is a generation behind
    assert fw.enter(clear.code) == EntryResult(unlocked=False, reason=REASON_CLEARED)
    assert events[-1] == LockEvent(LockEventKind.ALL_CODES_DELETED, clock.now(), offline_code=True)
    assert fw.offline.generation == 1
    assert fw.offline.used_count == 0
    assert fw.enter(before.code).reason == "unknown_code"
    assert fw.enter(after.code).unlocked
    assert fw.enter(clear.code).reason == "unknown_code"  # a clear-all code works once


def test_used_table_stays_bounded(clock: ManualClock) -> None:
    fw, _ = make(clock)
    issuer = pair(fw)
    now = clock.now()
    codes = [
        issuer.issue(OfflinePinKind.HOURLY, now - h * HOUR, now + 2 * HOUR).code
        for h in range(22)
        for _ in range(3)
    ]
    assert len(set(codes)) == 66 > USED_TABLE_SIZE
    for code in codes:
        assert fw.enter(code).unlocked
    assert fw.offline.used_count == USED_TABLE_SIZE


def test_offline_state_survives_reboot_and_restart_without_pins(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    state = tmp_path / "gate.lock"
    fw, _ = make(clock, state_path=state)
    issuer = pair(fw)
    once = issuer.issue(OfflinePinKind.ONE_TIME, clock.now(), clock.now() + 2 * HOUR)
    multi = issuer.issue(OfflinePinKind.HOURLY, clock.now(), clock.now() + 48 * HOUR)
    assert fw.enter(once.code).unlocked
    assert fw.enter(multi.code).unlocked
    for code in wrong_offline_codes(5):
        fw.enter(code)
    assert fw.locked_out_until == clock.now() + timedelta(seconds=120)
    fw.reboot()
    assert not fw.locked_out_until  # a power cycle ends the lockout ...
    for code in wrong_offline_codes(5, seed=9):
        fw.enter(code)
    assert fw.locked_out_until == clock.now() + timedelta(seconds=300)  # ... not the escalation
    clock.advance(300)

    saved = read_state(state)
    text = json.dumps(saved)
    assert once.code not in text
    assert multi.code not in text
    assert once.code.encode() not in state.read_bytes()

    clock.advance(30 * 3600)  # past the activation window: only a remembered code still works
    again = LockFirmware.load(state, clock)
    assert again.offline.paired
    assert again.enter(multi.code).unlocked
    assert again.enter(once.code).reason == "expired_code"


def test_damaged_offline_record_is_reported(tmp_path: Path, clock: ManualClock) -> None:
    from keyslot.simulator.state import SimulatorStateError, write_state

    state = tmp_path / "gate.lock"
    fw, _ = make(clock, state_path=state)
    pair(fw)
    saved = read_state(state)
    saved["offline"]["secret"] = "zz"
    write_state(state, saved)
    with pytest.raises(SimulatorStateError, match="damaged"):
        LockFirmware.load(state, clock)


async def test_sim_driver_pairs_and_both_sides_agree(clock: ManualClock) -> None:
    lock = await open_lock("sim://algopin", clock=clock)
    assert isinstance(lock, SimLock)
    try:
        info = await lock.info()
        secret = await agree_offline_secret(lock)
        issuer = OfflinePinIssuer(OfflinePinKeys.derive(secret, info.serial_number))
        pin = issuer.issue(OfflinePinKind.DAILY, clock.now(), clock.now() + timedelta(days=2))
        assert pin.starts_at == datetime(2026, 3, 2, tzinfo=clock.now().tzinfo)
        assert lock.firmware.enter(pin.code).unlocked
    finally:
        await lock.aclose()


async def test_sim_driver_without_offline_pins_says_not_supported(clock: ManualClock) -> None:
    lock = await open_lock("sim://nuki", clock=clock)
    try:
        with pytest.raises(NotSupported):
            await agree_offline_secret(lock)
    finally:
        await lock.aclose()

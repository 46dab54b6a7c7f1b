from datetime import UTC, datetime, timedelta

import pytest

from keyslot.protocol.offline_pin import (
    CODES_PER_START_SLOT,
    USED_TABLE_SIZE,
    OfflinePinError,
    OfflinePinIssuer,
    OfflinePinKeys,
    OfflinePinKind,
    OfflinePinVerifier,
)

KEYS = OfflinePinKeys.derive(b"\x07" * 32, "lock-1")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pair() -> tuple[OfflinePinIssuer, OfflinePinVerifier]:
    return OfflinePinIssuer(KEYS), OfflinePinVerifier(KEYS)


def test_hourly_code_inside_and_outside_window() -> None:
    issuer, lock = pair()
    pin = issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=3))
    assert len(pin.code) == 10
    assert (pin.starts_at, pin.ends_at) == (T0, T0 + timedelta(hours=3))
    assert lock.verify(pin.code, T0 - timedelta(hours=3)).reason == "not_yet_active"
    assert lock.verify(pin.code, T0 + timedelta(minutes=5)).accepted
    assert lock.verify(pin.code, T0 + timedelta(hours=2, minutes=59)).accepted
    assert lock.verify(pin.code, T0 + timedelta(hours=3)).reason == "expired_code"


def test_window_rounds_outward_to_whole_hours() -> None:
    issuer, _ = pair()
    pin = issuer.issue(
        OfflinePinKind.HOURLY, T0 + timedelta(minutes=20), T0 + timedelta(hours=1, minutes=10)
    )
    assert pin.starts_at == T0
    assert pin.ends_at == T0 + timedelta(hours=2)


def test_first_use_must_fall_in_activation_window() -> None:
    issuer, lock = pair()
    pin = issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=72))
    assert lock.verify(pin.code, T0 + timedelta(hours=25)).reason == "expired_code"
    issuer2, lock2 = pair()
    pin2 = issuer2.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=72))
    assert lock2.verify(pin2.code, T0 + timedelta(hours=1)).accepted
    # once used, it keeps working for its whole window
    assert lock2.verify(pin2.code, T0 + timedelta(hours=60)).accepted


def test_daily_code() -> None:
    issuer, lock = pair()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    pin = issuer.issue(OfflinePinKind.DAILY, start, start + timedelta(days=30))
    assert pin.ends_at == start + timedelta(days=30)
    assert lock.verify(pin.code, start + timedelta(hours=10)).accepted
    assert lock.verify(pin.code, start + timedelta(days=29, hours=23)).accepted
    assert lock.verify(pin.code, start + timedelta(days=30)).reason == "expired_code"


def test_one_time_code_refused_on_second_use() -> None:
    issuer, lock = pair()
    pin = issuer.issue(OfflinePinKind.ONE_TIME, T0, T0 + timedelta(hours=1))
    assert lock.verify(pin.code, T0 + timedelta(minutes=1)).accepted
    assert lock.verify(pin.code, T0 + timedelta(minutes=2)).reason == "already_used"


def test_limit_per_start_slot() -> None:
    issuer, _ = pair()
    codes = {
        issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=2)).code
        for _ in range(CODES_PER_START_SLOT)
    }
    assert len(codes) == CODES_PER_START_SLOT
    with pytest.raises(OfflinePinError, match="at most 3"):
        issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=2))


def test_duration_limits() -> None:
    issuer, _ = pair()
    with pytest.raises(OfflinePinError, match="at most 672 hours"):
        issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=673))
    with pytest.raises(OfflinePinError, match="at most 367 days"):
        issuer.issue(OfflinePinKind.DAILY, T0, T0 + timedelta(days=400))


def test_clear_all_revokes_every_earlier_code() -> None:
    issuer, lock = pair()
    old = issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=48))
    assert lock.verify(old.code, T0 + timedelta(minutes=1)).accepted
    clear = issuer.issue_clear_all(T0 + timedelta(hours=1))
    assert len(clear.code) == 12
    verdict = lock.verify(clear.code, T0 + timedelta(hours=1))
    assert verdict.accepted
    assert verdict.cleared
    assert lock.verify(old.code, T0 + timedelta(hours=2)).reason == "unknown_code"
    new = issuer.issue(OfflinePinKind.HOURLY, T0 + timedelta(hours=2), T0 + timedelta(hours=4))
    assert lock.verify(new.code, T0 + timedelta(hours=2)).accepted
    # a clear-all code cannot be replayed
    assert not lock.verify(clear.code, T0 + timedelta(hours=3)).accepted


def test_new_generation_codes_wait_for_the_clear_all_code() -> None:
    issuer, lock = pair()
    old = issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=48))
    assert lock.verify(old.code, T0).accepted
    clear = issuer.issue_clear_all(T0)
    new = issuer.issue(OfflinePinKind.HOURLY, T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    # a 5-digit tag must never advance the generation: that would let guesses revoke codes
    assert lock.verify(new.code, T0 + timedelta(hours=1)).reason == "unknown_code"
    assert lock.generation == 0
    assert lock.verify(clear.code, T0 + timedelta(hours=1)).cleared
    assert lock.verify(new.code, T0 + timedelta(hours=1)).accepted
    assert lock.verify(old.code, T0 + timedelta(hours=1)).reason == "unknown_code"


def test_wrong_key_refuses() -> None:
    issuer = OfflinePinIssuer(KEYS)
    other = OfflinePinVerifier(OfflinePinKeys.derive(b"\x08" * 32, "lock-1"))
    pin = issuer.issue(OfflinePinKind.HOURLY, T0, T0 + timedelta(hours=2))
    assert other.verify(pin.code, T0).reason == "unknown_code"


def test_malformed_entries() -> None:
    _, lock = pair()
    for entry in ("", "12ab567890", "123", "12345678901"):
        assert lock.verify(entry, T0).reason == "unknown_code"


def test_used_table_is_bounded_and_evicts_expired_first() -> None:
    issuer, lock = pair()
    short = issuer.issue(OfflinePinKind.ONE_TIME, T0, T0 + timedelta(hours=1))
    assert lock.verify(short.code, T0).accepted
    start = T0 + timedelta(hours=1)
    for h in range(USED_TABLE_SIZE):
        at = start + timedelta(hours=h // CODES_PER_START_SLOT)
        pin = issuer.issue(OfflinePinKind.HOURLY, at, at + timedelta(hours=400))
        assert lock.verify(pin.code, at).accepted
    assert lock.used_count == USED_TABLE_SIZE
    # the expired one-time code was evicted first, so the table kept every live code


def test_state_round_trip_holds_no_pin() -> None:
    issuer, lock = pair()
    pin = issuer.issue(OfflinePinKind.ONE_TIME, T0, T0 + timedelta(hours=1))
    assert lock.verify(pin.code, T0).accepted
    state = lock.export_state()
    assert pin.code not in repr(state)
    restored = OfflinePinVerifier(KEYS)
    restored.import_state(state)
    assert restored.verify(pin.code, T0 + timedelta(minutes=1)).reason == "already_used"
    assert pin.code not in repr(pin)

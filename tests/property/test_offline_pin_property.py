from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from keyslot.protocol.offline_pin import (
    OfflinePinIssuer,
    OfflinePinKeys,
    OfflinePinKind,
    OfflinePinVerifier,
)

KEYS = OfflinePinKeys.derive(b"\x11" * 32, "lock-prop")
BASE = datetime(2026, 1, 1, tzinfo=UTC)

starts = st.integers(0, 24 * 400).map(lambda h: BASE + timedelta(hours=h))


@settings(max_examples=200, deadline=None)
@given(starts, st.integers(1, 672), st.floats(0, 0.999))
def test_hourly_round_trip_inside_window(start: datetime, hours: int, frac: float) -> None:
    pin = OfflinePinIssuer(KEYS).issue(OfflinePinKind.HOURLY, start, start + timedelta(hours=hours))
    lock = OfflinePinVerifier(KEYS)
    inside = (
        pin.starts_at
        + (min(pin.ends_at, pin.starts_at + timedelta(hours=24)) - pin.starts_at) * frac
    )
    assert lock.verify(pin.code, inside).accepted
    assert not OfflinePinVerifier(KEYS).verify(pin.code, pin.ends_at).accepted
    assert (
        not OfflinePinVerifier(KEYS).verify(pin.code, pin.starts_at - timedelta(hours=2)).accepted
    )


@settings(max_examples=100, deadline=None)
@given(starts, st.integers(1, 5))
def test_one_time_refused_on_second_use(start: datetime, hours: int) -> None:
    pin = OfflinePinIssuer(KEYS).issue(
        OfflinePinKind.ONE_TIME, start, start + timedelta(hours=hours)
    )
    lock = OfflinePinVerifier(KEYS)
    assert lock.verify(pin.code, pin.starts_at).accepted
    assert lock.verify(pin.code, pin.starts_at + timedelta(minutes=1)).reason == "already_used"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 200), st.integers(1, 300), st.sampled_from(list(OfflinePinKind)[:3])
        ),
        max_size=40,
    )
)
def test_no_two_issued_codes_equal(requests: list[tuple[int, int, OfflinePinKind]]) -> None:
    issuer = OfflinePinIssuer(KEYS)
    codes = []
    for start_h, hours, kind in requests:
        start = BASE + timedelta(hours=start_h)
        try:
            codes.append(issuer.issue(kind, start, start + timedelta(hours=hours)).code)
        except ValueError:
            continue
    assert len(codes) == len(set(codes))


@settings(max_examples=50, deadline=None)
@given(st.lists(starts, min_size=1, max_size=6), starts)
def test_clear_all_refuses_every_earlier_code(issue_at: list[datetime], clear_at: datetime) -> None:
    issuer = OfflinePinIssuer(KEYS)
    pins = []
    for at in issue_at:
        try:
            pins.append(issuer.issue(OfflinePinKind.HOURLY, at, at + timedelta(hours=48)))
        except ValueError:
            continue
    clear = issuer.issue_clear_all(clear_at)
    lock = OfflinePinVerifier(KEYS)
    assert lock.verify(clear.code, clear_at).cleared
    for pin in pins:
        assert not lock.verify(pin.code, pin.starts_at + timedelta(minutes=30)).accepted

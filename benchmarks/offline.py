"""Offline PIN benchmark: issue rate, verification time, and random-guess acceptance.

Run: .venv/bin/python benchmarks/offline.py [--guesses 1000000]
The predicted acceptance rate is computed exactly from the scheme's tables: a random
10-digit entry decrypts to a uniform integer; it is accepted when its fields are valid,
its 5-digit tag matches for the start the lock derives, and the lock's clock falls in
that start's activation and validity window.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from keyslot.protocol.offline_pin import (
    ACTIVATION_WINDOW,
    CLOCK_SKEW,
    CODES_PER_START_SLOT,
    DAILY_DURATIONS,
    HOURLY_DURATIONS,
    ONE_TIME_ACTIVATION_WINDOW,
    START_MODULUS,
    TAG_DIGITS,
    OfflinePinIssuer,
    OfflinePinKeys,
    OfflinePinKind,
    OfflinePinVerifier,
)

NOW = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)


def predicted_rate(now: datetime) -> float:
    """Probability that one uniformly random 10-digit entry is accepted at `now`."""
    total = 0
    for kind in (OfflinePinKind.HOURLY, OfflinePinKind.DAILY, OfflinePinKind.ONE_TIME):
        daily = kind is OfflinePinKind.DAILY
        table = DAILY_DURATIONS if daily else HOURLY_DURATIONS
        unit = timedelta(days=1) if daily else timedelta(hours=1)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        probe = now + CLOCK_SKEW
        current = (probe - epoch) // unit
        window = (
            ONE_TIME_ACTIVATION_WINDOW if kind is OfflinePinKind.ONE_TIME else ACTIVATION_WINDOW
        )
        for start_mod in range(START_MODULUS):
            latest = current - ((current - start_mod) % START_MODULUS)
            start = epoch + latest * unit
            for length in table:
                end = start + length * unit
                if now < end and now < start + window and start <= probe:
                    total += CODES_PER_START_SLOT  # every sequence number has the same window
    return total / 10**10 * 1  # each valid field combination has 1 tag out of 10**TAG_DIGITS


def predicted_tag_match_rate() -> float:
    """Probability that a random entry decodes to valid fields whose tag matches either start
    candidate (the lock then answers expired/not-yet-active instead of unknown)."""
    valid = sum(
        CODES_PER_START_SLOT * START_MODULUS * len(t)
        for t in (HOURLY_DURATIONS, DAILY_DURATIONS, HOURLY_DURATIONS)
    )
    return valid / 10**5 * 2 / 10**TAG_DIGITS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guesses", type=int, default=1_000_000)
    parser.add_argument("--issues", type=int, default=20_000)
    args = parser.parse_args()
    keys = OfflinePinKeys.derive(b"\x42" * 32, "bench-lock")

    issuer = OfflinePinIssuer(keys)
    t = time.perf_counter()
    for i in range(args.issues):
        start = NOW + timedelta(hours=i // 3)
        issuer.issue(OfflinePinKind.HOURLY, start, start + timedelta(hours=5))
    issue_rate = args.issues / (time.perf_counter() - t)

    lock = OfflinePinVerifier(keys)
    rng = random.Random(1)
    accepted = tag_matches = 0
    t = time.perf_counter()
    for _ in range(args.guesses):
        verdict = lock.verify(f"{rng.randrange(10**10):010d}", NOW)
        if verdict.reason != "unknown_code":
            tag_matches += 1
        if verdict.accepted:
            accepted += 1
            lock = OfflinePinVerifier(keys)  # a fresh lock: accepted guesses stay independent
    elapsed = time.perf_counter() - t
    predicted = predicted_rate(NOW)
    print(f"codes issued per second:        {issue_rate:,.0f}")
    print(f"verification time per entry:    {elapsed / args.guesses * 1e6:.1f} µs")
    print(f"random guesses tried:           {args.guesses:,}")
    print(f"accepted:                       {accepted}")
    print(f"measured acceptance per guess:  {accepted / args.guesses:.2e}")
    print(f"predicted acceptance per guess: {predicted:.2e}  (tag {TAG_DIGITS} digits)")
    print(f"tag matches (any window):       {tag_matches}  ({tag_matches / args.guesses:.2e})")
    print(f"predicted tag-match rate:       {predicted_tag_match_rate():.2e}")


if __name__ == "__main__":
    main()

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyslot.protocol.clock import ManualClock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lock-url",
        action="store",
        default=None,
        help="run the conformance suite against a real lock, e.g. serial:///dev/ttyUSB0",
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.store import Store


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


@pytest.fixture
def store(clock: ManualClock) -> Iterator[Store]:
    """An in-memory store on the test's clock (a module may define its own `store`)."""
    s = Store.memory(clock=clock)
    yield s
    s.close()

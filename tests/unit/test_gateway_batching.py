"""API calls of the same moment share one commit, each in its own savepoint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyslot.gateway.batching import CallBatcher
from keyslot.protocol.clock import ManualClock
from keyslot.store import Store

WAIT = 10.0


class Refused(Exception):
    pass


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    return Store(tmp_path / "keyslot.db", key=bytes(32), clock=clock, group_commit=True)


def names(store: Store) -> list[str]:
    return sorted(k.name for k in store.api_keys.all())


async def test_calls_of_one_moment_share_a_commit(store: Store) -> None:
    batcher = CallBatcher(store)
    commits = store._db.commits
    results = await asyncio.wait_for(
        asyncio.gather(
            *(batcher.run(lambda n=n: store.api_keys.create(f"k{n}")) for n in range(6))
        ),
        WAIT,
    )
    assert len(results) == 6
    assert store._db.commits == commits + 1
    assert batcher.stats.commits == 1
    assert batcher.stats.calls == 6
    assert names(store) == [f"k{n}" for n in range(6)]
    barrier = store._db.durability
    assert barrier is not None
    assert not barrier.pending  # answered only once on disk
    store.close()


async def test_a_failing_call_loses_only_its_own_writes(store: Store) -> None:
    batcher = CallBatcher(store)

    def half_then_fail() -> None:
        store.api_keys.create("half")
        raise Refused

    calls = [
        batcher.run(lambda: store.api_keys.create("before")),
        batcher.run(half_then_fail),
        batcher.run(lambda: store.api_keys.create("after")),
    ]
    outcome = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), WAIT)
    assert isinstance(outcome[1], Refused)
    assert not isinstance(outcome[0], BaseException)
    assert not isinstance(outcome[2], BaseException)
    assert names(store) == ["after", "before"]
    store.close()


async def test_a_later_call_sees_what_an_earlier_one_wrote(store: Store) -> None:
    batcher = CallBatcher(store)
    first = batcher.run(lambda: store.api_keys.create("first"))
    count = batcher.run(lambda: len(store.api_keys.all()))
    _, seen = await asyncio.wait_for(asyncio.gather(first, count), WAIT)
    assert seen == 1
    store.close()


async def test_closing_finishes_queued_calls_and_refuses_new_ones(store: Store) -> None:
    batcher = CallBatcher(store)
    pending = asyncio.ensure_future(batcher.run(lambda: store.api_keys.create("queued")))
    await asyncio.sleep(0)
    await asyncio.wait_for(batcher.aclose(), WAIT)
    await asyncio.wait_for(pending, WAIT)
    assert names(store) == ["queued"]
    with pytest.raises(RuntimeError, match="shutting down"):
        await batcher.run(lambda: None)
    store.close()


class _SlowDisk:
    """A store whose fsync waits until the test lets it finish."""

    def __init__(self) -> None:
        self.synced = asyncio.Event()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    async def durable(self) -> None:
        await self.synced.wait()


async def test_a_batch_commits_while_the_previous_one_syncs() -> None:
    disk = _SlowDisk()
    batcher = CallBatcher(disk)
    first = asyncio.ensure_future(batcher.run(lambda: "first"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert batcher.stats.commits == 1
    assert not first.done()  # waiting for its fsync
    second = asyncio.ensure_future(batcher.run(lambda: "second"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert batcher.stats.commits == 2  # committed without waiting for the first fsync
    assert not first.done()  # nobody is answered before the disk
    assert not second.done()
    disk.synced.set()
    assert await asyncio.wait_for(asyncio.gather(first, second), WAIT) == ["first", "second"]
    await asyncio.wait_for(batcher.aclose(), WAIT)

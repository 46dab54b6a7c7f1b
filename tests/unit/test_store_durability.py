"""Group commit: commits skip the fsync, and `durable()` shares one fsync of the WAL among
every commit made before it started; the gateway answers a change only after that fsync.

`os.fsync` is wrapped to see which file each call syncs (SQLite's own syncs do not go
through it), and can be held, to look at what waits while an fsync is running.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keyslot.gateway.app import Gateway
from keyslot.protocol.clock import ManualClock
from keyslot.service import Service
from keyslot.store import Store, StoreError
from keyslot.store.checkpoint import Checkpointer

WAIT = 10.0  # seconds any step may take before the test fails instead of hanging


class FsyncSpy:
    """Records the path of each `os.fsync`; can hold one or fail them."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.done: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.hold_next = False
        self.error: OSError | None = None
        self._real = os.fsync
        self._guard = threading.Lock()

    def __call__(self, fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        with self._guard:
            self.paths.append(path)
            hold = self.hold_next and path.endswith("-wal")
            if hold:
                self.hold_next = False
                self.release.clear()
        if hold:
            self.entered.set()
            assert self.release.wait(WAIT), "the held fsync was never released"
        if self.error is not None:
            raise self.error
        self._real(fd)
        with self._guard:
            self.done.append(path)

    def wal_syncs(self, *, finished: bool = False) -> int:
        return sum(1 for p in (self.done if finished else self.paths) if p.endswith("-wal"))

    def hold(self) -> None:
        """Block the next fsync of the WAL until `release` is set."""
        self.entered.clear()
        self.hold_next = True


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> FsyncSpy:
    fake = FsyncSpy()
    monkeypatch.setattr(os, "fsync", fake)
    return fake


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    s = Store(tmp_path / "keyslot.db", key=bytes(32), clock=clock, group_commit=True)
    yield s
    s.close()


def commit(store: Store, n: int = 1) -> None:
    for i in range(n):
        store.api_keys.create(f"key {i}")


def synchronous(store: Store) -> int:
    row = store._db.one("PRAGMA synchronous")
    assert row is not None
    return int(row[0])


def test_group_commit_commits_without_fsync_and_the_default_keeps_full(tmp_path: Path) -> None:
    with Store(tmp_path / "group.db", key=bytes(32), group_commit=True) as grouped:
        assert synchronous(grouped) == 1  # NORMAL: no sync per commit
        assert grouped.group_commit
    with Store(tmp_path / "full.db", key=bytes(32)) as full:
        assert synchronous(full) == 2  # FULL: each commit synced before it returns
        assert not full.group_commit
        assert full.durability_stats is None


def test_opening_syncs_the_new_files_and_their_directory(
    tmp_path: Path, spy: FsyncSpy, clock: ManualClock
) -> None:
    with Store(tmp_path / "keyslot.db", key=bytes(32), clock=clock, group_commit=True):
        synced = set(spy.paths)
    assert str(tmp_path / "keyslot.db-wal") in synced
    assert str(tmp_path / "keyslot.db") in synced
    assert str(tmp_path) in synced


async def test_concurrent_waiters_share_one_fsync_of_the_wal(store: Store, spy: FsyncSpy) -> None:
    commit(store, 5)
    before = spy.wal_syncs()
    await asyncio.wait_for(asyncio.gather(*(store.durable() for _ in range(8))), WAIT)
    assert spy.wal_syncs() == before + 1
    stats = store.durability_stats
    assert stats is not None
    assert stats.waits >= 1


async def test_nothing_new_needs_no_fsync(store: Store, spy: FsyncSpy) -> None:
    commit(store)
    await asyncio.wait_for(store.durable(), WAIT)
    count = len(spy.paths)
    store.api_keys.all()  # a read commits nothing
    await asyncio.wait_for(store.durable(), WAIT)
    assert len(spy.paths) == count


async def test_each_batch_gets_its_own_fsync(store: Store, spy: FsyncSpy) -> None:
    before = spy.wal_syncs()
    for batch in range(1, 4):
        commit(store, 3)
        await asyncio.wait_for(asyncio.gather(store.durable(), store.durable()), WAIT)
        assert spy.wal_syncs() == before + batch


async def test_a_commit_after_the_fsync_started_waits_for_the_next(
    store: Store, spy: FsyncSpy
) -> None:
    base = spy.wal_syncs(finished=True)
    commit(store)
    spy.hold()
    first = asyncio.create_task(store.durable())
    assert await asyncio.to_thread(spy.entered.wait, WAIT), "no fsync started"
    commit(store)  # lands while the first fsync is running
    second = asyncio.create_task(store.durable())
    finished_at: dict[str, int] = {}
    first.add_done_callback(lambda _: finished_at.setdefault("first", spy.wal_syncs(finished=True)))
    second.add_done_callback(
        lambda _: finished_at.setdefault("second", spy.wal_syncs(finished=True))
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done()
    assert not second.done()
    spy.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), WAIT)
    assert finished_at["first"] == base + 1
    assert finished_at["second"] == base + 2  # the first fsync did not count for it


async def test_a_cancelled_waiter_does_not_stop_the_fsync(store: Store, spy: FsyncSpy) -> None:
    commit(store)
    spy.hold()
    waiter = asyncio.create_task(store.durable())
    assert await asyncio.to_thread(spy.entered.wait, WAIT)
    other = asyncio.create_task(store.durable())
    waiter.cancel()
    spy.release.set()
    await asyncio.wait_for(other, WAIT)
    assert waiter.cancelled()
    barrier = store._db.durability
    assert barrier is not None
    assert not barrier.pending


async def test_a_failed_fsync_fails_every_later_wait(store: Store, spy: FsyncSpy) -> None:
    commit(store)
    spy.error = OSError(errno.EIO, "Input/output error")
    with pytest.raises(StoreError, match="could not flush"):
        await asyncio.wait_for(store.durable(), WAIT)
    spy.error = None
    commit(store)
    with pytest.raises(StoreError):  # a later fsync could succeed without the lost pages
        await asyncio.wait_for(store.durable(), WAIT)
    with pytest.raises(StoreError):
        store.sync_durable()


def test_sync_durable_is_the_barrier_without_a_loop(store: Store, spy: FsyncSpy) -> None:
    before = spy.wal_syncs()
    commit(store, 2)
    store.sync_durable()
    assert spy.wal_syncs() == before + 1
    store.sync_durable()
    assert spy.wal_syncs() == before + 1


async def test_without_group_commit_durable_returns_at_once(tmp_path: Path, spy: FsyncSpy) -> None:
    with Store(tmp_path / "full.db", key=bytes(32)) as full:
        full.api_keys.create("k")
        await asyncio.wait_for(full.durable(), WAIT)
        full.sync_durable()
    assert spy.paths == []


def test_committed_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "keyslot.db"
    with Store(path, key=bytes(32), group_commit=True) as first:
        record, _ = first.api_keys.create("kept")
        first.sync_durable()
    with Store(path, key=bytes(32), group_commit=True) as again:
        assert [k.api_key_id for k in again.api_keys.all()] == [record.api_key_id]


async def test_the_gateway_answers_a_create_only_after_its_fsync(
    store: Store, spy: FsyncSpy, clock: ManualClock
) -> None:
    service = Service(store, clock=clock)
    device = service.add_device(lock_url="sim://kwikset?id=durable", name="Front door")
    _, key = store.api_keys.create("test")
    await store.durable()
    gateway = Gateway(service, clock=clock)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        spy.hold()
        call = asyncio.create_task(
            client.post("/access_codes/create", json={"device_id": device.device_id})
        )
        assert await asyncio.to_thread(spy.entered.wait, WAIT), "the create did not fsync"
        assert store.access_codes.count(device.device_id) == 1  # committed ...
        for _ in range(20):
            await asyncio.sleep(0)
        assert not call.done()  # ... but not answered before its fsync ends
        synced = spy.wal_syncs(finished=True)
        spy.release.set()
        res = await asyncio.wait_for(call, WAIT)
        assert res.status_code == 200
        assert spy.wal_syncs(finished=True) == synced + 1


async def test_the_gateway_answers_500_when_the_disk_refuses(
    store: Store, spy: FsyncSpy, clock: ManualClock
) -> None:
    service = Service(store, clock=clock)
    device = service.add_device(lock_url="sim://kwikset?id=broken", name="Back door")
    _, key = store.api_keys.create("test")
    await store.durable()
    gateway = Gateway(service, clock=clock)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gw", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        spy.error = OSError(errno.EIO, "Input/output error")
        res = await client.post("/access_codes/create", json={"device_id": device.device_id})
    assert res.status_code == 500
    assert res.json()["error"]["type"] == "store_error"


def _count_in_another_process(path: Path) -> int:
    """Open the store in a fresh process, count its API keys, close it (as the CLI does)."""
    script = (
        "import sys\n"
        "from keyslot.store import Store\n"
        "with Store(sys.argv[1], key=bytes(32)) as store:\n"
        "    print(len(store.api_keys.all()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT * 3,
    )
    return int(out.stdout.strip())


async def test_another_process_closing_the_store_leaves_our_wal_alone(
    tmp_path: Path, clock: ManualClock
) -> None:
    """The barrier's own descriptors must not drop SQLite's locks: if they did, another
    process closing the database would take itself for the last user and delete our WAL,
    and what we commit afterwards would be visible to nobody."""
    path = tmp_path / "keyslot.db"
    with Store(path, key=bytes(32), clock=clock, group_commit=True) as ours:
        commit(ours, 2)
        await asyncio.wait_for(ours.durable(), WAIT)
        assert _count_in_another_process(path) == 2
        commit(ours, 1)
        await asyncio.wait_for(ours.durable(), WAIT)
        assert _count_in_another_process(path) == 3


def test_a_thread_of_its_own_checkpoints_the_wal(tmp_path: Path, clock: ManualClock) -> None:
    store = Store(tmp_path / "keyslot.db", key=bytes(32), clock=clock, group_commit=True)
    try:
        autocheckpoint = store._db.one("PRAGMA wal_autocheckpoint")
        assert autocheckpoint is not None
        assert autocheckpoint[0] > 1000  # SQLite's own, in the committing thread: only a backstop
        own = store._db._checkpointer
        assert own is not None
        own.close()  # replaced by the same kind of thread on a timer that never fires here
        store._db._checkpointer = None
        checkpointer = Checkpointer(store.path, lambda: store._db.commits, interval=3600)
        try:
            commit(store, 30)
            size = (tmp_path / "keyslot.db").stat().st_size
            checkpointer.run_once()
            assert checkpointer.runs == 1
            assert (tmp_path / "keyslot.db").stat().st_size > size  # the pages reached the file
            checkpointer.run_once()  # nothing committed since: nothing to do
            assert checkpointer.runs == 1
        finally:
            checkpointer.close()
        assert not checkpointer._thread.is_alive()
    finally:
        store.close()

"""The cache of decoded access codes: an unchanged row is not decrypted again, and any
other version of a row (a new revision, another process's write, a rolled-back write) is."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keyslot.model import AccessCode, CreatingMutation
from keyslot.protocol.clock import ManualClock
from keyslot.store import CodeRecord, Desired, DeviceRecord, Store
from keyslot.store.cache import CodeCache

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = b"\x22" * 32


class Undo(Exception):
    """Rolls a transaction back on purpose."""


def device(device_id: str) -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id,
        lock_url=f"sim://kwikset?id={device_id}",
        name=device_id,
        transport="sim",
        created_at=T0,
    )


def code(n: int, device_id: str = "dev-1", **changes: Any) -> CodeRecord:
    access_code = AccessCode(
        access_code_id=f"00000000-0000-4000-8000-{n:012d}",
        device_id=device_id,
        workspace_id="ws",
        created_at=T0 + timedelta(seconds=n),
        name=f"Guest {n}",
        code=f"{1000 + n}",
        pending_mutations=(CreatingMutation(T0),),
    )
    return CodeRecord(replace(access_code, **changes))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "keyslot.db", key=KEY, clock=ManualClock(T0))
    s.devices.put(device("dev-1"))
    s.devices.put(device("dev-2"))
    return s


@pytest.fixture
def opened(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rows whose sealed bodies were decrypted."""
    seen: list[str] = []
    cipher = store._db.cipher
    original = cipher.open

    def spy(blob: bytes, aad: str) -> bytes:
        seen.append(aad)
        return original(blob, aad)

    monkeypatch.setattr(cipher, "open", spy)
    return seen


def rename(store: Store, access_code_id: str, name: str) -> None:
    store.access_codes.update(
        access_code_id, lambda r: replace(r, access_code=replace(r.access_code, name=name))
    )


def test_an_unchanged_row_is_decoded_once(store: Store, opened: list[str]) -> None:
    for n in range(3):
        store.access_codes.put(code(n))
    assert opened == []  # a write keeps what it wrote
    first = store.access_codes.for_device("dev-1")
    again = store.access_codes.for_device("dev-1")
    assert opened == []
    assert [r.access_code.name for r in again] == ["Guest 0", "Guest 1", "Guest 2"]
    assert first == again
    assert store.access_codes.get(first[0].access_code_id) == first[0]


def test_a_write_is_read_back_as_written(store: Store) -> None:
    stored = store.access_codes.put(code(1))
    with Store(store.path, key=KEY) as other:
        assert other.access_codes.require(stored.access_code_id) == stored


def test_a_new_revision_is_seen(store: Store) -> None:
    first = store.access_codes.put(code(1))
    store.access_codes.get(first.access_code_id)
    rename(store, first.access_code_id, "Renamed")
    got = store.access_codes.require(first.access_code_id)
    assert got.access_code.name == "Renamed"
    assert got.revision == first.revision + 1


def test_another_processes_rewrite_at_the_same_revision_is_seen(
    store: Store, opened: list[str]
) -> None:
    first = store.access_codes.put(code(1))
    assert store.access_codes.require(first.access_code_id).access_code.name == "Guest 1"
    with Store(store.path, key=KEY) as other:  # deleted and created again: revision 1 again
        other.access_codes.delete(first.access_code_id)
        other.access_codes.put(code(1, name="Someone else"), expected_revision=0)
    opened.clear()
    again = store.access_codes.require(first.access_code_id)
    assert again.revision == first.revision
    assert again.access_code.name == "Someone else"
    assert opened == [f"access_codes:{first.access_code_id}"]


def test_a_rolled_back_write_leaves_nothing_behind(store: Store) -> None:
    first = store.access_codes.put(code(1))

    def write_then_fail() -> None:
        with store.transaction():
            rename(store, first.access_code_id, "Never")
            raise Undo

    with pytest.raises(Undo):
        write_then_fail()
    assert store.access_codes.require(first.access_code_id).access_code.name == "Guest 1"


def test_a_deleted_row_is_forgotten(store: Store) -> None:
    first = store.access_codes.put(code(1))
    store.access_codes.page_json()
    store.access_codes.delete(first.access_code_id)
    assert store.access_codes.get(first.access_code_id) is None
    assert store.access_codes.cache.sizes == (0, 0)


def test_json_pages_match_the_records_and_their_cursors(store: Store, opened: list[str]) -> None:
    for n in range(7):
        store.access_codes.put(code(n, device_id="dev-1" if n % 2 else "dev-2"))
    store.access_codes.update(code(3).access_code_id, lambda r: replace(r, desired=Desired.ABSENT))
    filters: list[dict[str, Any]] = [{}, {"device_id": "dev-1"}, {"include_absent": False}]
    for kwargs in filters:
        cursor: str | None = None
        while True:
            records, next_cursor = store.access_codes.page(cursor=cursor, limit=2, **kwargs)
            encoded, json_cursor = store.access_codes.page_json(cursor=cursor, limit=2, **kwargs)
            assert [json.loads(e) for e in encoded] == [r.access_code.to_dict() for r in records]
            assert json_cursor == next_cursor
            if next_cursor is None:
                break
            cursor = next_cursor
    decrypted = len(opened)
    assert len(store.access_codes.page_json()[0]) == 7
    assert len(opened) == decrypted  # the second list came from the cache
    assert store.access_codes.page_json(access_code_ids=[]) == ([], None)


def test_json_of_a_changed_code_is_encoded_again(store: Store) -> None:
    first = store.access_codes.put(code(1))
    store.access_codes.page_json()
    rename(store, first.access_code_id, "Renamed")
    (encoded,), _ = store.access_codes.page_json()
    assert json.loads(encoded)["name"] == "Renamed"


def test_the_cache_is_bounded() -> None:
    cache = CodeCache(records=2, json=3)
    records = [code(n) for n in range(5)]
    for n, record in enumerate(records):
        cache.keep_record(1, bytes([n]) * 12, record)
        cache.keep_json(record.access_code_id, 1, bytes([n]) * 12, b'{"n":%d}' % n)
    assert cache.sizes == (2, 3)
    assert cache.record(records[0].access_code_id, 1, b"\x00" * 12) is None
    assert cache.record(records[4].access_code_id, 1, b"\x04" * 12) == records[4]
    assert cache.record(records[4].access_code_id, 2, b"\x04" * 12) is None  # other revision
    assert cache.json(records[4].access_code_id, 1, b"\x04" * 12) == b'{"n":4}'
    assert cache.json(records[4].access_code_id, 1, b"\x05" * 12) is None  # other write
    assert cache.json(records[1].access_code_id, 1, b"\x01" * 12) is None  # pushed out
    off = CodeCache(records=0, json=0)
    off.keep_record(1, b"\x00" * 12, records[0])
    off.keep_json(records[0].access_code_id, 1, b"\x00" * 12, b"{}")
    assert off.sizes == (0, 0)


def test_the_record_tier_grows_with_the_codes_stored(tmp_path: Path) -> None:
    """A lock's codes are read a lock at a time, round by round: with more codes than the
    tier holds, least recently used out, every read would miss. The tier holds them all."""
    cache = CodeCache(records=4)
    store = Store(tmp_path / "keyslot.db", key=KEY, clock=ManualClock(T0), cache=cache)
    store.devices.put(device("dev-1"))
    store.devices.put(device("dev-2"))
    for n in range(12):
        store.access_codes.put(code(n, "dev-1" if n % 2 else "dev-2"), expected_revision=0)
    assert cache.record_limit == 15  # 12 codes and a quarter more
    seen: list[str] = []
    original = store._db.cipher.open

    def spy(blob: bytes, aad: str) -> bytes:
        seen.append(aad)
        return original(blob, aad)

    store._db.cipher.open = spy  # type: ignore[method-assign]
    for _ in range(3):  # round by round over the devices
        assert len(store.access_codes.for_device("dev-1")) == 6
        assert len(store.access_codes.for_device("dev-2")) == 6
    assert seen == []  # every record was kept from its write
    for n in range(10):
        store.access_codes.delete(code(n).access_code.access_code_id)
    assert cache.record_limit == 4  # never below the size given
    reopened = Store(tmp_path / "keyslot.db", key=KEY, clock=ManualClock(T0))
    assert reopened.access_codes.cache.record_limit == 4096  # the default floor
    store.close()
    reopened.close()

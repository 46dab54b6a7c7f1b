"""Saving a lock's observed slot table writes only what changed, and what is read back is
always exactly the last committed save (a rolled-back save, another connection's save)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import Slot, SlotStatus
from keyslot.store import DeviceRecord, Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the clock never moves: read_at repeats
KEY = b"\x44" * 32


class Undo(Exception):
    """Rolls a transaction back on purpose."""


def table(*codes: tuple[int, str, str | None]) -> list[Slot]:
    return [Slot(i, SlotStatus.ENABLED, code=code, name=name) for i, code, name in codes]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "keyslot.db", key=KEY, clock=ManualClock(T0))
    s.devices.put(
        DeviceRecord(
            device_id="dev-1",
            lock_url="sim://kwikset?id=dev-1",
            name="dev-1",
            transport="sim",
            created_at=T0,
        )
    )
    return s


def shown(store: Store) -> list[tuple[int, str | None, str | None]]:
    saved = store.slots.table("dev-1")
    assert saved is not None
    return [(s.index, s.code_fingerprint, s.name) for s in saved.slots]


def expected(
    store: Store, *codes: tuple[int, str, str | None]
) -> list[tuple[int, str | None, str | None]]:
    return [(i, store.fingerprint(code), name) for i, code, name in codes]


def test_each_save_reads_back_as_saved(store: Store) -> None:
    first = ((1, "1111", "Ann"), (2, "2222", "Bob"), (5, "5555", None))
    store.slots.save_table("dev-1", table(*first), read_at=T0, checksum=1)
    assert shown(store) == expected(store, *first)
    second = ((1, "1111", "Ann"), (3, "3333", "Cid"), (5, "5050", None))
    store.slots.save_table("dev-1", table(*second), read_at=T0, checksum=1)
    assert shown(store) == expected(store, *second)
    store.slots.save_table("dev-1", [], read_at=T0, checksum=1)
    assert shown(store) == []


def test_a_rolled_back_save_is_not_taken_for_the_stored_table(store: Store) -> None:
    first = ((1, "1111", "Ann"), (2, "2222", "Bob"))
    store.slots.save_table("dev-1", table(*first), read_at=T0, checksum=9)

    def save_then_fail() -> None:
        with store.transaction():
            store.slots.save_table("dev-1", table((1, "9999", "Zed")), read_at=T0, checksum=9)
            raise Undo

    with pytest.raises(Undo):
        save_then_fail()
    assert shown(store) == expected(store, *first)
    # the same head as the rolled-back save: the comparison must use what is really stored
    third = ((1, "9999", "Zed"), (2, "2222", "Bob"))
    store.slots.save_table("dev-1", table(*third), read_at=T0, checksum=9)
    assert shown(store) == expected(store, *third)


def test_another_connections_save_is_seen(store: Store) -> None:
    store.slots.save_table("dev-1", table((1, "1111", "Ann")), read_at=T0, checksum=1)
    with Store(store.path, key=KEY, clock=ManualClock(T0)) as other:
        other.slots.save_table("dev-1", table((2, "2222", "Bob")), read_at=T0, checksum=2)
    store.slots.save_table("dev-1", table((1, "1111", "Ann")), read_at=T0, checksum=1)
    assert shown(store) == expected(store, (1, "1111", "Ann"))


def test_single_slot_changes_are_kept_in_step(store: Store) -> None:
    store.slots.save_table("dev-1", table((1, "1111", "Ann")), read_at=T0, checksum=1)
    store.slots.save_slot("dev-1", Slot(2, SlotStatus.ENABLED, code="2222"), read_at=T0)
    store.slots.cleared("dev-1", 1, read_at=T0)
    store.slots.save_table("dev-1", table((1, "1111", "Ann")), read_at=T0, checksum=1)
    assert shown(store) == expected(store, (1, "1111", "Ann"))

"""On a lock that refuses two slots with one name, renames are ordered so that no write asks
for a name another slot still shows and is about to give up."""

from __future__ import annotations

from datetime import UTC, datetime

from keyslot.protocol.slots import LockInfo, NameRules, Slot, SlotStatus
from keyslot.reconciler.planner import Change, OpKind, plan
from keyslot.reconciler.state import CodeSpec, Phase, Shown, SlotRecord
from tests.reconciler_fakes import fp

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UNIQUE = LockInfo(
    model="m", vendor="v", slot_count=6, name_rules=NameRules(max_length=20, unique=True)
)


def on_lock(cid: str, index: int, code: str, shows: str, wants: str) -> tuple[CodeSpec, Slot]:
    """A code set in `index` showing `shows`, whose owner renamed it to `wants`."""
    record = SlotRecord(index, Phase.SET, fp(code), name=shows, shown=Shown(name=shows))
    slot = Slot(index=index, status=SlotStatus.ENABLED, code=code, name=shows)
    return CodeSpec(cid, code, wants, record=record), slot


def steps(info: LockInfo, specs: list[CodeSpec], slots: list[Slot]) -> list[tuple[object, ...]]:
    p = plan(specs, slots, info, NOW, fingerprint=fp)
    return [(op.kind, op.index, op.change) for op in p.operations]


def test_a_name_given_up_by_one_code_is_written_after_that_code_is_renamed() -> None:
    a, slot_a = on_lock("a", 1, "1357", "Ann", "Bob")
    b, slot_b = on_lock("b", 2, "2468", "Cy", "Ann")  # Ann is still shown by slot 1
    for specs in ([a, b], [b, a]):
        assert steps(UNIQUE, specs, [slot_a, slot_b]) == [
            (OpKind.RENAME, 1, Change.UPDATE),
            (OpKind.RENAME, 2, Change.UPDATE),
        ]


def test_codes_swapping_names_vacate_one_slot_first() -> None:
    a, slot_a = on_lock("a", 1, "1357", "Ann", "Bob")
    b, slot_b = on_lock("b", 2, "2468", "Bob", "Ann")
    assert steps(UNIQUE, [a, b], [slot_a, slot_b]) == [
        (OpKind.CLEAR, 1, Change.VACATE),
        (OpKind.RENAME, 2, Change.UPDATE),
        (OpKind.RENAME, 1, Change.UPDATE),
    ]


def test_names_are_compared_as_the_lock_shows_them() -> None:
    a, slot_a = on_lock("a", 1, "1357", "Ann", "Bob")
    b, slot_b = on_lock("b", 2, "2468", "Cy", "  ANN ")  # the lock shows "ANN": the same
    assert steps(UNIQUE, [b, a], [slot_a, slot_b])[0] == (OpKind.RENAME, 1, Change.UPDATE)


def test_a_name_held_by_a_slot_nobody_writes_does_not_hold_up_the_plan() -> None:
    b, slot_b = on_lock("b", 2, "2468", "Cy", "Ann")
    found = Slot(index=5, status=SlotStatus.ENABLED, code="9999", name="Ann")  # unmanaged
    assert steps(UNIQUE, [b], [slot_b, found]) == [(OpKind.RENAME, 2, Change.UPDATE)]


def test_locks_that_allow_repeated_names_keep_the_plain_order() -> None:
    plain = LockInfo(model="m", vendor="v", slot_count=6, name_rules=NameRules(max_length=20))
    a, slot_a = on_lock("a", 1, "1357", "Ann", "Bob")
    b, slot_b = on_lock("b", 2, "2468", "Bob", "Ann")
    assert steps(plain, [b, a], [slot_a, slot_b]) == [
        (OpKind.RENAME, 2, Change.UPDATE),
        (OpKind.RENAME, 1, Change.UPDATE),
    ]

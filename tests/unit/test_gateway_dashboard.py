"""The dashboard's slot grid: managed, unmanaged, free and disabled, with the lock's names."""

from __future__ import annotations

from datetime import UTC, datetime

from keyslot.gateway.dashboard import slot_grid
from keyslot.model import AccessCode, AccessCodeStatus, Appearance, UnmanagedAccessCode
from keyslot.model.mutations import CreatingMutation
from keyslot.protocol.slots import LockInfo, SlotStatus
from keyslot.store import CodeRecord, DeviceRecord, ObservedSlot, ObservedTable, UnmanagedRecord

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
DEVICE = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
WS = "0f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def device(slots: int | None = 6) -> DeviceRecord:
    info = None if slots is None else LockInfo(model="m", vendor="v", slot_count=slots)
    return DeviceRecord(DEVICE, "sim://kwikset", "Front", "sim", AT, lock_info=info)


def managed(code_id: str, slot: int, *, pending: bool = False, shown: str = "Alice") -> CodeRecord:
    code = AccessCode(
        access_code_id=code_id,
        device_id=DEVICE,
        workspace_id=WS,
        created_at=AT,
        name="Alice Wonderland",
        code="1234",
        status=AccessCodeStatus.SETTING if pending else AccessCodeStatus.SET,
        appearance=Appearance(shown),
        pending_mutations=(CreatingMutation(AT),) if pending else (),
    )
    return CodeRecord(code, slot=slot)


def unmanaged(code_id: str, slot: int) -> UnmanagedRecord:
    code = UnmanagedAccessCode(
        access_code_id=code_id, device_id=DEVICE, workspace_id=WS, created_at=AT, name="Janitor"
    )
    return UnmanagedRecord(code, slot=slot)


def test_grid_marks_each_slot_and_uses_the_locks_names() -> None:
    table = ObservedTable(
        DEVICE,
        AT,
        (
            ObservedSlot(1, SlotStatus.ENABLED, name="Alice Wonde"),
            ObservedSlot(2, SlotStatus.ENABLED, name="JANITOR"),
            ObservedSlot(4, SlotStatus.DISABLED, name="Old"),
            ObservedSlot(5, SlotStatus.ENABLED, name="Stranger"),
        ),
    )
    cells = slot_grid(
        device(),
        [managed("a", 1), managed("b", 3, pending=True, shown="Bob")],
        [unmanaged("u", 2)],
        table,
    )
    by_index = {c["index"]: c for c in cells}
    assert [c["index"] for c in cells] == [1, 2, 3, 4, 5, 6]
    assert by_index[1]["state"] == "managed"
    assert by_index[1]["name"] == "Alice Wonde"  # as the lock shows it
    assert by_index[1]["access_code_id"] == "a"
    assert by_index[2]["state"] == "unmanaged"
    assert by_index[2]["name"] == "JANITOR"
    assert by_index[3]["state"] == "managed"  # assigned, not yet written
    assert by_index[3]["pending"] is True
    assert by_index[3]["name"] == "Bob"
    assert by_index[4]["state"] == "disabled"
    assert by_index[5]["state"] == "unmanaged"  # occupied, not yet recorded as a code
    assert by_index[6] == {"index": 6, "state": "free", "name": None}


def test_grid_of_a_lock_never_reached() -> None:
    cells = slot_grid(device(slots=None), [managed("a", 2)], [], None)
    assert [(c["index"], c["state"]) for c in cells] == [(2, "managed")]
    assert slot_grid(device(slots=None), [], [], None) == []

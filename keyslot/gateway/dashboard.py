"""The dashboard's data: every lock with its slot grid, codes, unmanaged codes and timeline.

The page itself is static (`static/`); it reads `GET /keyslot/dashboard` with the API key
and redraws when the event stream says something changed. The grid puts together what
the lock last reported (names exactly as the lock shows them) with which access code
holds or is assigned each slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from keyslot.model.common import format_time
from keyslot.protocol.clock import Clock
from keyslot.protocol.slots import SlotStatus
from keyslot.store import CodeRecord, DeviceRecord, ObservedTable, Store, UnmanagedRecord

__all__ = ["dashboard_state", "slot_grid"]


def slot_grid(
    device: DeviceRecord,
    codes: Sequence[CodeRecord],
    unmanaged: Sequence[UnmanagedRecord],
    table: ObservedTable | None,
) -> list[dict[str, Any]]:
    """One cell per slot: `state` is managed, unmanaged, free or disabled."""
    managed_at = {r.slot: r for r in codes if r.slot is not None}
    unmanaged_at = {r.slot: r for r in unmanaged if r.slot is not None}
    indexes: Iterable[int]
    if device.lock_info is not None:
        indexes = device.lock_info.slot_range
    else:
        known = set(managed_at) | set(unmanaged_at)
        if table is not None:
            known |= {s.index for s in table.slots}
        indexes = sorted(i for i in known if i is not None)
    cells: list[dict[str, Any]] = []
    for index in indexes:
        observed = table.slot(index) if table is not None else None
        shown = observed.name if observed is not None and observed.occupied else None
        cell: dict[str, Any] = {"index": index, "state": "free", "name": None}
        code = managed_at.get(index)
        other = unmanaged_at.get(index)
        if code is not None:
            appearance = code.access_code.appearance
            cell.update(
                state="managed",
                name=shown if shown is not None else (appearance.name if appearance else None),
                access_code_id=code.access_code_id,
                status=code.access_code.status.value,
                pending=bool(code.access_code.pending_mutations),
            )
        elif other is not None:
            cell.update(
                state="unmanaged",
                name=shown if shown is not None else other.access_code.name,
                access_code_id=other.access_code_id,
            )
        elif observed is not None and observed.occupied:
            cell.update(state="unmanaged", name=shown)
        if observed is not None and observed.status is SlotStatus.DISABLED:
            cell["state"] = "disabled"
        cells.append(cell)
    return cells


def dashboard_state(store: Store, clock: Clock) -> Mapping[str, Any]:
    workspace_id = store.workspace_id
    locks = []
    for device in store.devices.all():
        codes = store.access_codes.for_device(device.device_id)
        unmanaged = store.unmanaged.for_device(device.device_id)
        table = store.slots.table(device.device_id)
        locks.append(
            {
                "device": device.device(workspace_id).to_dict(),
                "slots": slot_grid(device, codes, unmanaged, table),
                "slots_read_at": None if table is None else format_time(table.read_at),
                "access_codes": [r.access_code.to_dict() for r in codes],
                "unmanaged_access_codes": [r.access_code.to_dict() for r in unmanaged],
            }
        )
    return {"generated_at": format_time(clock.now()), "locks": locks}

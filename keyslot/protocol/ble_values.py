"""Codecs of the values inside BLE messages: slot entries, slots, lock capabilities, events.

Optional fields are announced by a flags byte before them; enums travel as stable numbers
from the tables here (never an enum's position), so adding a member breaks no old peer.
"""

from __future__ import annotations

from typing import TypeVar

from keyslot.protocol.ble_wire import MessageError, Reader, Writer
from keyslot.protocol.slots import (
    LockEvent,
    LockEventKind,
    LockInfo,
    NameRules,
    Schedule,
    Slot,
    SlotEntry,
    SlotStatus,
    WriteConfirmation,
)

__all__ = [
    "get_entry",
    "get_event",
    "get_info",
    "get_slot",
    "has",
    "pack_flags",
    "put_entry",
    "put_event",
    "put_info",
    "put_slot",
]

_EVENT_CODES: dict[LockEventKind, int] = {
    LockEventKind.KEYPAD_UNLOCK: 1,
    LockEventKind.ACCESS_DENIED: 2,
    LockEventKind.CODE_ADDED: 3,
    LockEventKind.CODE_CHANGED: 4,
    LockEventKind.CODE_DELETED: 5,
    LockEventKind.ALL_CODES_DELETED: 6,
    LockEventKind.ONE_TIME_CODE_USED: 7,
    LockEventKind.LOCKOUT: 8,
    LockEventKind.MANUAL_UNLOCK: 9,
    LockEventKind.ONLINE: 10,
    LockEventKind.OFFLINE: 11,
    LockEventKind.REBOOTED: 12,
}
_EVENT_KINDS = {code: kind for kind, code in _EVENT_CODES.items()}
_STATUS_CODES = {SlotStatus.EMPTY: 0, SlotStatus.ENABLED: 1, SlotStatus.DISABLED: 2}
_STATUSES = {code: status for status, code in _STATUS_CODES.items()}
_CONFIRMATION_CODES = {
    WriteConfirmation.CONFIRMED: 0,
    WriteConfirmation.OPTIMISTIC: 1,
    WriteConfirmation.NO_CHANGE: 2,
}
_CONFIRMATIONS = {code: value for value, code in _CONFIRMATION_CODES.items()}
_V = TypeVar("_V")


def pack_flags(*bits: bool) -> int:
    return sum(1 << i for i, bit in enumerate(bits) if bit)


def has(flags: int, i: int) -> bool:
    return bool(flags >> i & 1)


def _lookup(table: dict[int, _V], code: int, what: str) -> _V:
    try:
        return table[code]
    except KeyError:
        raise MessageError(f"unknown {what} {code}") from None


# --------------------------------------------------------------------------- values


def _put_schedule(w: Writer, schedule: Schedule) -> None:
    w.time(schedule.starts_at).time(schedule.ends_at)


def _get_schedule(r: Reader) -> Schedule:
    return Schedule(starts_at=r.time(), ends_at=r.time())


def put_entry(w: Writer, entry: SlotEntry) -> None:
    w.u8(
        pack_flags(
            entry.name is not None, entry.schedule is not None, entry.one_time, entry.enabled
        )
    )
    w.text(entry.code)
    if entry.name is not None:
        w.text(entry.name)
    if entry.schedule is not None:
        _put_schedule(w, entry.schedule)


def get_entry(r: Reader) -> SlotEntry:
    flags = r.u8()
    code = r.text()
    name = r.text() if has(flags, 0) else None
    schedule = _get_schedule(r) if has(flags, 1) else None
    return SlotEntry(
        code=code, name=name, schedule=schedule, one_time=has(flags, 2), enabled=has(flags, 3)
    )


def put_slot(w: Writer, slot: Slot) -> None:
    w.u16(slot.index).u8(_STATUS_CODES[slot.status]).u8(_CONFIRMATION_CODES[slot.confirmation])
    optional = (slot.code, slot.name, slot.first_name, slot.last_name)
    present = [value is not None for value in optional]
    w.u8(pack_flags(*present, slot.schedule is not None, slot.code_masked, slot.one_time))
    for value in optional:
        if value is not None:
            w.text(value)
    if slot.schedule is not None:
        _put_schedule(w, slot.schedule)


def get_slot(r: Reader) -> Slot:
    index = r.u16()
    status = _lookup(_STATUSES, r.u8(), "slot status")
    confirmation = _lookup(_CONFIRMATIONS, r.u8(), "write confirmation")
    flags = r.u8()
    code, name, first, last = (r.text() if has(flags, i) else None for i in range(4))
    schedule = _get_schedule(r) if has(flags, 4) else None
    return Slot(
        index=index,
        status=status,
        code=code,
        code_masked=has(flags, 5),
        name=name,
        first_name=first,
        last_name=last,
        schedule=schedule,
        one_time=has(flags, 6),
        confirmation=confirmation,
    )


def _put_name_rules(w: Writer, rules: NameRules) -> None:
    w.u16(rules.max_length).u16(rules.min_length).text(rules.unit).text(rules.encoding)
    w.u8(
        pack_flags(
            rules.charset is not None,
            rules.split,
            rules.first_max is not None,
            rules.last_max is not None,
            rules.unique,
            rules.truncate,
        )
    )
    if rules.charset is not None:
        w.text(rules.charset)
    if rules.first_max is not None:
        w.u16(rules.first_max)
    if rules.last_max is not None:
        w.u16(rules.last_max)


def _get_name_rules(r: Reader) -> NameRules:
    max_length, min_length, unit, encoding = r.u16(), r.u16(), r.text(), r.text()
    flags = r.u8()
    charset = r.text() if has(flags, 0) else None
    first_max = r.u16() if has(flags, 2) else None
    last_max = r.u16() if has(flags, 3) else None
    return NameRules(
        max_length=max_length,
        min_length=min_length,
        unit=unit,
        encoding=encoding,
        charset=charset,
        split=has(flags, 1),
        first_max=first_max,
        last_max=last_max,
        unique=has(flags, 4),
        truncate=has(flags, 5),
    )


def put_info(w: Writer, info: LockInfo) -> None:
    w.text(info.model).text(info.vendor).u16(info.slot_count).u16(info.first_slot)
    w.u8(len(info.code_lengths))
    for length in info.code_lengths:
        w.u8(length)
    w.text(info.alphabet).u8(len(info.constraints))
    for constraint in info.constraints:
        w.text(constraint)
    w.u8(
        pack_flags(
            info.name_rules is not None,
            info.native_schedules,
            info.codes_readable,
            info.offline_pins,
            info.one_time_codes,
            info.checksum,
        )
    )
    if info.name_rules is not None:
        _put_name_rules(w, info.name_rules)
    w.text(info.firmware_version).text(info.serial_number)


def get_info(r: Reader) -> LockInfo:
    model, vendor, slot_count, first_slot = r.text(), r.text(), r.u16(), r.u16()
    code_lengths = tuple(r.u8() for _ in range(r.u8()))
    alphabet = r.text()
    constraints = tuple(r.text() for _ in range(r.u8()))
    flags = r.u8()
    name_rules = _get_name_rules(r) if has(flags, 0) else None
    return LockInfo(
        model=model,
        vendor=vendor,
        slot_count=slot_count,
        first_slot=first_slot,
        code_lengths=code_lengths,
        alphabet=alphabet,
        constraints=constraints,
        name_rules=name_rules,
        native_schedules=has(flags, 1),
        codes_readable=has(flags, 2),
        offline_pins=has(flags, 3),
        one_time_codes=has(flags, 4),
        checksum=has(flags, 5),
        firmware_version=r.text(),
        serial_number=r.text(),
    )


def put_event(w: Writer, event: LockEvent) -> None:
    w.u8(_EVENT_CODES[event.kind]).time(event.at)
    w.u8(pack_flags(event.slot is not None, event.reason is not None, event.offline_code))
    if event.slot is not None:
        w.u16(event.slot)
    if event.reason is not None:
        w.text(event.reason)


def get_event(r: Reader) -> LockEvent:
    kind = _lookup(_EVENT_KINDS, r.u8(), "event kind")
    at = r.time()
    flags = r.u8()
    slot = r.u16() if has(flags, 0) else None
    reason = r.text() if has(flags, 1) else None
    return LockEvent(kind=kind, at=at, slot=slot, reason=reason, offline_code=has(flags, 2))

"""Round trips through each repository of the store, and their queries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keyslot.drivers import LockUrlError
from keyslot.model import (
    AccessCode,
    AccessCodeError,
    AccessCodeErrorCode,
    AccessCodeStatus,
    AccessCodeWarning,
    AccessCodeWarningCode,
    ActionAttempt,
    ActionType,
    Appearance,
    ChangeType,
    CreatingMutation,
    DeviceError,
    DeviceErrorCode,
    DeviceWarning,
    DeviceWarningCode,
    Event,
    EventType,
    InvalidInput,
    ModifiedField,
    UnmanagedAccessCode,
    UpdatingNameMutation,
)
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockInfo, NameRules, Schedule, Slot, SlotStatus
from keyslot.store import (
    CodeOptions,
    CodeRecord,
    Desired,
    DeviceRecord,
    ObservedSlot,
    Store,
    StoreConflict,
    StoredEvent,
    StoreNotFound,
    UnmanagedRecord,
)
from keyslot.store.urls import redact_url, url_scheme

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INFO = LockInfo(
    model="SmartCode 916",
    vendor="Kwikset",
    slot_count=30,
    code_lengths=(4, 5, 6, 7, 8),
    constraints=("no_all_same_digits",),
    name_rules=NameRules(max_length=14, min_length=2),
    native_schedules=True,
    firmware_version="1.2",
)


@pytest.fixture
def store() -> Store:
    s = Store.memory(clock=ManualClock(T0))
    s.devices.put(device("dev-1"))
    s.devices.put(device("dev-2", url="sim://kwikset?id=b"))
    return s


def device(device_id: str, url: str = "sim://kwikset?id=a") -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id, lock_url=url, name=device_id, transport="sim", created_at=T0
    )


def code(n: int, device_id: str = "dev-1", **changes: object) -> AccessCode:
    base = AccessCode(
        access_code_id=f"code-{n:03d}",
        device_id=device_id,
        workspace_id="ws",
        created_at=T0 + timedelta(seconds=n),
        name=f"Guest {n}",
        code=f"{1000 + n}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- access codes


def test_access_code_round_trips_every_field(store: Store) -> None:
    full = code(
        1,
        common_code_key="k",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=5),
        status=AccessCodeStatus.SET,
        errors=(
            AccessCodeError(
                AccessCodeErrorCode.CONFLICTING_EXTERNAL_MODIFICATION,
                "changed at the keypad",
                T0,
                change_type=ChangeType.MODIFIED,
                modified_fields=(ModifiedField("code", "1001", "9999"),),
            ),
        ),
        warnings=(AccessCodeWarning(AccessCodeWarningCode.DELAY_IN_SETTING_ON_DEVICE, "w", T0),),
        pending_mutations=(CreatingMutation(T0), UpdatingNameMutation(T0, "a", "b")),
        appearance=Appearance("Guest 1"),
        is_external_modification_allowed=True,
        is_scheduled_on_device=True,
    )
    options = CodeOptions(
        prefer_native_scheduling=False,
        attempt_for_offline_device=False,
        max_time_rounding="1day",
        preferred_code_length=6,
        user_identifier_key="guest-7",
    )
    record = CodeRecord(full, slot=4, slot_state={"phase": "set", "fp": "abc"}, options=options)
    stored = store.access_codes.put(record)
    again = store.access_codes.require("code-001")
    assert again == stored
    assert again.access_code == full
    assert (again.slot, again.slot_state, again.options) == (
        4,
        {"phase": "set", "fp": "abc"},
        options,
    )
    assert again.revision == 1
    assert again.ever_sent


def test_revisions_guard_against_lost_updates(store: Store) -> None:
    first = store.access_codes.put(CodeRecord(code(1)), expected_revision=0)
    with pytest.raises(StoreConflict):
        store.access_codes.put(CodeRecord(code(1)), expected_revision=0)
    second = store.access_codes.put(replace(first, slot=2), expected_revision=1)
    assert second.revision == 2
    with pytest.raises(StoreConflict):
        store.access_codes.put(replace(first, slot=3), expected_revision=first.revision)
    assert store.access_codes.require("code-001").slot == 2


def test_update_reads_and_writes_atomically(store: Store) -> None:
    store.access_codes.put(CodeRecord(code(1)))
    updated = store.access_codes.update(
        "code-001",
        lambda r: replace(r, access_code=replace(r.access_code, status=AccessCodeStatus.SET)),
    )
    assert updated.access_code.status is AccessCodeStatus.SET
    assert updated.revision == 2
    with pytest.raises(StoreNotFound):
        store.access_codes.update("missing", lambda r: r)
    with pytest.raises(ValueError, match="id"):
        store.access_codes.update(
            "code-001", lambda r: replace(r, access_code=replace(r.access_code, access_code_id="x"))
        )


def test_lookups_by_code_key_and_device(store: Store) -> None:
    store.access_codes.put(CodeRecord(code(1, common_code_key="shared")))
    store.access_codes.put(
        CodeRecord(code(2, device_id="dev-2", code="1001", common_code_key="shared"))
    )
    store.access_codes.put(CodeRecord(code(3), desired=Desired.ABSENT))
    assert [r.access_code_id for r in store.access_codes.with_code("dev-1", "1001")] == ["code-001"]
    assert store.access_codes.with_code("dev-1", "9999") == []
    assert [r.access_code_id for r in store.access_codes.with_common_key("shared")] == [
        "code-001",
        "code-002",
    ]
    assert len(store.access_codes.for_device("dev-1")) == 2
    fp = store.fingerprint("1001")
    assert [r.device_id for r in store.access_codes.with_fingerprint("dev-2", fp)] == ["dev-2"]
    assert store.access_codes.device_ids_with_codes() == ["dev-1", "dev-2"]
    assert store.access_codes.count() == 3


def test_changing_a_pin_moves_its_fingerprint(store: Store) -> None:
    first = store.access_codes.put(CodeRecord(code(1)))
    store.access_codes.put(replace(first, access_code=replace(first.access_code, code="7777")))
    assert store.access_codes.with_code("dev-1", "1001") == []
    assert len(store.access_codes.with_code("dev-1", "7777")) == 1


def test_pages_follow_creation_order(store: Store) -> None:
    for n in range(7):
        store.access_codes.put(CodeRecord(code(n)))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        records, cursor = store.access_codes.page(device_id="dev-1", cursor=cursor, limit=3)
        seen += [r.access_code_id for r in records]
        pages += 1
        if cursor is None:
            break
    assert seen == [f"code-{n:03d}" for n in range(7)]
    assert pages == 3
    records, cursor = store.access_codes.page(access_code_ids=["code-004", "code-001"])
    assert [r.access_code_id for r in records] == ["code-001", "code-004"]
    assert cursor is None
    assert store.access_codes.page(access_code_ids=[]) == ([], None)
    with pytest.raises(InvalidInput):
        store.access_codes.page(cursor="not a cursor")


def test_page_filters_by_user_and_desired(store: Store) -> None:
    store.access_codes.put(CodeRecord(code(1), options=CodeOptions(user_identifier_key="u")))
    store.access_codes.put(CodeRecord(code(2), desired=Desired.ABSENT))
    records, _ = store.access_codes.page(user_identifier_key="u")
    assert [r.access_code_id for r in records] == ["code-001"]
    records, _ = store.access_codes.page(include_absent=False)
    assert [r.access_code_id for r in records] == ["code-001"]


def test_delete_and_device_cascade(store: Store) -> None:
    store.access_codes.put(CodeRecord(code(1)))
    store.access_codes.put(CodeRecord(code(2, device_id="dev-2")))
    assert store.access_codes.delete("code-001")
    assert not store.access_codes.delete("code-001")
    assert store.devices.delete("dev-2")
    assert store.access_codes.get("code-002") is None


def test_a_code_needs_its_device(store: Store) -> None:
    with pytest.raises(StoreConflict):
        store.access_codes.put(CodeRecord(code(1, device_id="nope")))


# --------------------------------------------------------------------------- devices


def test_device_round_trip(store: Store) -> None:
    record = replace(
        device("dev-3", "zwave+mqtt://u:pw@broker:1883/5"),
        lock_info=INFO,
        online=True,
        suspended_until=T0 + timedelta(minutes=5),
        suspended_reason="too many failures",
        errors=(DeviceError(DeviceErrorCode.DEVICE_OFFLINE, "offline", T0),),
        warnings=(
            DeviceWarning(DeviceWarningCode.MAX_ACCESS_CODES_REACHED, "full", T0, {"count": 30}),
        ),
        settings={"reported_code_lengths": [4, 5]},
    )
    store.devices.put(record)
    again = store.devices.require("dev-3")
    assert again.lock_info == INFO
    assert again.lock_url == "zwave+mqtt://u:pw@broker:1883/5"
    assert again.redacted_url == "zwave+mqtt://u:***@broker:1883/5"
    assert (again.online, again.suspended_reason) == (True, "too many failures")
    assert again.suspended_until == T0 + timedelta(minutes=5)
    assert again.errors == record.errors
    assert again.warnings == record.warnings
    assert again.settings == {"reported_code_lengths": [4, 5]}
    assert store.devices.by_url("zwave+mqtt://u:pw@broker:1883/5") == again
    assert [d.device_id for d in store.devices.all()] == ["dev-1", "dev-2", "dev-3"]
    assert [d.device_id for d in store.devices.all(["dev-3"])] == ["dev-3"]
    seam = again.device("ws").to_dict()
    assert seam["properties"]["supported_code_lengths"] == [4, 5, 6, 7, 8]
    assert seam["device_type"] == "kwikset_lock"


def test_one_lock_url_is_one_device(store: Store) -> None:
    with pytest.raises(StoreConflict, match="already device dev-1"):
        store.devices.put(device("dev-9"))


def test_device_update(store: Store) -> None:
    store.devices.update("dev-1", lambda d: replace(d, online=True, lock_info=INFO))
    assert store.devices.require("dev-1").online
    with pytest.raises(StoreNotFound):
        store.devices.update("nope", lambda d: d)


# --------------------------------------------------------------------------- unmanaged


def test_unmanaged_round_trip_and_queries(store: Store) -> None:
    found = UnmanagedAccessCode(
        access_code_id="u1",
        device_id="dev-1",
        workspace_id="ws",
        created_at=T0,
        code="5150",
        name="Manager",
    )
    store.unmanaged.put(UnmanagedRecord(found, slot=9))
    assert store.unmanaged.require("u1") == UnmanagedRecord(found, slot=9)
    assert store.unmanaged.at_slot("dev-1", 9) == UnmanagedRecord(found, slot=9)
    assert store.unmanaged.at_slot("dev-1", 8) is None
    assert [u.access_code_id for u in store.unmanaged.with_code("dev-1", "5150")] == ["u1"]
    store.unmanaged.put(UnmanagedRecord(found, slot=9, desired=Desired.ABSENT))
    assert store.unmanaged.page(device_id="dev-1") == ([], None)
    assert len(store.unmanaged.page(device_id="dev-1", include_absent=True)[0]) == 1
    assert store.unmanaged.delete_many(["u1", "u2"]) == 1
    with pytest.raises(StoreNotFound):
        store.unmanaged.require("u1")


# --------------------------------------------------------------------------- observed slots


def test_observed_table_keeps_fingerprints_not_pins(store: Store) -> None:
    schedule = Schedule(T0, T0 + timedelta(hours=2))
    slots = [
        Slot(1, SlotStatus.ENABLED, code="2580", name="Guest", schedule=schedule),
        Slot(2, SlotStatus.ENABLED, code=None, code_masked=True, first_name="A", last_name="B"),
        Slot(3),
    ]
    table = store.slots.save_table("dev-1", slots, read_at=T0, checksum=0xBEEF)
    assert store.slots.table("dev-1") == table
    first = table.slot(1)
    assert first is not None
    assert first.code_fingerprint == store.fingerprint("2580")
    assert first.schedule == schedule
    assert table.slot(2) == ObservedSlot(
        2, SlotStatus.ENABLED, code_masked=True, first_name="A", last_name="B"
    )
    assert table.checksum == 0xBEEF
    assert store.slots.table("dev-2") is None


def test_single_slot_updates_forget_the_checksum(store: Store) -> None:
    store.slots.save_table("dev-1", [Slot(1)], read_at=T0, checksum=7)
    store.slots.save_slot("dev-1", Slot(1, SlotStatus.ENABLED, code="1111"), read_at=T0)
    table = store.slots.table("dev-1")
    assert table is not None
    assert table.checksum is None
    assert table.slots[0].occupied
    store.slots.cleared("dev-1", 1, read_at=T0)
    table = store.slots.table("dev-1")
    assert table is not None
    assert not table.slots[0].occupied
    store.slots.forget("dev-1")
    assert store.slots.table("dev-1") is None


# --------------------------------------------------------------------------- events


def event(n: int, kind: EventType = EventType.ACCESS_CODE_CREATED, **kw: Any) -> Event:
    return Event.new(
        kind,
        workspace_id="ws",
        at=T0 + timedelta(minutes=n),
        device_id=str(kw.pop("device_id", "dev-1")),
        access_code_id=f"code-{n:03d}",
        **kw,
    )


def test_events_get_increasing_sequence_numbers(store: Store) -> None:
    seqs = [store.events.append(event(n)) for n in range(5)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    assert store.events.last_seq() == seqs[-1]
    after = store.events.query(after_seq=seqs[1])
    assert [s.seq for s in after] == seqs[2:]
    assert store.events.get(after[0].event.event_id) == after[0]


def test_event_filters(store: Store) -> None:
    store.events.append(event(1))
    store.events.append(event(2, EventType.LOCK_UNLOCKED, device_id="dev-2", method="keycode"))
    store.events.append(event(3))
    assert len(store.events.query(device_ids=["dev-2"])) == 1
    assert len(store.events.query(event_types=["access_code.created"])) == 2
    assert [s.event.access_code_id for s in store.events.query(access_code_ids=["code-003"])] == [
        "code-003"
    ]
    window = store.events.query(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=3))
    assert [s.event.access_code_id for s in window] == ["code-002"]
    newest = store.events.query(newest_first=True, limit=1)
    assert newest[0].event.access_code_id == "code-003"
    assert store.events.query(event_ids=[]) == []
    assert store.events.prune(T0 + timedelta(minutes=2)) == 1
    assert len(store.events.query()) == 2


def append_then_fail(store: Store, item: Event) -> None:
    with store.transaction():
        store.events.append(item)
        raise RuntimeError("rolled back")


def test_listeners_hear_only_committed_events(store: Store) -> None:
    heard: list[StoredEvent] = []
    unsubscribe = store.events.subscribe(heard.append)
    with pytest.raises(RuntimeError):
        append_then_fail(store, event(1))
    assert heard == []
    with store.transaction():
        seq = store.events.append(event(2))
        assert heard == []
    assert [h.seq for h in heard] == [seq]
    unsubscribe()
    store.events.append(event(3))
    assert len(heard) == 1


# --------------------------------------------------------------------------- action attempts


def test_action_attempts_move_from_pending(store: Store) -> None:
    attempt = ActionAttempt.pending(ActionType.CREATE_ACCESS_CODE)
    store.action_attempts.put(attempt, access_code_id="code-001")
    assert store.action_attempts.pending_for_code("code-001") == [attempt]
    done = attempt.succeeded({"access_code": code(1).to_dict()})
    store.action_attempts.put(done)
    assert store.action_attempts.require(attempt.action_attempt_id) == done
    assert store.action_attempts.pending_for_code("code-001") == []
    assert store.action_attempts.pending_ids() == []
    assert store.action_attempts.get("nope") is None
    assert store.action_attempts.prune(T0 + timedelta(days=1)) == 1


# --------------------------------------------------------------------------- keys


def test_api_keys_are_stored_hashed(store: Store) -> None:
    record, key = store.api_keys.create("ci")
    assert key.startswith("seam_")
    assert not key.startswith(("seam_cst", "seam_at", "seam_pk"))
    assert record.prefix == key[:13]
    assert store.api_keys.verify(key)
    assert not store.api_keys.verify(key + "x")
    rows = store._db.all("SELECT * FROM api_keys")
    assert key not in repr(rows)
    listed = store.api_keys.all()
    assert [k.api_key_id for k in listed] == [record.api_key_id]
    assert listed[0].last_used_at == T0


def test_api_keys_revoke_by_id_prefix_or_key(store: Store) -> None:
    keys = [store.api_keys.create(f"k{n}") for n in range(3)]
    assert store.api_keys.revoke(keys[0][0].api_key_id) == [keys[0][0]]
    assert store.api_keys.revoke(keys[1][0].prefix)[0].api_key_id == keys[1][0].api_key_id
    assert store.api_keys.revoke(keys[2][1])[0].api_key_id == keys[2][0].api_key_id
    assert not any(store.api_keys.verify(k) for _, k in keys)
    assert store.api_keys.all() == []
    assert len(store.api_keys.all(include_revoked=True)) == 3
    assert store.api_keys.revoke("unknown") == []
    assert store.api_keys.revoke("  ") == []


def test_pairing_keys_are_the_driver_key_store(store: Store) -> None:
    assert store.load_key("ble://AA:BB:CC:DD:EE:FF") is None
    store.save_key("ble://AA:BB:CC:DD:EE:FF", b"\x01\x02")
    store.save_key("ble://AA:BB:CC:DD:EE:FF", b"\x03")
    assert store.load_key("ble://AA:BB:CC:DD:EE:FF") == b"\x03"
    assert store.pairing_keys.urls() == ["ble://AA:BB:CC:DD:EE:FF"]
    assert store.pairing_keys.delete_key("ble://AA:BB:CC:DD:EE:FF")
    assert store.load_key("ble://AA:BB:CC:DD:EE:FF") is None


def test_webhooks_round_trip(store: Store) -> None:
    hook = store.webhooks.create("https://example.test/hook", ["access_code.set_on_device"])
    assert hook.secret.startswith("whsec_")
    assert store.webhooks.get(hook.webhook_id) == hook
    assert store.webhooks.all() == [hook]
    assert store.webhooks.delete(hook.webhook_id)
    assert store.webhooks.get(hook.webhook_id) is None


# --------------------------------------------------------------------------- lock URLs


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("zwave+mqtt://user:pw@host:1883/5", "zwave+mqtt://user:***@host:1883/5"),
        ("zwave+mqtts://:pw@host/5?prefix=z", "zwave+mqtts://:***@host/5?prefix=z"),
        ("ble://AA:BB:CC:DD:EE:FF", "ble://AA:BB:CC:DD:EE:FF"),
        ("serial:///dev/ttyUSB0?baud=115200", "serial:///dev/ttyUSB0?baud=115200"),
        ("zwave+mqtt://user@host/5", "zwave+mqtt://user@host/5"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_url_scheme() -> None:
    assert url_scheme("SIM://kwikset") == "sim"
    for bad in ("kwikset", "http://x", "sim://", "sim:kwikset"):
        with pytest.raises(LockUrlError):
            url_scheme(bad)

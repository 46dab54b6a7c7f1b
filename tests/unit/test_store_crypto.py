"""Encryption at rest: the key file, the env key, wrong keys, and no PIN in the file bytes."""

from __future__ import annotations

import base64
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keyslot.model import (
    AccessCode,
    ActionAttempt,
    ActionType,
    Event,
    EventType,
    UnmanagedAccessCode,
    UpdatingCodeMutation,
)
from keyslot.protocol.slots import Slot, SlotStatus
from keyslot.store import (
    CodeRecord,
    DeviceRecord,
    Store,
    StoreCorrupt,
    StoreKeyError,
    UnmanagedRecord,
)
from keyslot.store.crypto import ENV_KEY, Cipher, load_or_create_key, parse_key

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PINS = ("730519", "946207", "815364", "408172")


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    key_file = tmp_path / "sub" / "store.key"
    key = load_or_create_key(key_file, env={})
    assert len(key) == 32
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(key_file, env={}) == key


def test_store_open_makes_private_data_dir_and_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.open(data) as store:
        assert store.key_file == data / "store.key"
    assert (data / "store.key").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700


def test_env_key_wins_over_key_file(tmp_path: Path) -> None:
    key = bytes(range(32))
    encodings = (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode())
    for text in encodings:
        assert load_or_create_key(tmp_path / "none.key", env={ENV_KEY: text}) == key
    assert not (tmp_path / "none.key").exists()


@pytest.mark.parametrize(
    "text", ["", "abc", "00" * 31, "zz" * 32, base64.b64encode(b"x" * 16).decode()]
)
def test_malformed_keys_are_refused_clearly(text: str) -> None:
    with pytest.raises(StoreKeyError, match="32 bytes"):
        parse_key(text)


def test_unreadable_key_file_is_a_key_error(tmp_path: Path) -> None:
    (tmp_path / "store.key").mkdir()
    with pytest.raises(StoreKeyError, match="cannot read"):
        load_or_create_key(tmp_path / "store.key", env={})


def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    Store(tmp_path / "k.db", key=b"\x01" * 32).close()
    with pytest.raises(StoreKeyError, match="different store key"):
        Store(tmp_path / "k.db", key=b"\x02" * 32)


def test_env_var_opens_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, ("ab" * 32))
    with Store.open(tmp_path / "data") as store:
        store.api_keys.create("x")
    assert not (tmp_path / "data" / "store.key").exists()
    monkeypatch.delenv(ENV_KEY)
    with pytest.raises(StoreKeyError):  # a new key file is made, and it does not fit
        Store.open(tmp_path / "data")


def test_a_ciphertext_only_opens_for_its_own_row() -> None:
    cipher = Cipher(b"\x07" * 32)
    sealed = cipher.seal_text("secret", "access_codes:one")
    assert cipher.open_text(sealed, "access_codes:one") == "secret"
    with pytest.raises(StoreCorrupt, match="does not open"):
        cipher.open_text(sealed, "access_codes:two")
    with pytest.raises(StoreCorrupt, match="malformed"):
        cipher.open(b"\x09" + sealed[1:], "access_codes:one")


def test_a_body_copied_to_another_row_is_detected(tmp_path: Path) -> None:
    with Store(tmp_path / "k.db", key=b"\x03" * 32) as store:
        store.devices.put(_device())
        for n, pin in enumerate(PINS[:2]):
            store.access_codes.put(CodeRecord(_code(f"c{n}", pin)))
    with sqlite3.connect(tmp_path / "k.db") as conn:
        body = conn.execute("SELECT body FROM access_codes WHERE access_code_id = 'c0'").fetchone()
        conn.execute("UPDATE access_codes SET body = ? WHERE access_code_id = 'c1'", body)
    with Store(tmp_path / "k.db", key=b"\x03" * 32) as store, pytest.raises(StoreCorrupt):
        store.access_codes.get("c1")


def test_fingerprints_are_keyed() -> None:
    one, two = Cipher(b"\x01" * 32), Cipher(b"\x02" * 32)
    assert one.fingerprint("1234") == one.fingerprint("1234")
    assert one.fingerprint("1234") != one.fingerprint("1235")
    assert one.fingerprint("1234") != two.fingerprint("1234")
    assert "1234" not in one.fingerprint("1234")


def test_no_pin_or_url_password_in_the_file_bytes_wal_included(tmp_path: Path) -> None:
    """Every place a PIN goes (codes, mutations, events, attempts, unmanaged codes, observed
    slots) and a lock URL's password: none may be readable from the database or its WAL."""
    password = "hunter2secret"
    store = Store(tmp_path / "k.db", key=b"\x05" * 32)
    store.devices.put(_device(url=f"zwave+mqtt://user:{password}@broker:1883/5"))
    code = _code("c0", PINS[0])
    updated = code.with_mutation(UpdatingCodeMutation(T0, PINS[0], PINS[1]))
    store.access_codes.put(CodeRecord(updated))
    store.unmanaged.put(
        UnmanagedRecord(
            UnmanagedAccessCode(
                access_code_id="u0",
                device_id="dev-1",
                workspace_id="ws",
                created_at=T0,
                code=PINS[2],
            ),
            slot=7,
        )
    )
    store.slots.save_table(
        "dev-1", [Slot(3, SlotStatus.ENABLED, code=PINS[3], name="Guest")], read_at=T0
    )
    store.events.append(
        Event(
            event_id="e0",
            event_type=EventType.ACCESS_CODE_CODE_CHANGED,
            workspace_id="ws",
            created_at=T0,
            occurred_at=T0,
            device_id="dev-1",
            access_code_id="c0",
            data={"from": {"code": PINS[0]}, "to": {"code": PINS[1]}},
        )
    )
    store.action_attempts.put(
        ActionAttempt.pending(ActionType.CREATE_ACCESS_CODE).succeeded(
            {"access_code": updated.to_dict()}
        )
    )
    store.pairing_keys.save_key("ble://AA:BB:CC:DD:EE:FF", password.encode())
    wal = tmp_path / "k.db-wal"
    assert wal.exists()
    assert wal.stat().st_size > 0
    raw = (tmp_path / "k.db").read_bytes() + wal.read_bytes()
    for secret in (*PINS, password):
        assert secret.encode() not in raw
        assert secret.encode("utf-16-le") not in raw
    # ...and it all reads back.
    assert store.access_codes.require("c0").access_code == updated
    assert store.devices.require("dev-1").lock_url.endswith("broker:1883/5")
    assert store.pairing_keys.load_key("ble://AA:BB:CC:DD:EE:FF") == password.encode()
    store.close()
    raw = (tmp_path / "k.db").read_bytes()  # after the checkpoint at close
    for secret in (*PINS, password):
        assert secret.encode() not in raw


def _device(url: str = "sim://kwikset?id=a") -> DeviceRecord:
    return DeviceRecord(
        device_id="dev-1", lock_url=url, name="Front", transport="sim", created_at=T0
    )


def _code(access_code_id: str, pin: str) -> AccessCode:
    return AccessCode(
        access_code_id=access_code_id,
        device_id="dev-1",
        workspace_id="ws",
        created_at=T0,
        name="Guest",
        code=pin,
        starts_at=T0,
        ends_at=T0 + timedelta(days=1),
    )

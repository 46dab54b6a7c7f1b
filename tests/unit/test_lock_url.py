"""One reading of a lock URL for the store and the drivers, kept where both may import it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import keyslot.store.urls as store_urls
from keyslot import drivers
from keyslot.model.timing import Timing
from keyslot.protocol import lock_url
from keyslot.protocol.lock_url import SCHEMES, LockUrlError, parse_lock_url, url_scheme
from keyslot.reconciler import timing as reconciler_timing
from keyslot.service_base import Scheduling

PACKAGE = Path(drivers.__file__).resolve().parents[1]


def _imports(folder: str) -> set[str]:
    found: set[str] = set()
    for path in (PACKAGE / folder).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("keyslot")}


def test_the_store_and_the_drivers_share_one_implementation() -> None:
    assert store_urls.url_scheme is lock_url.url_scheme
    assert store_urls.redact_url is lock_url.redact_url
    assert drivers.parse_lock_url is lock_url.parse_lock_url
    assert drivers.LockUrlError is store_urls.LockUrlError is LockUrlError
    assert drivers.schemes() == SCHEMES
    assert set(drivers._DRIVERS) == set(SCHEMES)  # every scheme the store takes can be opened


def test_the_layers_keep_to_the_import_rules() -> None:
    assert not {m for m in _imports("store") if m.startswith("keyslot.drivers")}
    assert {m for m in _imports("protocol") if not m.startswith("keyslot.protocol")} == set()


def test_the_service_and_the_reconciler_share_one_timing_policy() -> None:
    assert Scheduling is Timing is reconciler_timing.Timing


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kwikset", "is not a lock URL"),
        ("ftp://u:hunter2@host", "unknown lock URL scheme 'ftp'"),
        ("sim://", "nothing follows sim://"),
        ("socket://127.0.0.1:notaport", "bad host or port"),
        ("zwave+mqtt://u:hunter2@[::1/5", "bad host or port"),
    ],
)
def test_a_bad_url_is_named_without_its_password(url: str, message: str) -> None:
    with pytest.raises(LockUrlError) as info:
        parse_lock_url(url)
    assert message in info.value.message
    assert "hunter2" not in info.value.message


def test_the_parts_of_a_url() -> None:
    ble = parse_lock_url("BLE://user:pw@aa:bb:cc:dd:ee:ff?page=2")
    assert (ble.scheme, ble.host, ble.port, ble.option("page")) == (
        "ble",
        "AA:BB:CC:DD:EE:FF",
        None,
        "2",
    )
    mqtt = parse_lock_url("zwave+mqtt://u:s3cret@broker:1883/5?prefix=zwave")
    assert (mqtt.host, mqtt.port, mqtt.path, mqtt.username) == ("broker", 1883, "/5", "u")
    assert mqtt.password == "s3cret"
    assert "s3cret" not in repr(mqtt)
    assert mqtt.redacted == "zwave+mqtt://u:***@broker:1883/5?prefix=zwave"
    assert url_scheme("Serial:///dev/ttyUSB0") == "serial"

"""`ble://` URLs: addresses in every spelling, options, and the name a key is kept under."""

from __future__ import annotations

import pytest

from keyslot.drivers import LockUrlError
from keyslot.drivers.ble_url import address_from_url, key_name, parse_ble_url, settings_for


@pytest.mark.parametrize(
    "raw",
    [
        "ble://AA:BB:CC:DD:EE:0F",
        "ble://aa:bb:cc:dd:ee:0f",
        "ble://AA-BB-CC-DD-EE-0F",
        "BLE://aabbccddee0f?timeout=3",
        "ble://AA:BB:CC:DD:EE:0F/",
    ],
)
def test_addresses_in_every_spelling(raw: str) -> None:
    assert address_from_url(raw) == "AA:BB:CC:DD:EE:0F"
    assert key_name(address_from_url(raw)) == "ble://AA:BB:CC:DD:EE:0F"


def test_a_corebluetooth_uuid_is_an_address_too() -> None:
    uuid = "1c9e3f5a-0d3b-4c4e-9b55-7e0c2f1a9d21"
    assert address_from_url(f"ble://{uuid}") == uuid.upper()


@pytest.mark.parametrize(
    "raw", ["ble://", "ble://AA:BB:CC:DD:EE", "ble://GG:BB:CC:DD:EE:FF", "serial:///dev/x"]
)
def test_bad_addresses_are_refused(raw: str) -> None:
    with pytest.raises(LockUrlError):
        address_from_url(raw)


def test_options_and_defaults() -> None:
    url = parse_ble_url("ble://AA:BB:CC:DD:EE:0F?timeout=2.5&idle=0&page=8&resume=4&attempts=1")
    assert url.host == "AA:BB:CC:DD:EE:0F"
    settings = settings_for(url, {})
    assert settings.options.reply_timeout == 2.5
    assert settings.options.attempts == 1
    assert (settings.idle, settings.page, settings.resume) == (0.0, 8, 4)
    defaults = settings_for(parse_ble_url("ble://AA:BB:CC:DD:EE:0F"), {})
    assert (defaults.idle, defaults.page, defaults.resume) == (30.0, 32, 2)
    assert defaults.options.device is None


@pytest.mark.parametrize("query", ["timeout=soon", "idle=-1", "page=0", "page=300"])
def test_bad_options_are_refused(query: str) -> None:
    with pytest.raises(LockUrlError):
        settings_for(parse_ble_url(f"ble://AA:BB:CC:DD:EE:0F?{query}"), {})

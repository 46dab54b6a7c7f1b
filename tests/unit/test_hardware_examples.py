"""The example configs in hardware/examples load with the gateway's own loader, and every lock
URL in them is one its driver accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyslot.drivers import parse_lock_url
from keyslot.drivers.ble_url import parse_ble_url, settings_for
from keyslot.drivers.serial_link import LinkOptions, device_path
from keyslot.drivers.zwave_options import parse_zwave_url
from keyslot.gateway.config import default_config, load_config
from keyslot.simulator.profiles import get_profile

EXAMPLES = Path(__file__).resolve().parents[2] / "hardware" / "examples"
ALL = sorted(EXAMPLES.glob("*.toml"))


def test_there_is_an_example_per_transport_and_the_embedded_default() -> None:
    assert {p.stem for p in ALL} == {"embedded", "serial", "zwave", "ble"}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_each_example_loads(path: Path) -> None:
    config = load_config(path)
    assert config.data_dir == Path("/var/lib/keyslot")  # where the systemd unit keeps it
    assert config.host == "127.0.0.1"
    assert config.locks


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_each_lock_url_is_accepted_by_its_driver(path: Path) -> None:
    for lock in load_config(path).locks:
        url = parse_lock_url(lock.url)
        if url.scheme in ("serial", "socket"):
            LinkOptions.from_url(url)
            if url.scheme == "serial":
                assert device_path(url).startswith("/dev/")
        elif url.scheme.startswith("zwave"):
            network, driver = parse_zwave_url(url)
            assert driver.node_id > 0
            assert network.prefix == "zwave"
        elif url.scheme == "ble":
            settings_for(parse_ble_url(lock.url), {})
        else:
            assert url.scheme == "sim"
            get_profile(url.host)


def test_the_embedded_example_is_the_embedded_default() -> None:
    example = load_config(EXAMPLES / "embedded.toml")
    default = default_config(Path("/var/lib/keyslot"))
    assert example.locks == default.locks
    assert example.simulators == default.simulators
    assert (example.host, example.port) == (default.host, default.port)

"""`zwave+mqtt://` URLs: defaults, every option, and clear errors for bad ones."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from keyslot.drivers import LockUrlError, open_lock, parse_lock_url
from keyslot.drivers.zwave_options import (
    DEFAULT_MAX_CONCURRENT,
    DriverOptions,
    NetworkOptions,
    TlsOptions,
    parse_zwave_url,
)
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockUnavailable
from tests.support import free_port


def parse(url: str) -> tuple[NetworkOptions, DriverOptions]:
    return parse_zwave_url(parse_lock_url(url))


def test_defaults() -> None:
    network, driver = parse("zwave+mqtt://broker.local/2")
    assert (network.host, network.port, network.prefix, network.gateway) == (
        "broker.local",
        1883,
        "zwave",
        "zwave-js-ui",
    )
    assert network.tls is None
    assert network.max_concurrent == DEFAULT_MAX_CONCURRENT
    assert driver.node_id == 2
    assert driver.segments == ("nodeID_2", "2")
    assert driver.write_mode == "api"
    assert driver.masked is None
    assert driver.code_lengths is None


def test_every_option() -> None:
    network, driver = parse(
        "zwave+mqtt://user:s3cret@10.0.0.5:1884/17?prefix=home/zw&gateway=attic"
        "&node_topic=hall/front&max_concurrent=1&write=set&confirm_timeout=5&api_timeout=7"
        "&wake_timeout=90&slots=250&code_lengths=4-8&masked=1&client_id=me"
    )
    assert (network.host, network.port, network.username, network.password) == (
        "10.0.0.5",
        1884,
        "user",
        "s3cret",
    )
    assert (network.prefix, network.gateway, network.client_id) == ("home/zw", "attic", "me")
    assert (network.max_concurrent, network.api_timeout) == (1, 7.0)
    assert driver.segments == ("hall/front",)
    assert driver.write_mode == "set"
    assert (driver.confirm_timeout, driver.wake_timeout) == (5.0, 90.0)
    assert driver.slots == 250
    assert driver.code_lengths == (4, 5, 6, 7, 8)
    assert driver.masked is True
    assert "s3cret" not in repr(network)


def test_tls() -> None:
    network, _ = parse("zwave+mqtts://broker/2?ca=/etc/ca.pem&tls_insecure=1")
    assert network.port == 8883
    assert network.tls == TlsOptions(ca="/etc/ca.pem", insecure=True)
    network, _ = parse("zwave+mqtt://broker:9999/2?tls=1&cert=c.pem&key=k.pem")
    assert network.port == 9999
    assert network.tls == TlsOptions(cert="c.pem", key="k.pem")


def test_tls_context_loads_a_ca(tmp_path: Path) -> None:
    context = TlsOptions().context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert not TlsOptions(insecure=True).context().check_hostname
    with pytest.raises(LockUnavailable, match="TLS files"):
        TlsOptions(ca=str(tmp_path / "missing.pem")).context()


def test_code_lengths_as_a_list() -> None:
    _, driver = parse("zwave+mqtt://b/2?code_lengths=6,4,6")
    assert driver.code_lengths == (4, 6)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("zwave+mqtt://b/2?colour=red", "unknown option"),
        ("zwave+mqtt://b/", "node id"),
        ("zwave+mqtt://b/abc", "node id"),
        ("zwave+mqtt://b/0", "node id"),
        ("zwave+mqtt:///2", "no MQTT broker"),
        ("zwave+mqtt://b/2?max_concurrent=0", "max_concurrent"),
        ("zwave+mqtt://b/2?max_concurrent=two", "max_concurrent"),
        ("zwave+mqtt://b/2?confirm_timeout=-1", "confirm_timeout"),
        ("zwave+mqtt://b/2?api_timeout=nan", "api_timeout"),
        ("zwave+mqtt://b/2?write=mail", "write"),
        ("zwave+mqtt://b/2?masked=maybe", "masked"),
        ("zwave+mqtt://b/2?code_lengths=3-8", "code_lengths"),
        ("zwave+mqtt://b/2?code_lengths=x", "code_lengths"),
        ("zwave+mqtt://b/2?slots=0", "slots"),
        ("zwave+mqtt://b/2?gateway=a/b", "gateway"),
        ("zwave+mqtt://b/2?node_topic=a/%2B", "node_topic"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(LockUrlError, match=fragment):
        parse(url)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(LockUrlError) as info:
        parse("zwave+mqtt://u:topsecret@b/2?bogus=1")
    assert "topsecret" not in info.value.message


async def test_an_unreachable_broker_is_lock_unavailable(clock: ManualClock) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(LockUnavailable, match="cannot connect"):
        await open_lock(f"zwave+mqtt://127.0.0.1:{port}/2", clock=clock)

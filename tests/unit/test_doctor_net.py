"""Doctor checks against real services: a mosquitto broker with a zwave-js-ui status topic,
and a private dbus-daemon on which a test object plays BlueZ."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusStr
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property

from keyslot.doctor import Status
from keyslot.doctor_net import BrokerTarget, check_bluez, check_zwave_broker, system_bus_socket
from tests.support import free_port, require_binary
from tests.support_mosquitto import Mosquitto, mosquitto_broker

STATUS_TOPIC = "zwave/_CLIENTS/ZWAVE_GATEWAY-zwave-js-ui/status"

# --------------------------------------------------------------------------- MQTT


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with mosquitto_broker(tmp_path) as started:
        yield started


async def retain(broker: Mosquitto, topic: str, payload: object) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, json.dumps(payload).encode(), qos=1, retain=True)


def target(broker: Mosquitto, **changes: object) -> BrokerTarget:
    values: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "prefix": "zwave",
        "gateway": "zwave-js-ui",
        "nodes": {5: ("nodeID_5", "5")},
    }
    values.update(changes)
    return BrokerTarget(**values)  # type: ignore[arg-type]


async def test_a_broker_that_does_not_answer_fails() -> None:
    port = free_port()
    unreachable = BrokerTarget(host="127.0.0.1", port=port, prefix="zwave", gateway="zwave-js-ui")
    (finding,) = await check_zwave_broker(unreachable, timeout=3)
    assert finding.status is Status.FAIL
    assert finding.check == f"mqtt 127.0.0.1:{port}"
    assert f"no MQTT broker answers on 127.0.0.1:{port}" in finding.message
    assert "systemctl enable --now mosquitto" in (finding.fix or "")


async def test_a_missing_gateway_status_fails(broker: Mosquitto) -> None:
    reached, gateway = await check_zwave_broker(target(broker), timeout=5)
    assert reached.status is Status.OK
    assert gateway.status is Status.FAIL
    assert f"no gateway status on {STATUS_TOPIC}" in gateway.message
    assert "?gateway=NAME&prefix=PREFIX" in (gateway.fix or "")


async def test_a_gateway_status_of_false_fails(broker: Mosquitto) -> None:
    await retain(broker, STATUS_TOPIC, {"value": False, "time": 1_700_000_000_000})
    _, gateway = await check_zwave_broker(target(broker), timeout=5)
    assert gateway.status is Status.FAIL
    assert "zwave-js-ui says it is offline" in gateway.message
    assert "restart zwave-js-ui" in (gateway.fix or "")


async def test_an_online_gateway_and_its_nodes(broker: Mosquitto) -> None:
    await retain(broker, STATUS_TOPIC, {"value": True})
    await retain(broker, "zwave/nodeID_5/status", {"value": False, "status": "Dead", "nodeId": 5})
    await retain(broker, "zwave/6/status", {"value": True, "status": "Alive", "nodeId": 6})
    nodes = {5: ("nodeID_5", "5"), 6: ("nodeID_6", "6"), 7: ("nodeID_7", "7")}
    results = await check_zwave_broker(target(broker, nodes=nodes), timeout=5)
    assert [(r.check, r.status) for r in results] == [
        (f"mqtt 127.0.0.1:{broker.port}", Status.OK),
        ("zwave-js-ui zwave-js-ui", Status.OK),
        ("z-wave node 5", Status.WARN),
        ("z-wave node 6", Status.OK),
        ("z-wave node 7", Status.WARN),
    ]
    assert "Dead" in results[2].message
    assert "no status for node 7" in results[4].message


async def test_another_gateway_name_is_looked_up_under_its_own_topic(broker: Mosquitto) -> None:
    await retain(broker, STATUS_TOPIC, {"value": True})
    results = await check_zwave_broker(target(broker, gateway="attic", nodes={}), timeout=5)
    assert results[1].status is Status.FAIL
    assert "zwave/_CLIENTS/ZWAVE_GATEWAY-attic/status" in results[1].message


async def test_a_refused_login_fails(tmp_path: Path) -> None:
    with mosquitto_broker(tmp_path, users={"zwave": "right-password"}) as secured:
        wrong = target(secured, username="zwave", password="wrong-password")
        (finding,) = await check_zwave_broker(wrong, timeout=5)
        right = target(secured, username="zwave", password="right-password", nodes={})
        reached, _ = await check_zwave_broker(right, timeout=5)
    assert finding.status is Status.FAIL
    assert "refused keyslot's login" in finding.message
    assert "wrong-password" not in finding.message
    assert reached.status is Status.OK
    assert reached.message.endswith("as zwave")


# --------------------------------------------------------------------------- D-Bus / BlueZ

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>keyslot-test</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    {extra}
  </policy>
</busconfig>
"""


@contextlib.contextmanager
def dbus_daemon(workdir: Path, *, deny_bluez: bool = False) -> Iterator[Path]:
    """A private bus on a socket in `workdir`, standing in for the system bus."""
    binary = require_binary("dbus-daemon", "apt-get install dbus-daemon")
    bus_socket = workdir / "system_bus_socket"
    config = workdir / "bus.conf"
    extra = '<deny send_destination="org.bluez"/>' if deny_bluez else ""
    config.write_text(_BUS_CONFIG.format(socket=bus_socket, extra=extra))
    proc = subprocess.Popen(
        [binary, f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().decode().strip()  # printed once it listens
        assert address.startswith("unix:"), proc.stderr.read() if proc.stderr else address
        yield bus_socket
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reaps it and closes both pipes


class FakeAdapter(ServiceInterface):
    """org.bluez.Adapter1 with just the properties the doctor reads."""

    def __init__(self, powered: bool) -> None:
        super().__init__("org.bluez.Adapter1")
        self._powered = powered

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:  # noqa: N802 - BlueZ's property name
        return self._powered

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:  # noqa: N802 - BlueZ's property name
        return "DC:A6:32:00:00:01"


@contextlib.asynccontextmanager
async def fake_bluez(bus_socket: Path, adapter: FakeAdapter | None) -> AsyncIterator[None]:
    bus = await MessageBus(bus_address=f"unix:path={bus_socket}").connect()
    try:
        if adapter is not None:
            bus.export("/org/bluez/hci0", adapter)
        await bus.request_name("org.bluez")
        yield
    finally:
        bus.disconnect()


async def test_a_missing_system_bus_socket_fails(tmp_path: Path) -> None:
    (finding,) = await check_bluez(tmp_path / "no_bus_here", timeout=3)
    assert finding.status is Status.FAIL
    assert finding.check == "d-bus"
    assert f"no D-Bus system bus at {tmp_path / 'no_bus_here'}" in finding.message
    assert "systemctl enable --now dbus" in (finding.fix or "")


async def test_a_bus_socket_nobody_listens_on_fails(tmp_path: Path) -> None:
    dead = tmp_path / "dead_socket"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dead))  # the file exists, but nothing accepts on it
    (finding,) = await check_bluez(dead, timeout=3)
    assert finding.status is Status.FAIL
    assert f"cannot connect to the system bus at {dead}" in finding.message


async def test_a_bus_without_bluez_fails(tmp_path: Path) -> None:
    with dbus_daemon(tmp_path) as bus:
        reached, bluez = await check_bluez(bus, timeout=5)
    assert reached.status is Status.OK
    assert bluez.status is Status.FAIL
    assert "BlueZ (bluetoothd) is not on the system bus" in bluez.message
    assert "systemctl enable --now bluetooth" in (bluez.fix or "")


async def test_a_powered_adapter_passes(tmp_path: Path) -> None:
    with dbus_daemon(tmp_path) as bus:
        async with fake_bluez(bus, FakeAdapter(powered=True)):
            results = await check_bluez(bus, timeout=5)
    assert [r.status for r in results] == [Status.OK, Status.OK]
    assert results[1].message == "adapter hci0 (DC:A6:32:00:00:01) is powered"


async def test_a_powered_off_adapter_fails(tmp_path: Path) -> None:
    with dbus_daemon(tmp_path) as bus:
        async with fake_bluez(bus, FakeAdapter(powered=False)):
            _, bluez = await check_bluez(bus, timeout=5)
    assert bluez.status is Status.FAIL
    assert "powered off" in bluez.message
    assert "bluetoothctl power on" in (bluez.fix or "")


async def test_bluez_without_an_adapter_fails(tmp_path: Path) -> None:
    with dbus_daemon(tmp_path) as bus:
        async with fake_bluez(bus, None):
            _, bluez = await check_bluez(bus, timeout=5)
    assert bluez.status is Status.FAIL
    assert "sees no Bluetooth adapter" in bluez.message
    assert "rfkill unblock bluetooth" in (bluez.fix or "")


async def test_a_bus_policy_that_shuts_the_user_out_names_the_bluetooth_group(
    tmp_path: Path,
) -> None:
    with dbus_daemon(tmp_path, deny_bluez=True) as bus:
        async with fake_bluez(bus, FakeAdapter(powered=True)):
            _, bluez = await check_bluez(bus, timeout=5)
    assert bluez.status is Status.FAIL
    assert "AccessDenied" in bluez.message
    assert "usermod -aG bluetooth" in (bluez.fix or "")


def test_the_system_bus_address_comes_from_the_environment(tmp_path: Path) -> None:
    env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/other_bus,guid=1234"}
    assert system_bus_socket(env) == tmp_path / "other_bus"
    assert system_bus_socket({}) == Path("/run/dbus/system_bus_socket")

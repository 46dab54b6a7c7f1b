"""Doctor checks that talk to services: the MQTT broker and zwave-js-ui, D-Bus and BlueZ.

Each opens its own short connection, never the drivers' ones, so a check cannot disturb a
running gateway. Every wait is bounded by `timeout` on the given clock.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyslot.doctor import CheckResult, fail, ok, user_name, warn
from keyslot.protocol.clock import Clock, ClockTimeout, SystemClock, wait_for

__all__ = [
    "SYSTEM_BUS_SOCKET",
    "BrokerTarget",
    "check_bluez",
    "check_zwave_broker",
    "system_bus_socket",
]

SYSTEM_BUS_SOCKET = Path("/run/dbus/system_bus_socket")
_BLUEZ = "org.bluez"
_ADAPTER = "org.bluez.Adapter1"

# --------------------------------------------------------------------------- MQTT / zwave-js-ui


@dataclass(frozen=True, slots=True)
class BrokerTarget:
    """One zwave-js-ui behind one broker, and the lock nodes a config expects on it."""

    host: str
    port: int
    prefix: str
    gateway: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = None
    # node id -> the topic levels zwave-js-ui may publish it under (nodeID_5, 5, a name)
    nodes: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"mqtt {self.host}:{self.port}"


def _mqtt_failure(target: BrokerTarget, exc: Exception) -> CheckResult:
    rc = getattr(exc, "rc", None)
    value = getattr(rc, "value", rc)
    text = str(exc)
    if value in (4, 5, 134, 135) or "not authori" in text.lower():
        return fail(
            target.label,
            f"the broker at {target.host}:{target.port} refused keyslot's login ({text})",
            "put the user and password zwave-js-ui's broker expects in the lock URL: "
            "zwave+mqtt://USER:PASS@host:port/NODE (check mosquitto's password_file and acl)",
        )
    if isinstance(exc, ssl.SSLError) or "ssl" in text.lower() or "certificate" in text.lower():
        return fail(
            target.label,
            f"TLS to {target.host}:{target.port} failed ({text})",
            "give the broker's CA with ?ca=/path/ca.pem (or use zwave+mqtt:// on port 1883)",
        )
    return fail(
        target.label,
        f"no MQTT broker answers on {target.host}:{target.port} ({text})",
        "start the broker (`sudo systemctl enable --now mosquitto`) or fix host and port "
        "in the lock URL",
    )


async def _collect(
    client: Any, topics: Sequence[str], probe: str, limit: float, clock: Clock
) -> dict[str, bytes]:
    """The retained payloads of `topics`: subscribe, then echo a probe through the broker.

    The broker sends a subscription's retained messages before it routes a later publish
    of the same client, so once the probe is back every retained status has arrived and a
    missing one is missing (no wait for a message that will never come).
    """
    seen: dict[str, bytes] = {}
    for topic in (*topics, probe):
        await client.subscribe(topic, qos=1)
    token = secrets.token_hex(8).encode()
    await client.publish(probe, token, qos=1)

    async def read() -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = bytes(message.payload) if message.payload is not None else b""
            if topic == probe and payload == token:
                return
            seen[topic] = payload

    # a broker whose ACL drops the probe: report what did arrive
    with contextlib.suppress(ClockTimeout):
        await wait_for(clock, read(), limit)
    return seen


def _gateway_result(target: BrokerTarget, topic: str, payload: bytes | None) -> CheckResult:
    from keyslot.protocol.zwave_mqtt import decode_gateway_status
    from keyslot.protocol.zwave_values import ZwaveCodecError

    name = f"zwave-js-ui {target.gateway}"
    if payload is None:
        return fail(
            name,
            f"no gateway status on {topic}: zwave-js-ui is not connected to "
            f"{target.host}:{target.port}, or its MQTT name or prefix differ "
            f"(keyslot expects name {target.gateway!r}, prefix {target.prefix!r})",
            "in zwave-js-ui open Settings → MQTT, check host, port, Name and Prefix; "
            "if they differ, add ?gateway=NAME&prefix=PREFIX to the lock URL",
        )
    try:
        status = decode_gateway_status(payload)
    except ZwaveCodecError as exc:
        return fail(name, f"{topic} holds something that is not a gateway status: {exc.message}")
    if not status.online:
        return fail(
            name,
            f"zwave-js-ui says it is offline ({topic} is false, its last will): it lost "
            "the broker or is stopped",
            "restart zwave-js-ui (`sudo systemctl restart zwave-js-ui` or "
            "`docker restart zwave-js-ui`) and read its log",
        )
    return ok(name, f"zwave-js-ui {target.gateway!r} is online on {target.host}:{target.port}")


def _node_result(
    target: BrokerTarget, node_id: int, segments: tuple[str, ...], seen: dict[str, bytes]
) -> CheckResult:
    from keyslot.protocol.zwave_mqtt import ZwaveTopics, decode_node_status
    from keyslot.protocol.zwave_values import NodeState, ZwaveCodecError

    topics = ZwaveTopics(target.prefix, target.gateway)
    name = f"z-wave node {node_id}"
    for segment in segments:
        payload = seen.get(topics.node_status(segment))
        if payload is None:
            continue
        try:
            status = decode_node_status(payload)
        except ZwaveCodecError as exc:
            return warn(name, f"its status does not decode: {exc.message}")
        if status.state is NodeState.DEAD:
            return warn(
                name,
                f"zwave-js-ui marks node {node_id} Dead: the lock is out of range or its "
                "batteries are flat",
                "fit fresh batteries, then ping the node in zwave-js-ui; add a mains-powered "
                "repeater if it is far from the controller",
            )
        return ok(name, f"node {node_id} is {status.state.value}")
    where = " or ".join(topics.node_status(s) for s in segments)
    return warn(
        name,
        f"no status for node {node_id} on {where}: it is not in this Z-Wave network, or "
        "zwave-js-ui names it differently",
        "check the node id in zwave-js-ui's Control Panel; for a named node add "
        "?node_topic=<its topic> to the lock URL",
    )


async def check_zwave_broker(
    target: BrokerTarget, *, timeout: float = 5.0, clock: Clock | None = None
) -> list[CheckResult]:
    """The broker takes keyslot's login, zwave-js-ui is online on it, each lock node is known."""
    import aiomqtt

    from keyslot.protocol.zwave_mqtt import ZwaveTopics

    clock = clock or SystemClock()
    topics = ZwaveTopics(target.prefix, target.gateway)
    node_topics = [topics.node_status(s) for segs in target.nodes.values() for s in segs]
    client_id = f"keyslot-doctor-{secrets.token_hex(4)}"
    client = aiomqtt.Client(
        target.host,
        target.port,
        username=target.username,
        password=target.password,
        identifier=client_id,
        tls_context=target.tls,
        timeout=timeout,
        clean_session=True,
    )

    async def session() -> dict[str, bytes]:
        async with client:
            probe = f"_keyslot/{client_id}/doctor"
            wanted = [topics.gateway_status, *node_topics]
            return await _collect(client, wanted, probe, timeout, clock)

    try:
        seen = await wait_for(clock, session(), timeout * 2)
    except ClockTimeout:
        return [
            fail(
                target.label,
                f"{target.host}:{target.port} accepted no MQTT session within {timeout:g} s",
                "check that it is an MQTT broker port and no firewall drops it",
            )
        ]
    except (aiomqtt.MqttError, OSError) as exc:
        return [_mqtt_failure(target, exc)]
    login = f" as {target.username}" if target.username else ""
    results = [
        ok(target.label, f"the broker at {target.host}:{target.port} accepts keyslot{login}")
    ]
    gateway = _gateway_result(target, topics.gateway_status, seen.get(topics.gateway_status))
    results.append(gateway)
    if gateway.status.value == "ok":
        results += [_node_result(target, n, segs, seen) for n, segs in sorted(target.nodes.items())]
    return results


# --------------------------------------------------------------------------- D-Bus / BlueZ


def system_bus_socket(environ: dict[str, str] | None = None) -> Path:
    """The system bus socket bleak will use: `$DBUS_SYSTEM_BUS_ADDRESS` or the default."""
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    for part in address.split(";"):
        if part.startswith("unix:"):
            for option in part[len("unix:") :].split(","):
                key, _, value = option.partition("=")
                if key == "path" and value:
                    return Path(value)
    return SYSTEM_BUS_SOCKET


_BUS_FIX = "sudo apt install dbus && sudo systemctl enable --now dbus"
_BLUEZ_FIX = "sudo apt install bluez && sudo systemctl enable --now bluetooth"


async def _bluez_objects(bus: Any) -> tuple[str | None, dict[str, Any]]:
    """(error name or None, BlueZ's managed objects)."""
    from dbus_fast import Message, MessageType

    has_owner = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="NameHasOwner",
            signature="s",
            body=[_BLUEZ],
        )
    )
    if has_owner.message_type == MessageType.ERROR:
        return str(has_owner.error_name), {}
    if not has_owner.body[0]:
        return "not-running", {}
    reply = await bus.call(
        Message(
            destination=_BLUEZ,
            path="/",
            interface="org.freedesktop.DBus.ObjectManager",
            member="GetManagedObjects",
        )
    )
    if reply.message_type == MessageType.ERROR:
        return str(reply.error_name), {}
    objects: dict[str, Any] = reply.body[0]
    return None, objects


async def check_bluez(
    socket_path: Path, *, timeout: float = 5.0, clock: Clock | None = None
) -> list[CheckResult]:
    """The system bus answers, BlueZ is on it, lets this user in, and has a powered adapter."""
    try:
        from dbus_fast.aio import MessageBus
    except ImportError:
        return [
            fail(
                "d-bus",
                "dbus-fast is not installed; BLE locks need it (through bleak)",
                "pip install 'keyslot[ble]' in keyslot's virtual environment",
            )
        ]
    if not os.path.exists(socket_path):  # noqa: ASYNC240 - one stat of a local socket
        return [
            fail(
                "d-bus",
                f"no D-Bus system bus at {socket_path}: bleak reaches BlueZ through it",
                _BUS_FIX,
            )
        ]
    bus = MessageBus(bus_address=f"unix:path={socket_path}")
    try:
        await wait_for(clock or SystemClock(), bus.connect(), timeout)
    except ClockTimeout:
        return [fail("d-bus", f"the system bus at {socket_path} did not answer in {timeout:g} s")]
    except Exception as exc:  # noqa: BLE001 - dbus-fast raises OSError, AuthError, DBusError…
        return [
            fail(
                "d-bus",
                f"cannot connect to the system bus at {socket_path} as {user_name()}: {exc}",
                _BUS_FIX,
            )
        ]
    try:
        error, objects = await wait_for(clock or SystemClock(), _bluez_objects(bus), timeout)
    except ClockTimeout:
        return [fail("bluez", f"BlueZ did not answer within {timeout:g} s", _BLUEZ_FIX)]
    finally:
        bus.disconnect()
    return [ok("d-bus", f"the system bus at {socket_path} answers"), _bluez_result(error, objects)]


def _bluez_result(error: str | None, objects: dict[str, Any]) -> CheckResult:
    if error == "not-running":
        return fail("bluez", "BlueZ (bluetoothd) is not on the system bus", _BLUEZ_FIX)
    if error is not None:
        if "AccessDenied" in error:
            return fail(
                "bluez",
                f"D-Bus lets user {user_name()} not talk to BlueZ ({error})",
                f"sudo usermod -aG bluetooth {user_name()} (the keyslot service gets it "
                "from SupplementaryGroups=bluetooth), then log in again",
            )
        return fail("bluez", f"BlueZ answered with {error}", _BLUEZ_FIX)
    adapters = {path: ifaces[_ADAPTER] for path, ifaces in objects.items() if _ADAPTER in ifaces}
    if not adapters:
        return fail(
            "bluez",
            "BlueZ runs but sees no Bluetooth adapter",
            "`sudo rfkill unblock bluetooth`; on a Raspberry Pi remove dtoverlay=disable-bt "
            "from /boot/firmware/config.txt; a USB dongle shows in `lsusb`",
        )
    powered = {
        path: props for path, props in adapters.items() if _value(props.get("Powered")) is True
    }
    if not powered:
        names = ", ".join(sorted(p.rsplit("/", 1)[-1] for p in adapters))
        return fail(
            "bluez",
            f"the Bluetooth adapter ({names}) is powered off",
            "`bluetoothctl power on`; to keep it on after a reboot set AutoEnable=true in "
            "/etc/bluetooth/main.conf",
        )
    path, props = sorted(powered.items())[0]
    address = _value(props.get("Address")) or "?"
    return ok("bluez", f"adapter {path.rsplit('/', 1)[-1]} ({address}) is powered")


def _value(variant: Any) -> Any:
    return getattr(variant, "value", variant)

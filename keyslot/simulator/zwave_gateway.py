"""Serves LockFirmware nodes over MQTT the way zwave-js-ui serves Z-Wave locks.

Retained value topics for every user code, writes through `/set` or the `writeValue` API
answered at once and verified by a Get `verification_delay` seconds later (zwave-js does
so about a second after each Set), masked read-back for profiles that mask, the v2
checksum, node status, a gateway status with an MQTT last will, the `getNodes`,
`writeValue`, `refreshCCValues` and `pollValue` APIs, and Access Control notifications
for what happens at the keypad. Faults come from each firmware's `FaultPlan` (lost,
unconfirmed, failed, delayed commands, a full table), `set_node_state` (a dead or sleeping
node) and `latency` (a slow network). `keyslot sim zwave` runs it as a process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import secrets
import socket
import ssl
from collections import Counter
from collections.abc import Coroutine, Mapping
from typing import Any

import aiomqtt

from keyslot.protocol.clock import Clock
from keyslot.protocol.slots import KeyslotError, LockEvent, LockEventKind
from keyslot.protocol.zwave_api import (
    ApiResponse,
    decode_api_request,
    encode_api_response,
)
from keyslot.protocol.zwave_mqtt import (
    ApiTopic,
    GatewayStatus,
    KeypadNotification,
    NodeStatus,
    ValueTopic,
    ZwaveTopics,
    decode_set,
    encode_gateway_status,
    encode_node_status,
    encode_notification,
    encode_time_value,
)
from keyslot.protocol.zwave_nodes import encode_node
from keyslot.protocol.zwave_values import (
    DEFAULT_GATEWAY,
    DEFAULT_PREFIX,
    USER_CODE,
    USER_CODE_CC,
    USER_ID_STATUS,
    NodeState,
    NotificationEvent,
    ValueId,
    ZwaveCodecError,
)
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.zwave_node import SimNode
from keyslot.simulator.zwave_radio import CommandFailed, CommandLost, SimRadio

__all__ = ["ZwaveGatewaySim", "configure_cli", "run_cli"]

log = logging.getLogger(__name__)

_KEYPAD_EVENTS: dict[LockEventKind, NotificationEvent] = {
    LockEventKind.KEYPAD_UNLOCK: NotificationEvent.KEYPAD_UNLOCK,
    LockEventKind.MANUAL_UNLOCK: NotificationEvent.MANUAL_UNLOCK,
    LockEventKind.CODE_ADDED: NotificationEvent.NEW_USER_CODE_ADDED,
    LockEventKind.CODE_CHANGED: NotificationEvent.NEW_USER_CODE_ADDED,
    LockEventKind.CODE_DELETED: NotificationEvent.SINGLE_USER_CODE_DELETED,
    LockEventKind.ONE_TIME_CODE_USED: NotificationEvent.SINGLE_USER_CODE_DELETED,
    LockEventKind.ALL_CODES_DELETED: NotificationEvent.ALL_USER_CODES_DELETED,
    LockEventKind.LOCKOUT: NotificationEvent.KEYPAD_TEMPORARILY_DISABLED,
}


class ZwaveGatewaySim:
    """A zwave-js-ui stand-in on a real MQTT broker; use `async with` or start()/aclose().

    `clock` is the locks' time (payload timestamps, fault windows); `delay_clock` measures
    the radio's delays (latency, verification) and defaults to `clock`.
    """

    def __init__(
        self,
        nodes: Mapping[int, LockFirmware],
        *,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        gateway: str = DEFAULT_GATEWAY,
        delay_clock: Clock | None = None,
        verification_delay: float = 1.0,
        latency: float = 0.0,
        supervised: bool = False,
        node_topic: str = "nodeID",
        names: Mapping[int, str] | None = None,
        reconnect_delay: float = 1.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.topics = ZwaveTopics(prefix, gateway)
        self.clock = clock
        self.delays = delay_clock or clock
        self.host, self.port = host, port
        self._username, self._password = username, password
        self._tls_context = tls_context
        self.reconnect_delay = reconnect_delay
        self.nodes: dict[int, SimNode] = {}
        for node_id, firmware in nodes.items():
            name = (names or {}).get(node_id, "")
            segment = name or ZwaveTopics.node_segment(node_id, style=node_topic)
            self.nodes[node_id] = SimNode(node_id, firmware, segment, name=name)
        self._by_segment = {node.segment: node for node in self.nodes.values()}
        self.stats: Counter[str] = Counter()
        self.connected = False
        self.client_id = f"zwave-js-ui-sim-{secrets.token_hex(4)}"
        self._outbox: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()
        self.radio = SimRadio(
            self,
            clock=clock,
            delays=self.delays,
            verification_delay=verification_delay,
            latency=latency,
            supervised=supervised,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._run_task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._connected_event = asyncio.Event()
        self._closing = False
        self._unsubscribe = [
            node.firmware.subscribe(functools.partial(self._on_firmware_event, node))
            for node in self.nodes.values()
        ]

    @property
    def latency(self) -> float:
        """Seconds each frame spends on the air (raise it for a slow network)."""
        return self.radio.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.radio.latency = seconds

    @property
    def max_in_flight(self) -> int:
        """The most commands (and verification reads) unfinished at one time."""
        return self.radio.max_in_flight

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ZwaveGatewaySim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Connect and publish every node; raises KeyslotError if the broker is unreachable."""
        self._first = asyncio.get_running_loop().create_future()
        self._run_task = asyncio.create_task(self._run(), name="zwave-gateway-sim")
        try:
            await self._first
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Say offline (retained), disconnect, and stop every task."""
        if self._closing:
            return
        self._closing = True
        if self.connected:
            self._send(self.topics.gateway_status, encode_gateway_status(GatewayStatus(False)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 5.0)
        for task in list(self._tasks):
            task.cancel()
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    async def flush(self) -> None:
        """Wait until everything queued so far has reached the broker."""
        await self._outbox.join()

    async def wait_connected(self) -> None:
        """Wait until the gateway is connected (again)."""
        await self._connected_event.wait()

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self.topics.gateway_status,
            encode_gateway_status(GatewayStatus(False)),
            qos=1,
            retain=True,
        )
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self._username,
            password=self._password,
            identifier=self.client_id,
            will=will,
            clean_session=True,
            tls_context=self._tls_context,
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )

    async def _run(self) -> None:
        while not self._closing:
            try:
                async with self._client() as client:
                    await self._connection(client)
            except aiomqtt.MqttError as exc:
                log.warning("simulated gateway lost the broker: %s", exc)
                if self._first is not None and not self._first.done():
                    self._first.set_exception(
                        KeyslotError(f"cannot reach the MQTT broker {self.host}:{self.port}: {exc}")
                    )
                    return
            finally:
                self.connected = False
                self._connected_event.clear()
            await self.delays.sleep(self.reconnect_delay)

    async def _connection(self, client: aiomqtt.Client) -> None:
        self._drop_outbox()
        reader = asyncio.create_task(self._read(client), name="zwave-gateway-in")
        publisher = asyncio.create_task(self._publisher(client), name="zwave-gateway-out")
        links = {reader, publisher}
        try:
            self._publish_everything()
            for node in self.nodes.values():
                prefix = f"{self.topics.prefix}/{node.segment}/{USER_CODE_CC}/0"
                await client.subscribe(f"{prefix}/+/+/set", qos=1)
            await client.subscribe(f"{self.topics.client}/api/+/set", qos=1)
            flushed = asyncio.ensure_future(self._outbox.join())
            try:
                await asyncio.wait({flushed, *links}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                flushed.cancel()
            if not any(link.done() for link in links):
                self.connected = True
                self._connected_event.set()
                if self._first is not None and not self._first.done():
                    self._first.set_result(None)
                await asyncio.wait(links, return_when=asyncio.FIRST_COMPLETED)
            for link in links:
                error = link.exception() if link.done() and not link.cancelled() else None
                if error is not None:
                    raise error
        finally:
            for link in links:
                link.cancel()
            for link in links:
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await link
            self._drop_outbox()

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            raw = message.payload
            payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
            self._dispatch(message.topic.value, payload)

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, retain = await self._outbox.get()
            try:
                await client.publish(topic, payload, qos=1, retain=retain)
                self.stats["published"] += 1
            finally:
                self._outbox.task_done()

    def _drop_outbox(self) -> None:
        while not self._outbox.empty():
            self._outbox.get_nowait()
            self._outbox.task_done()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulated gateway task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ publishing

    def _ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def _send(self, topic: str, payload: bytes, *, retain: bool = True) -> None:
        self._outbox.put_nowait((topic, payload, retain))

    def value(self, node: SimNode, prop: str, key: int | None, value: object) -> None:
        topic = self.topics.value(node.segment, USER_CODE_CC, prop, key)
        self._send(topic, encode_time_value(value, self._ms()))

    def report(self, node: SimNode, user_id: int) -> None:
        status, code = node.report(user_id)
        self.value(node, USER_ID_STATUS, user_id, status)
        self.value(node, USER_CODE, user_id, code)

    def _publish_status(self, node: SimNode) -> None:
        status = NodeStatus(node.state, node.state.reachable, node.node_id, self._ms())
        self._send(self.topics.node_status(node.segment), encode_node_status(status))

    def _publish_everything(self) -> None:
        self._send(
            self.topics.gateway_status, encode_gateway_status(GatewayStatus(True, self._ms()))
        )
        for node in self.nodes.values():
            self._publish_status(node)
            for prop, key, value in node.retained_values():
                self.value(node, prop, key, value)

    def notify(self, node: SimNode, event: NotificationEvent, user_id: int | None) -> None:
        payload = encode_notification(KeypadNotification(event, user_id), self._ms())
        self._send(self.topics.notification(node.segment, event), payload, retain=False)

    def _on_firmware_event(self, node: SimNode, event: LockEvent) -> None:
        if not self.connected:
            return
        kind = event.kind
        if kind is LockEventKind.ACCESS_DENIED:
            if event.reason != "too_many_attempts":
                self.notify(node, NotificationEvent.INVALID_CODE, event.slot)
            return
        if kind is LockEventKind.REBOOTED:
            self._publish_status(node)
            return
        notification = _KEYPAD_EVENTS.get(kind)
        if notification is None:
            return
        self.notify(node, notification, event.slot)
        if kind is LockEventKind.ALL_CODES_DELETED:
            for user_id in node.user_ids:
                self.report(node, user_id)
        elif kind not in (LockEventKind.KEYPAD_UNLOCK, LockEventKind.MANUAL_UNLOCK) and (
            event.slot is not None and event.slot in node.user_ids
        ):
            self.report(node, event.slot)  # the lock reports the changed code

    def set_node_state(self, node_id: int, state: NodeState) -> None:
        """Fault injection: make a node Dead, Asleep, Awake or Alive (published at once)."""
        node = self.nodes[node_id]
        node.set_state(state)
        if self.connected:
            self._publish_status(node)

    # ------------------------------------------------------------------ requests

    def _dispatch(self, topic: str, payload: bytes) -> None:
        try:
            parsed = self.topics.parse(topic)
            if isinstance(parsed, ValueTopic) and parsed.is_set:
                node = self._by_segment.get(parsed.node)
                key = parsed.property_key
                if node is not None and isinstance(key, int) and parsed.command_class == 99:
                    value = decode_set(payload).value
                    self.stats["set"] += 1
                    self.spawn(self.radio.handle_set(node, parsed.property, key, value))
            elif (
                isinstance(parsed, ApiTopic)
                and parsed.is_request
                and parsed.gateway == self.topics.gateway
            ):
                request = decode_api_request(payload)
                self.stats[parsed.api] += 1
                self.spawn(self._handle_api(parsed.api, request.args, request.request_id))
        except ZwaveCodecError as exc:
            log.warning("simulated gateway ignores a bad message on %s: %s", topic, exc.message)

    def _answer(
        self, api: str, args: tuple[Any, ...], request_id: str | None, response: ApiResponse
    ) -> None:
        origin: dict[str, Any] = {"args": list(args)}
        if request_id is not None:
            origin["requestId"] = request_id
        full = ApiResponse(response.success, response.message, response.result, args, origin)
        self._send(self.topics.api_response(api), encode_api_response(full), retain=False)

    async def _handle_api(self, api: str, args: tuple[Any, ...], request_id: str | None) -> None:
        if api != "getNodes":
            self.radio.enter()
        try:
            result = await self._call(api, args)
        except CommandFailed as exc:
            self._answer(api, args, request_id, ApiResponse(False, str(exc)))
        except CommandLost:
            return  # the command or its answer was lost: the caller hears nothing
        else:
            self._answer(api, args, request_id, ApiResponse(True, "Success zwave api call", result))
        finally:
            if api != "getNodes":
                self.radio.exit()

    def _node(self, node_id: object) -> SimNode:
        node = self.nodes.get(node_id) if isinstance(node_id, int) else None
        if node is None:
            raise CommandFailed(f"Node {node_id} not found")
        return node

    async def _call(self, api: str, args: tuple[Any, ...]) -> Any:
        if api == "getNodes":
            return [encode_node(node.summary()) for node in self.nodes.values()]
        if api in ("writeValue", "pollValue"):
            try:
                value_id = ValueId.from_json(args[0] if args else None)
            except ZwaveCodecError as exc:
                raise CommandFailed(f"Invalid valueId: {exc.message}") from None
            node = self._node(value_id.node_id)
            if value_id.command_class != USER_CODE_CC:
                raise CommandFailed(f"Command class {value_id.command_class} is not simulated")
            if api == "writeValue":
                return await self._write_value(node, value_id, args)
            return await self.radio.poll(node, value_id)
        if api == "refreshCCValues":
            node = self._node(args[0] if args else None)
            if len(args) < 2 or args[1] != USER_CODE_CC:
                raise CommandFailed("only the User Code CC (99) is simulated")
            await self.radio.refresh(node)
            return None
        raise CommandFailed(f"Unknown API {api}")

    async def _write_value(self, node: SimNode, value_id: ValueId, args: tuple[Any, ...]) -> Any:
        key = value_id.property_key
        if len(args) < 2 or not isinstance(key, int):
            raise CommandFailed("writeValue needs a user id and a value")
        status = await self.radio.write(node, value_id.property, key, args[1])
        return {"status": int(status)}


# --------------------------------------------------------------------------- CLI


def configure_cli(parser: argparse.ArgumentParser) -> None:
    """Options of `keyslot sim zwave` (see `keyslot.simulator.zwave_cli`)."""
    from keyslot.simulator import zwave_cli

    zwave_cli.configure_cli(parser)


def run_cli(args: argparse.Namespace) -> int:
    """Run `keyslot sim zwave` until interrupted."""
    from keyslot.simulator import zwave_cli

    return zwave_cli.run_cli(args)

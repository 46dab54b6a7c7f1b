"""One MQTT connection per zwave-js-ui gateway, shared by the drivers of its lock nodes.

A Z-Wave network is one radio. Its connection carries the network-wide cap on concurrent
commands, matches API answers to their requests, reconnects with backoff after a broker
outage, and hands each value, node status and notification to the node it concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt

from keyslot.drivers.zwave_options import NetworkOptions
from keyslot.protocol.clock import Clock, ClockTimeout, wait_for
from keyslot.protocol.slots import AuthenticationFailed, KeyslotError, LockTimeout, LockUnavailable
from keyslot.protocol.zwave_api import (
    ApiRequest,
    ApiResponse,
    decode_api_response,
    encode_api_request,
)
from keyslot.protocol.zwave_mqtt import (
    ApiTopic,
    GatewayStatusTopic,
    NodeStatus,
    NodeStatusTopic,
    ValueTopic,
    ZwaveTopics,
    decode_gateway_status,
    decode_node_status,
)
from keyslot.protocol.zwave_values import (
    NOTIFICATION_CC,
    USER_CODE_CC,
    ZwaveCodecError,
)

__all__ = [
    "NodeListener",
    "ZwaveNetwork",
    "acquire_network",
    "release_network",
]

log = logging.getLogger(__name__)


class NodeListener(Protocol):
    """What the network tells a node: its values, its status, and the state of the link."""

    @property
    def segments(self) -> tuple[str, ...]: ...

    def on_value(self, topic: ValueTopic, payload: bytes, *, retained: bool, seq: int) -> None: ...

    def on_node_status(self, status: NodeStatus, seq: int) -> None: ...

    def on_link(self, up: bool, reason: str) -> None: ...


@dataclass(slots=True)
class _Pending:
    api: str
    args: str  # normalised JSON, to match an answer that does not echo the request id
    future: asyncio.Future[ApiResponse]


@dataclass(slots=True)
class _Cap:
    semaphore: asyncio.Semaphore
    limit: int
    refs: int = 0


_CAPS: dict[tuple[object, ...], _Cap] = {}


# CONNACK codes of a refused login: MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135)
_AUTH_REFUSED = frozenset({4, 5, 134, 135})


def _reason_code(exc: aiomqtt.MqttCodeError) -> int | None:
    rc = exc.rc
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None


def _forget(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen: its waiter has already gone another way."""
    if future.done() and not future.cancelled():
        future.exception()


def _canonical(args: Sequence[Any]) -> str:
    return json.dumps(list(args), sort_keys=True, separators=(",", ":"))


class ZwaveNetwork:
    """The shared connection: get it with `acquire_network`, give it back with `release_network`."""

    def __init__(self, options: NetworkOptions, clock: Clock) -> None:
        self.options = options
        self.clock = clock
        self.topics = ZwaveTopics(options.prefix, options.gateway)
        self.client_id = options.client_id or f"keyslot-{secrets.token_hex(6)}"
        self.seq = 0
        self.connected = False
        self.gateway_online: bool | None = None
        self.stats: Counter[str] = Counter()
        self._listeners: dict[str, NodeListener] = {}
        self._pending: dict[str, _Pending] = {}
        self._syncs: dict[str, asyncio.Future[None]] = {}
        self._ids = itertools.count(1)
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._down: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing = False
        self._sync_topic = f"_keyslot/{self.client_id}/sync"
        loop = asyncio.get_running_loop()
        cap_key = (loop, *options.radio_key)
        cap = _CAPS.get(cap_key)
        if cap is None:
            cap = _CAPS[cap_key] = _Cap(
                asyncio.Semaphore(options.max_concurrent), options.max_concurrent
            )
        elif cap.limit != options.max_concurrent:
            log.warning(
                "Z-Wave network %s:%s/%s already runs with max_concurrent=%d; ignoring %d",
                options.host, options.port, options.gateway, cap.limit, options.max_concurrent,
            )  # fmt: skip
        cap.refs += 1
        self._cap_key = cap_key
        self._cap = cap

    # ------------------------------------------------------------------ lifecycle

    @property
    def link_up(self) -> bool:
        """Connected to the broker and the gateway not known to be offline."""
        return self.connected and self.gateway_online is not False

    async def start(self) -> None:
        """Connect for the first time; LockUnavailable when the broker cannot be reached."""
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"zwave-mqtt {self.client_id}")
        try:
            await self._first
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lost("the driver closed the connection")
        self._cap.refs -= 1
        if self._cap.refs <= 0 and _CAPS.get(self._cap_key) is self._cap:
            del _CAPS[self._cap_key]

    def _client_for(self) -> aiomqtt.Client:
        options = self.options
        return aiomqtt.Client(
            options.host,
            options.port,
            username=options.username,
            password=options.password,
            identifier=self.client_id,
            keepalive=options.keepalive,
            tls_context=options.tls.context() if options.tls is not None else None,
            clean_session=True,
            timeout=options.api_timeout,
            # Commands are small messages answered one by one: Nagle would hold each back.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            refused: KeyslotError | None = None
            connected = False
            try:
                client = self._client_for()
                async with client:
                    connected = True
                    attempt = 0
                    await self._connection(client)
            except aiomqtt.MqttCodeError as exc:
                reason = f"MQTT broker {self.options.host}:{self.options.port}: {exc}"
                if not connected and _reason_code(exc) in _AUTH_REFUSED:
                    refused = AuthenticationFailed(f"the MQTT broker refused the login ({exc})")
            except aiomqtt.MqttError as exc:
                reason = f"MQTT broker {self.options.host}:{self.options.port}: {exc}"
            except LockUnavailable as exc:
                reason = exc.message
            else:
                reason = "the MQTT broker closed the connection"
            self._lost(reason)
            if self._first is not None and not self._first.done():
                self._first.set_exception(refused or LockUnavailable(f"cannot connect: {reason}"))
                return
            delay = min(self.options.reconnect_max, self.options.reconnect_min * 2**attempt)
            attempt += 1
            log.warning("Z-Wave gateway link down (%s); reconnecting in %.1f s", reason, delay)
            await self.clock.sleep(delay * random.uniform(0.5, 1.0))

    async def _connection(self, client: aiomqtt.Client) -> None:
        self._down = asyncio.get_running_loop().create_future()
        reader = asyncio.create_task(self._read(client), name=f"zwave-mqtt-read {self.client_id}")
        try:
            self._client = client
            gateway = self.topics.client
            for topic in (self._sync_topic, f"{gateway}/status", f"{gateway}/api/+"):
                await self._unless_down(client.subscribe(topic, qos=1), "subscribe")
            for segment in list(self._listeners):
                await self._subscribe_node(client, segment)
            await self._barrier(client)
            self.connected = True
            self.stats["connects"] += 1
            self._notify_link()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            await reader
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._dispatch(message)

    def _lost(self, reason: str) -> None:
        was_connected = self.connected
        self.connected = False
        self._client = None
        if not self._down.done():
            self._down.set_result(None)
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(LockUnavailable(f"lost the gateway link: {reason}"))
        for future in self._syncs.values():
            if not future.done():
                future.set_exception(LockUnavailable(f"lost the gateway link: {reason}"))
        if was_connected:
            for listener in self._unique_listeners():
                listener.on_link(False, reason)

    def _unique_listeners(self) -> list[NodeListener]:
        return list({id(x): x for x in self._listeners.values()}.values())

    def _notify_link(self) -> None:
        up = self.link_up
        reason = "gateway online" if up else "gateway offline"
        for listener in self._unique_listeners():
            listener.on_link(up, reason)

    # ------------------------------------------------------------------ nodes

    async def _subscribe_node(self, client: aiomqtt.Client, segment: str) -> None:
        base = f"{self.options.prefix}/{segment}"
        for topic in (f"{base}/{USER_CODE_CC}/0/#", f"{base}/{NOTIFICATION_CC}/0/#"):
            await self._unless_down(client.subscribe(topic, qos=1), "subscribe")
        await self._unless_down(client.subscribe(f"{base}/status", qos=1), "subscribe")

    async def attach(self, listener: NodeListener) -> None:
        """Start delivering a node's topics; returns once its retained values have arrived."""
        for segment in listener.segments:
            if segment in self._listeners:
                raise LockUnavailable(f"node topic {segment!r} is already open in this process")
        for segment in listener.segments:
            self._listeners[segment] = listener
        client = self._client
        if client is None or not self.connected:
            return
        try:
            for segment in listener.segments:
                await self._subscribe_node(client, segment)
            await self.sync()
        except BaseException:
            self.detach(listener)
            raise

    def detach(self, listener: NodeListener) -> None:
        for segment in listener.segments:
            if self._listeners.get(segment) is listener:
                del self._listeners[segment]

    # ------------------------------------------------------------------ incoming

    def _dispatch(self, message: aiomqtt.Message) -> None:
        self.seq += 1
        topic = message.topic.value
        raw = message.payload
        payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
        if topic == self._sync_topic:
            future = self._syncs.get(payload.decode("ascii", errors="replace"))
            if future is not None and not future.done():
                future.set_result(None)
            return
        try:
            parsed = self.topics.parse(topic)
            if isinstance(parsed, ValueTopic):
                listener = self._listeners.get(parsed.node)
                if listener is not None and not parsed.is_set:
                    listener.on_value(parsed, payload, retained=bool(message.retain), seq=self.seq)
            elif isinstance(parsed, NodeStatusTopic):
                listener = self._listeners.get(parsed.node)
                if listener is not None:
                    listener.on_node_status(decode_node_status(payload), self.seq)
            elif isinstance(parsed, GatewayStatusTopic) and parsed.gateway == self.options.gateway:
                online = decode_gateway_status(payload).online
                if online != self.gateway_online:
                    self.gateway_online = online
                    if self.connected:
                        self._notify_link()
            elif isinstance(parsed, ApiTopic) and not parsed.is_request:
                self._on_api_response(parsed.api, decode_api_response(payload))
        except ZwaveCodecError as exc:
            log.warning("ignoring a malformed message on %s: %s", topic, exc.message)

    def _on_api_response(self, api: str, response: ApiResponse) -> None:
        request_id = response.request_id
        if request_id is not None:
            pending = self._pending.get(request_id)
            if pending is not None and not pending.future.done():
                pending.future.set_result(response)
            return
        # The gateway did not echo our id: take the oldest open request with the same args.
        args = _canonical(response.args)
        for pending in self._pending.values():
            if pending.api == api and pending.args == args and not pending.future.done():
                pending.future.set_result(response)
                return

    # ------------------------------------------------------------------ outgoing

    def _require_client(self) -> aiomqtt.Client:
        client = self._client
        if client is None or not self.connected:
            raise LockUnavailable("not connected to the MQTT broker")
        return client

    async def _unless_down(self, aw: Awaitable[Any], what: str) -> None:
        """Await an aiomqtt call, or give up when the connection ends: aiomqtt keeps waiting
        for the broker's acknowledgement on a connection that died."""
        down = self._down
        call = asyncio.ensure_future(aw)
        try:
            await asyncio.wait({call, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await call
        if call.cancelled():
            raise LockUnavailable(f"lost the MQTT broker while trying to {what}")
        exc = call.exception()
        if isinstance(exc, aiomqtt.MqttError):
            raise LockUnavailable(f"cannot {what}: {exc}") from None
        if exc is not None:
            raise exc

    async def _publish(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        await self._unless_down(client.publish(topic, payload, qos=1), "publish to the broker")

    async def publish(self, topic: str, payload: bytes, *, kind: str) -> None:
        """Publish one message to the gateway (counted under `kind` in `stats`)."""
        client = self._require_client()
        self.stats[kind] += 1
        await self._publish(client, topic, payload)

    async def call(
        self, api: str, args: Sequence[Any], *, timeout: float | None = None
    ) -> ApiResponse:
        """Call a zwave-js-ui API and wait for its answer (LockTimeout when none comes)."""
        client = self._require_client()
        request_id = f"{self.client_id}:{next(self._ids)}"
        future: asyncio.Future[ApiResponse] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = _Pending(api, _canonical(args), future)
        limit = self.options.api_timeout if timeout is None else timeout
        try:
            self.stats[api] += 1
            request = ApiRequest(tuple(args), request_id)
            await self._publish(client, self.topics.api_request(api), encode_api_request(request))
            return await wait_for(self.clock, future, limit)
        except ClockTimeout:
            raise LockTimeout(f"the gateway did not answer {api} within {limit:g} s") from None
        finally:
            self._pending.pop(request_id, None)
            _forget(future)

    async def _barrier(self, client: aiomqtt.Client) -> None:
        token = secrets.token_hex(8)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._syncs[token] = future
        try:
            await self._publish(client, self._sync_topic, token.encode())
            await wait_for(self.clock, future, self.options.api_timeout)
        except ClockTimeout:
            raise LockUnavailable("the MQTT broker did not echo a sync message") from None
        finally:
            self._syncs.pop(token, None)
            _forget(future)

    async def sync(self) -> None:
        """Wait until every message the broker had for this connection has been handled."""
        await self._barrier(self._require_client())

    @contextlib.asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """Hold one of the network's command slots (shared by every driver in the process)."""
        async with self._cap.semaphore:
            yield


@dataclass(slots=True)
class _Entry:
    network: ZwaveNetwork
    refs: int = 0


_NETWORKS: dict[tuple[object, ...], _Entry] = {}


async def acquire_network(options: NetworkOptions, clock: Clock) -> ZwaveNetwork:
    """The connection for `options`, opened on first use and shared by later callers."""
    loop = asyncio.get_running_loop()
    key = (loop, *options.connection_key)
    entry = _NETWORKS.get(key)
    if entry is None:
        entry = _NETWORKS[key] = _Entry(ZwaveNetwork(options, clock))
        entry.refs += 1
        try:
            await entry.network.start()
        except BaseException:
            _NETWORKS.pop(key, None)
            raise
        return entry.network
    entry.refs += 1
    first = entry.network._first
    if first is not None and not first.done():
        try:
            await asyncio.shield(first)
        except BaseException:
            entry.refs -= 1
            raise
    return entry.network


async def release_network(network: ZwaveNetwork) -> None:
    """Give a connection back; the last user closes it."""
    for key, entry in list(_NETWORKS.items()):
        if entry.network is network:
            entry.refs -= 1
            if entry.refs <= 0:
                del _NETWORKS[key]
                await network.aclose()
            return
    await network.aclose()

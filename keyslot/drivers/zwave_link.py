"""A lock node's link through zwave-js-ui: reachability, the radio permit, API calls, the
node's capabilities and its events; the base of the Z-Wave driver (`zwave_mqtt`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

from keyslot.drivers.event_queue import BoundedEventStream
from keyslot.drivers.zwave_network import ZwaveNetwork, release_network
from keyslot.drivers.zwave_node import NodeCache
from keyslot.drivers.zwave_options import DriverOptions
from keyslot.protocol.clock import Clock, ClockTimeout
from keyslot.protocol.slots import (
    CodeRejected,
    FinalError,
    LockEvent,
    LockInfo,
    LockUnavailable,
    ProtocolError,
    SlotNotFound,
    SlotProgrammerBase,
)
from keyslot.protocol.zwave_api import (
    ApiResponse,
)
from keyslot.protocol.zwave_nodes import NodeSummary, decode_nodes
from keyslot.protocol.zwave_values import (
    MAX_CODE_LENGTH,
    MIN_CODE_LENGTH,
    USER_CODE_CC,
    NodeState,
    ValueId,
    ZwaveCodecError,
    validate_code,
)

__all__ = ["EventHub", "NodeNotFound", "ZwaveNodeLink"]

log = logging.getLogger(__name__)

EVENT_QUEUE_SIZE = 256
_DIGIT_RUNS = re.compile(r"\d{4,}")  # long enough to be a PIN


class NodeNotFound(FinalError):
    """The gateway has no node with the id in the lock URL."""

    code = "node_not_found"


class _Stream(BoundedEventStream):
    def __init__(self, hub: EventHub) -> None:
        super().__init__(EVENT_QUEUE_SIZE)
        self._hub = hub

    def push(self, event: LockEvent | None) -> None:
        before = self.dropped
        super().push(event)
        if self.dropped != before:
            log.warning("a lock event reader is too slow; dropped its oldest event")

    def _detach(self) -> None:
        self._hub.forget(self)


class EventHub:
    """Fans lock events out to every `events()` iterator; a slow reader loses the oldest (and
    its stream counts them in `dropped`)."""

    def __init__(self) -> None:
        self._streams: list[_Stream] = []
        self._closed = False

    def publish(self, event: LockEvent) -> None:
        for stream in self._streams:
            stream.push(event)

    def stream(self) -> BoundedEventStream:
        """A new iterator; it sees every event from now on, and ends when the lock closes."""
        stream = _Stream(self)
        if self._closed:
            stream.close()
        else:
            self._streams.append(stream)
        return stream

    def forget(self, stream: _Stream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def close(self) -> None:
        self._closed = True
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()


class ZwaveNodeLink(SlotProgrammerBase):
    """What every operation on one node needs: is it reachable, a radio permit, gateway API
    calls, the node's capabilities, its events. `ZwaveMqttLock` adds reading and writing."""

    def __init__(self, network: ZwaveNetwork, options: DriverOptions, clock: Clock) -> None:
        self.network = network
        self.options = options
        self.clock = clock
        self.node_id = options.node_id
        self._hub = EventHub()
        self.cache = NodeCache(options.node_id, options.segments, clock, self._hub.publish)
        self.stats: Counter[str] = Counter()
        self._op_lock = asyncio.Lock()
        self._info: LockInfo | None = None
        self._summary: NodeSummary | None = None
        self._closed = False

    async def _attach(self) -> None:
        await self.network.attach(self.cache)

    # ------------------------------------------------------------------ plumbing

    def _check_reachable(self) -> None:
        if self._closed:
            raise LockUnavailable("this lock driver is closed")
        if not self.network.connected:
            raise LockUnavailable("not connected to the MQTT broker")
        reason = self.cache.unreachable_reason()
        if reason is not None:
            raise LockUnavailable(reason)

    async def _ready(self) -> None:
        """Return when a command can reach the lock; a sleeping node is waited for."""
        self._check_reachable()
        if self.cache.state is NodeState.ASLEEP:
            try:
                await self.cache.wait_until(
                    lambda: self.cache.state is not NodeState.ASLEEP, self.options.wake_timeout
                )
            except ClockTimeout:
                raise LockUnavailable(
                    f"Z-Wave node {self.node_id} stayed asleep for {self.options.wake_timeout:g} s"
                ) from None
            self._check_reachable()

    @contextlib.asynccontextmanager
    async def _command(self) -> AsyncIterator[None]:
        """One command on the radio: the lock reachable and a network-wide permit held."""
        while True:
            await self._ready()
            async with self.network.permit():
                if self.cache.state is NodeState.ASLEEP:
                    continue  # fell asleep while queued: give the permit to someone else
                self._check_reachable()
                yield
                return

    async def _call(self, api: str, args: Sequence[Any], *, timeout: float | None = None) -> Any:
        response = await self.network.call(api, args, timeout=timeout)
        if not response.success:
            raise self._api_failure(api, response)
        return response.result

    def _api_failure(self, api: str, response: ApiResponse) -> LockUnavailable:
        # A gateway's message may quote a value: a write's is dropped, digit runs are masked.
        detail = "" if api == "writeValue" else f": {_DIGIT_RUNS.sub('#', response.message[:200])}"
        if "dead" in response.message.lower():
            return LockUnavailable(f"Z-Wave node {self.node_id} is dead ({api} failed)")
        return LockUnavailable(f"the gateway could not carry out {api}{detail}")

    async def _poll(self, value_id: ValueId) -> Any:
        self.stats["polls"] += 1
        async with self._command():
            return await self._call("pollValue", [value_id.to_json()])

    # ------------------------------------------------------------------ info

    async def _node_summary(self) -> NodeSummary:
        if self._summary is None:
            self._check_reachable()
            result = await self._call("getNodes", [])
            try:
                nodes = decode_nodes(result)
            except ZwaveCodecError as exc:
                raise ProtocolError(f"the gateway's getNodes answer: {exc.message}") from None
            summary = nodes.get(self.node_id)
            if summary is None:
                raise NodeNotFound(f"the Z-Wave gateway has no node {self.node_id}")
            self._learn(summary)
            self._summary = summary
        return self._summary

    def _learn(self, summary: NodeSummary) -> None:
        values = {
            (value_id.property, value_id.property_key): value
            for value_id, value in summary.values
            if value_id.command_class == USER_CODE_CC and value_id.endpoint == 0
        }
        self.cache.learn(values, self.network.seq)
        if self.cache.state is NodeState.UNKNOWN:
            self.cache.state = summary.state

    async def info(self) -> LockInfo:
        if self._info is None:
            summary = await self._node_summary()
            cache = self.cache
            slots = self.options.slots or cache.supported_users or max(cache.cells, default=0)
            if not slots:
                raise ProtocolError(f"the gateway shows no user codes for node {self.node_id}")
            self._info = LockInfo(
                model=summary.product_label or summary.product_description or "Z-Wave lock",
                vendor=summary.manufacturer or "unknown",
                slot_count=slots,
                first_slot=1,
                code_lengths=self.options.code_lengths
                or tuple(range(MIN_CODE_LENGTH, MAX_CODE_LENGTH + 1)),
                alphabet=cache.ascii_chars or "0123456789",
                name_rules=None,
                checksum=bool(cache.supports_checksum or cache.checksum is not None),
                firmware_version=summary.firmware_version,
            )
        masked = self.options.masked
        readable = not (masked if masked is not None else self.cache.masked_seen)
        return dataclasses.replace(self._info, codes_readable=readable)

    def _check_slot(self, info: LockInfo, index: int) -> None:
        if index not in info.slot_range:
            last = info.first_slot + info.slot_count - 1
            raise SlotNotFound(f"slot {index} is not one of 1..{last}", slot=index)

    def _check_code(self, info: LockInfo, index: int, code: str) -> None:
        try:
            validate_code(code)
        except ZwaveCodecError as exc:
            raise CodeRejected(exc.message, slot=index, constraint="code_length") from None
        if len(code) not in info.code_lengths:
            lengths = ", ".join(map(str, info.code_lengths))
            raise CodeRejected(
                f"this lock takes codes of {lengths} digits", slot=index, constraint="code_length"
            )
        if any(c not in info.alphabet for c in code):
            raise CodeRejected("the code has keys this keypad does not have", slot=index)

    # ------------------------------------------------------------------ events, lifecycle

    def events(self) -> AsyncIterator[LockEvent]:
        return self._hub.stream()

    async def sync(self) -> None:
        """Wait until every message the broker holds for this lock has been taken in."""
        await self.network.sync()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.network.detach(self.cache)
        self.cache.fail_waiters("the lock driver was closed")
        self._hub.close()
        await release_network(self.network)

"""zwave-js-ui's MQTT API as values: topics and JSON payloads for Z-Wave locks.

Gateway type "ValueId topics", payload type "time-value": the User Code CC (99) values,
Access Control notifications (113), node and gateway status, and the API request/response
topics. Pure: strings and bytes in, frozen values out. Codes always travel as JSON strings,
because a bare `0123` would reach the lock as the number 123.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyslot.protocol.zwave_values import (
    CLIENTS,
    DEFAULT_GATEWAY,
    DEFAULT_PREFIX,
    EVENTS,
    GATEWAY_CLIENT_PREFIX,
    NODE_SEGMENT_PREFIX,
    NOTIFICATION_CC,
    UNSAFE_TOPIC_CHARS,
    USER_CODE,
    USER_CODE_CC,
    USER_ID_STATUS,
    NodeState,
    NotificationEvent,
    ZwaveCodecError,
    dump_json,
    event_by_topic,
    is_json_int,
    load_json,
    time_of,
    topic_level,
    validate_code,
)

__all__ = [
    "ApiTopic",
    "EventTopic",
    "GatewayStatus",
    "GatewayStatusTopic",
    "KeypadNotification",
    "NodeStatus",
    "NodeStatusTopic",
    "ParsedTopic",
    "SetRequest",
    "TimeValue",
    "ValueTopic",
    "ZwaveTopics",
    "decode_gateway_status",
    "decode_node_status",
    "decode_notification",
    "decode_set",
    "decode_value",
    "encode_gateway_status",
    "encode_node_status",
    "encode_notification",
    "encode_set",
    "encode_time_value",
    "encode_user_code_set",
    "node_id_of_segment",
]


# --------------------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class ValueTopic:
    """`<prefix>/<node>/<cc>/<endpoint>/<property>[/<propertyKey>][/set]`."""

    node: str
    command_class: int
    endpoint: int
    property: str
    property_key: int | str | None = None
    is_set: bool = False


@dataclass(frozen=True, slots=True)
class NodeStatusTopic:
    node: str


@dataclass(frozen=True, slots=True)
class GatewayStatusTopic:
    gateway: str


@dataclass(frozen=True, slots=True)
class ApiTopic:
    """`.../api/<api>/set` is a request (`is_request`), `.../api/<api>` its answer."""

    gateway: str
    api: str
    is_request: bool


@dataclass(frozen=True, slots=True)
class EventTopic:
    gateway: str
    source: str
    event: str


ParsedTopic = ValueTopic | NodeStatusTopic | GatewayStatusTopic | ApiTopic | EventTopic


def node_id_of_segment(segment: str) -> int | None:
    """The node id in a node level `nodeID_7` or `7`; None for a node name."""
    text = segment.removeprefix(NODE_SEGMENT_PREFIX)
    if text.isascii() and text.isdigit() and len(text) <= 5:
        return int(text)
    return None


def _key(text: str) -> int | str:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


@dataclass(frozen=True, slots=True)
class ZwaveTopics:
    """Builds and parses the topics of one zwave-js-ui gateway under one prefix."""

    prefix: str = DEFAULT_PREFIX
    gateway: str = DEFAULT_GATEWAY

    def __post_init__(self) -> None:
        for name, text in (("prefix", self.prefix), ("gateway", self.gateway)):
            if not text or UNSAFE_TOPIC_CHARS.search(text.replace("/", "")) or text[-1] == "/":
                raise ZwaveCodecError(f"bad MQTT {name} {text!r}")
        if "/" in self.gateway:
            raise ZwaveCodecError(f"bad gateway name {self.gateway!r}")

    @staticmethod
    def node_segment(node_id: int, *, style: str = "nodeID") -> str:
        """How zwave-js-ui names an unnamed node: `nodeID_7` (use node names) or `7`."""
        return f"{NODE_SEGMENT_PREFIX}{node_id}" if style == "nodeID" else str(node_id)

    def value(
        self,
        node: str,
        command_class: int,
        prop: str,
        key: int | str | None = None,
        *,
        endpoint: int = 0,
    ) -> str:
        base = f"{self.prefix}/{node}/{command_class}/{endpoint}/{topic_level(prop)}"
        return base if key is None else f"{base}/{topic_level(str(key))}"

    def user_code(self, node: str, slot: int) -> str:
        return self.value(node, USER_CODE_CC, USER_CODE, slot)

    def user_id_status(self, node: str, slot: int) -> str:
        return self.value(node, USER_CODE_CC, USER_ID_STATUS, slot)

    def user_code_prop(self, node: str, prop: str) -> str:
        return self.value(node, USER_CODE_CC, prop)

    def notification(self, node: str, event: NotificationEvent) -> str:
        return self.value(node, NOTIFICATION_CC, event.topic_property, event.topic_name)

    @staticmethod
    def set(topic: str) -> str:
        return f"{topic}/set"

    def node_status(self, node: str) -> str:
        return f"{self.prefix}/{node}/status"

    @property
    def client(self) -> str:
        return f"{self.prefix}/{CLIENTS}/{GATEWAY_CLIENT_PREFIX}{self.gateway}"

    @property
    def gateway_status(self) -> str:
        return f"{self.client}/status"

    def api_request(self, api: str) -> str:
        return f"{self.client}/api/{api}/set"

    def api_response(self, api: str) -> str:
        return f"{self.client}/api/{api}"

    def event(self, source: str, event: str) -> str:
        return f"{self.prefix}/{EVENTS}/{GATEWAY_CLIENT_PREFIX}{self.gateway}/{source}/{event}"

    def parse(self, topic: str) -> ParsedTopic | None:
        """What `topic` is, or None for a topic of this prefix that keyslot does not use.

        Raises ZwaveCodecError for a topic outside the prefix.
        """
        head = self.prefix + "/"
        if not topic.startswith(head):
            raise ZwaveCodecError(f"topic {topic!r} is not under prefix {self.prefix!r}")
        levels = topic[len(head) :].split("/")
        if not all(levels):
            return None
        if levels[0] == CLIENTS:
            return _parse_client(levels[1:])
        if levels[0] == EVENTS:
            if len(levels) == 4 and levels[1].startswith(GATEWAY_CLIENT_PREFIX):
                gateway = levels[1].removeprefix(GATEWAY_CLIENT_PREFIX)
                return EventTopic(gateway, levels[2], levels[3])
            return None
        return _parse_node(levels)


def _parse_client(levels: list[str]) -> ParsedTopic | None:
    if not levels or not levels[0].startswith(GATEWAY_CLIENT_PREFIX):
        return None
    gateway = levels[0].removeprefix(GATEWAY_CLIENT_PREFIX)
    rest = levels[1:]
    if rest == ["status"]:
        return GatewayStatusTopic(gateway)
    if len(rest) in (2, 3) and rest[0] == "api" and (len(rest) == 2 or rest[2] == "set"):
        return ApiTopic(gateway, rest[1], is_request=len(rest) == 3)
    return None


def _parse_node(levels: list[str]) -> ParsedTopic | None:
    is_set = levels[-1] == "set"
    body = levels[:-1] if is_set else levels
    # <node...>/<cc>/<endpoint>/<property>/<key>: a key-less property is never a bare number
    # for the CCs keyslot reads, so "node/99/0/userCode/3" cannot be mistaken for a node "…/99".
    if (
        len(body) >= 5
        and _is_number(body[-4])
        and _is_number(body[-3])
        and not _is_number(body[-2])
    ):
        node = "/".join(body[:-4])
        return ValueTopic(node, int(body[-4]), int(body[-3]), body[-2], _key(body[-1]), is_set)
    if len(body) >= 4 and _is_number(body[-3]) and _is_number(body[-2]):
        node = "/".join(body[:-3])
        return ValueTopic(node, int(body[-3]), int(body[-2]), body[-1], None, is_set)
    if not is_set and len(body) >= 2 and body[-1] == "status":
        return NodeStatusTopic("/".join(body[:-1]))
    return None


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class TimeValue:
    """A value payload: `{"time": <ms>, "value": …}` (time None when the gateway sent none)."""

    value: Any
    time_ms: int | None = None


def encode_time_value(value: object, time_ms: int) -> bytes:
    return dump_json({"time": time_ms, "value": value})


def decode_value(payload: bytes | str) -> TimeValue:
    """A value topic's payload in any of zwave-js-ui's payload types.

    time-value `{"time", "value"}`, the whole value id object (it also has `value`), or the
    bare value. An empty payload is a retained value being deleted: value None.
    """
    if not payload:
        return TimeValue(None)
    data = load_json(payload, "value")
    if isinstance(data, dict) and "value" in data:
        return TimeValue(data["value"], time_of(data))
    return TimeValue(data)


@dataclass(frozen=True, slots=True)
class SetRequest:
    """A write: the payload of `<value topic>/set`."""

    value: Any
    options: Mapping[str, Any] | None = None


def encode_set(value: object, options: Mapping[str, Any] | None = None) -> bytes:
    data: dict[str, Any] = {"value": value}
    if options:
        data["options"] = dict(options)
    return dump_json(data)


def encode_user_code_set(code: str) -> bytes:
    """`{"value": "0123"}`: the code as a JSON string, so its leading zero survives."""
    return encode_set(validate_code(code))


def decode_set(payload: bytes | str) -> SetRequest:
    """A `/set` payload as a gateway reads it: `{"value", "options"}` or a bare value.

    Like zwave-js-ui, bare text that is not JSON is taken as-is, except that text made of
    digits becomes a number, so a bare `0123` arrives as 123.
    """
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    try:
        data = load_json(text, "set")
    except ZwaveCodecError:
        stripped = text.strip()
        if stripped.isascii() and stripped.isdigit():
            return SetRequest(int(stripped))
        return SetRequest(stripped)
    if isinstance(data, dict) and "value" in data:
        options = data.get("options")
        return SetRequest(data["value"], options if isinstance(options, dict) else None)
    return SetRequest(data)


# --------------------------------------------------------------------------- status


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """`<prefix>/<node>/status`."""

    state: NodeState
    online: bool
    node_id: int | None = None
    time_ms: int | None = None


def encode_node_status(status: NodeStatus) -> bytes:
    data: dict[str, Any] = {"time": status.time_ms, "value": status.online}
    data["status"] = status.state.value
    if status.node_id is not None:
        data["nodeId"] = status.node_id
    return dump_json(data)


_STATES = {s.value.casefold(): s for s in NodeState}


def decode_node_status(payload: bytes | str) -> NodeStatus:
    data = load_json(payload, "node status")
    if isinstance(data, bool):
        return NodeStatus(NodeState.ALIVE if data else NodeState.DEAD, data)
    if not isinstance(data, dict):
        raise ZwaveCodecError("a node status must be a JSON object")
    online = data.get("value")
    raw_state = data.get("status")
    if isinstance(raw_state, str):
        state = _STATES.get(raw_state.strip().casefold(), NodeState.UNKNOWN)
    elif isinstance(online, bool):
        state = NodeState.ALIVE if online else NodeState.DEAD
    else:
        raise ZwaveCodecError("a node status needs a status or a value")
    node_id = data.get("nodeId")
    return NodeStatus(
        state,
        online if isinstance(online, bool) else state.reachable,
        node_id if is_json_int(node_id) else None,
        time_of(data),
    )


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """`<prefix>/_CLIENTS/ZWAVE_GATEWAY-<name>/status`; its last will says offline."""

    online: bool
    time_ms: int | None = None


def encode_gateway_status(status: GatewayStatus) -> bytes:
    if status.time_ms is None:
        return dump_json({"value": status.online})
    return dump_json({"value": status.online, "time": status.time_ms})


def decode_gateway_status(payload: bytes | str) -> GatewayStatus:
    if not payload:
        return GatewayStatus(False)
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    if text.strip().casefold() in ("online", "offline"):
        return GatewayStatus(text.strip().casefold() == "online")
    data = load_json(text, "gateway status")
    if isinstance(data, dict):
        value, time_ms = data.get("value"), time_of(data)
    else:
        value, time_ms = data, None
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        value = value.casefold() == "true"
    if not isinstance(value, bool):
        raise ZwaveCodecError("a gateway status value must be true or false")
    return GatewayStatus(value, time_ms)


# --------------------------------------------------------------------------- notifications


@dataclass(frozen=True, slots=True)
class KeypadNotification:
    """A keypad or programming event from `<node>/113/0/Access_Control/<event>` (or
    `Home_Security/Tampering_invalid_code` for a wrong code at the keypad)."""

    event: NotificationEvent
    user_id: int | None = None
    time_ms: int | None = None


def encode_notification(notification: KeypadNotification, time_ms: int) -> bytes:
    value: dict[str, Any] = {}
    if notification.user_id is not None:
        value["userId"] = notification.user_id
    return encode_time_value(value, time_ms)


def decode_notification(topic: ValueTopic, payload: bytes | str) -> KeypadNotification | None:
    """The keypad event on `topic`, None when the topic carries another notification."""
    if topic.command_class != NOTIFICATION_CC:
        return None
    event = event_by_topic(topic.property, str(topic.property_key))
    if event is None:
        return None
    value = decode_value(payload)
    user_id: int | None = None
    raw = value.value
    if isinstance(raw, dict):
        candidate = raw.get("userId", raw.get("userid"))
        if is_json_int(candidate):
            user_id = candidate
        elif isinstance(candidate, str) and candidate.isdigit():
            user_id = int(candidate)
    return KeypadNotification(event, user_id, value.time_ms)

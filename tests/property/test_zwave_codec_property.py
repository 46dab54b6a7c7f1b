"""Round trips and fuzzing of the zwave-js-ui MQTT codec."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import KeyslotError, SlotEntry
from keyslot.protocol.zwave_api import (
    ApiRequest,
    ApiResponse,
    decode_api_request,
    decode_api_response,
    encode_api_request,
    encode_api_response,
)
from keyslot.protocol.zwave_mqtt import (
    KeypadNotification,
    NodeStatus,
    ValueTopic,
    ZwaveTopics,
    decode_gateway_status,
    decode_node_status,
    decode_notification,
    decode_set,
    decode_value,
    encode_node_status,
    encode_notification,
    encode_time_value,
    encode_user_code_set,
)
from keyslot.protocol.zwave_nodes import decode_nodes
from keyslot.protocol.zwave_values import (
    NodeState,
    NotificationEvent,
    ZwaveCodecError,
    parse_user_code,
    user_code_checksum,
)
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile

codes = st.text(alphabet="0123456789", min_size=4, max_size=10)
ascii_codes = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=4, max_size=10
).filter(lambda c: set(c) != {"*"})
times = st.integers(min_value=0, max_value=2**42)
levels = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="/+#"),
    min_size=1,
    max_size=12,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(codes, times)
def test_codes_with_leading_zeros_survive_every_hop(code: str, time_ms: int) -> None:
    # driver -> gateway
    assert decode_set(encode_user_code_set(code)).value == code
    # gateway -> driver
    value = decode_value(encode_time_value(code, time_ms))
    assert value.time_ms == time_ms
    assert parse_user_code(value.value).code == code


@given(ascii_codes)
def test_any_keypad_code_round_trips(code: str) -> None:
    assert decode_set(encode_user_code_set(code)).value == code
    assert parse_user_code(decode_value(encode_time_value(code, 1)).value).code == code


@given(st.integers(1, 4000), st.integers(1, 0xFFFF), st.booleans())
def test_user_code_topics_round_trip(node_id: int, slot: int, use_set: bool) -> None:
    topics = ZwaveTopics()
    for style in ("nodeID", "id"):
        segment = ZwaveTopics.node_segment(node_id, style=style)
        for topic in (topics.user_code(segment, slot), topics.user_id_status(segment, slot)):
            text = topics.set(topic) if use_set else topic
            parsed = topics.parse(text)
            assert isinstance(parsed, ValueTopic)
            assert (parsed.node, parsed.command_class, parsed.property_key, parsed.is_set) == (
                segment,
                99,
                slot,
                use_set,
            )


@given(st.lists(levels, min_size=1, max_size=3), st.integers(1, 250))
def test_named_nodes_round_trip(names: list[str], slot: int) -> None:
    segment = "/".join(names)
    topics = ZwaveTopics()
    parsed = topics.parse(topics.user_code(segment, slot))
    if any(not name for name in names):
        return
    assert isinstance(parsed, ValueTopic)
    assert parsed.node == segment
    assert parsed.property_key == slot


@given(st.sampled_from(list(NotificationEvent)), st.none() | st.integers(1, 0xFFFF), times)
def test_notifications_round_trip(event: NotificationEvent, user: int | None, t: int) -> None:
    topics = ZwaveTopics("site/zw", "gw1")
    topic = topics.parse(topics.notification("nodeID_3", event))
    assert isinstance(topic, ValueTopic)
    notification = KeypadNotification(event, user, t)
    assert decode_notification(topic, encode_notification(notification, t)) == notification


@given(st.sampled_from(list(NodeState)), st.booleans(), st.none() | st.integers(1, 4000), times)
def test_node_status_round_trips(state: NodeState, online: bool, node: int | None, t: int) -> None:
    status = NodeStatus(state, online, node, t)
    assert decode_node_status(encode_node_status(status)) == status


@given(st.lists(json_values, max_size=4), st.none() | st.text(max_size=12))
def test_api_requests_round_trip(args: list[object], request_id: str | None) -> None:
    request = ApiRequest(tuple(args), request_id)
    assert decode_api_request(encode_api_request(request)) == request


@given(st.booleans(), st.text(max_size=20), json_values, st.lists(json_values, max_size=3))
def test_api_responses_round_trip(
    ok: bool, message: str, result: object, args: list[object]
) -> None:
    response = ApiResponse(ok, message, result, tuple(args), {"requestId": "x"})
    assert decode_api_response(encode_api_response(response)) == response


@given(st.binary(max_size=200))
def test_decoders_raise_only_codec_errors(payload: bytes) -> None:
    topic = ValueTopic("nodeID_2", 113, 0, "Access_Control", "Keypad_unlock_operation")
    for decode in (
        decode_value,
        decode_set,
        decode_node_status,
        decode_gateway_status,
        decode_api_request,
        decode_api_response,
        lambda p: decode_notification(topic, p),
    ):
        with contextlib.suppress(ZwaveCodecError):
            decode(payload)


@given(json_values)
def test_user_code_parser_raises_only_codec_errors(value: object) -> None:
    try:
        parsed = parse_user_code(value)
    except ZwaveCodecError:
        return
    assert parsed.code is None or parsed.code.isascii()


@given(json_values)
def test_get_nodes_decoder_raises_only_codec_errors(value: object) -> None:
    with contextlib.suppress(ZwaveCodecError):
        decode_nodes(json.loads(json.dumps([value, {"id": 2, "values": value}])))


@given(st.dictionaries(st.integers(1, 30), st.tuples(codes, st.booleans()), max_size=30))
def test_driver_checksum_matches_the_lock_firmware(table: dict[int, tuple[str, bool]]) -> None:
    firmware = LockFirmware(
        get_profile("kwikset"), clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    )
    entries: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for index, (code, enabled) in sorted(table.items()):
        if code in seen or len(code) > 8:
            continue
        seen.add(code)
        try:
            firmware.write_slot(index, SlotEntry(code, "Name", enabled=enabled))
        except KeyslotError:  # a code the profile refuses is simply not in the table
            continue
        entries.append((index, 1 if enabled else 2, code))
    assert user_code_checksum(entries) == firmware.checksum()

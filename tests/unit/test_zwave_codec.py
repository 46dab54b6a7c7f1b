"""The zwave-js-ui MQTT codec: every topic and payload form keyslot reads or writes."""

from __future__ import annotations

import json

import pytest

from keyslot.protocol.slots import ProtocolError, RetryableError
from keyslot.protocol.zwave_api import (
    ApiRequest,
    ApiResponse,
    decode_api_request,
    decode_api_response,
    decode_event,
    encode_api_request,
    encode_api_response,
    encode_event,
)
from keyslot.protocol.zwave_mqtt import (
    ApiTopic,
    EventTopic,
    GatewayStatus,
    GatewayStatusTopic,
    KeypadNotification,
    NodeStatus,
    NodeStatusTopic,
    SetRequest,
    TimeValue,
    ValueTopic,
    ZwaveTopics,
    decode_gateway_status,
    decode_node_status,
    decode_notification,
    decode_set,
    decode_value,
    encode_gateway_status,
    encode_node_status,
    encode_notification,
    encode_set,
    encode_time_value,
    encode_user_code_set,
    node_id_of_segment,
)
from keyslot.protocol.zwave_nodes import NodeSummary, decode_nodes, encode_node
from keyslot.protocol.zwave_values import (
    NodeState,
    NotificationEvent,
    SetValueStatus,
    UserCodeValue,
    UserIdStatus,
    ValueId,
    ZwaveCodecError,
    crc16_aug_ccitt,
    parse_user_code,
    parse_user_id_status,
    topic_level,
    user_code_checksum,
    validate_code,
)

T = ZwaveTopics()
GW = "zwave/_CLIENTS/ZWAVE_GATEWAY-zwave-js-ui"


# --------------------------------------------------------------------------- topics


def test_value_topics_as_in_the_reference() -> None:
    assert T.user_code("nodeID_2", 3) == "zwave/nodeID_2/99/0/userCode/3"
    assert T.user_id_status("nodeID_2", 3) == "zwave/nodeID_2/99/0/userIdStatus/3"
    assert T.set(T.user_code("nodeID_2", 3)) == "zwave/nodeID_2/99/0/userCode/3/set"
    assert T.user_code_prop("nodeID_2", "userCodeChecksum") == (
        "zwave/nodeID_2/99/0/userCodeChecksum"
    )
    assert T.node_status("nodeID_2") == "zwave/nodeID_2/status"
    assert T.gateway_status == f"{GW}/status"
    assert T.api_request("writeValue") == f"{GW}/api/writeValue/set"
    assert T.api_response("writeValue") == f"{GW}/api/writeValue"
    assert T.event("node", "value updated") == (
        "zwave/_EVENTS_/ZWAVE_GATEWAY-zwave-js-ui/node/value updated"
    )
    assert T.notification("nodeID_2", NotificationEvent.KEYPAD_UNLOCK) == (
        "zwave/nodeID_2/113/0/Access_Control/Keypad_unlock_operation"
    )


def test_node_segments() -> None:
    assert ZwaveTopics.node_segment(7) == "nodeID_7"
    assert ZwaveTopics.node_segment(7, style="id") == "7"
    assert node_id_of_segment("nodeID_7") == 7
    assert node_id_of_segment("7") == 7
    assert node_id_of_segment("front_door") is None


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("zwave/nodeID_2/99/0/userCode/3", ValueTopic("nodeID_2", 99, 0, "userCode", 3)),
        (
            "zwave/nodeID_2/99/0/userCode/3/set",
            ValueTopic("nodeID_2", 99, 0, "userCode", 3, is_set=True),
        ),
        ("zwave/2/99/0/userIdStatus/12", ValueTopic("2", 99, 0, "userIdStatus", 12)),
        ("zwave/5/99/0/userCodeChecksum", ValueTopic("5", 99, 0, "userCodeChecksum")),
        (
            "zwave/hall/front door/99/0/userCode/1",
            ValueTopic("hall/front door", 99, 0, "userCode", 1),
        ),
        (
            "zwave/nodeID_2/113/0/Access_Control/Keypad_unlock_operation",
            ValueTopic("nodeID_2", 113, 0, "Access_Control", "Keypad_unlock_operation"),
        ),
        ("zwave/nodeID_2/status", NodeStatusTopic("nodeID_2")),
        ("zwave/hall/front/status", NodeStatusTopic("hall/front")),
        (f"{GW}/status", GatewayStatusTopic("zwave-js-ui")),
        (f"{GW}/api/getNodes", ApiTopic("zwave-js-ui", "getNodes", is_request=False)),
        (f"{GW}/api/getNodes/set", ApiTopic("zwave-js-ui", "getNodes", is_request=True)),
        (
            "zwave/_EVENTS_/ZWAVE_GATEWAY-zwave-js-ui/node/notification",
            EventTopic("zwave-js-ui", "node", "notification"),
        ),
        ("zwave/nodeID_2/lastActive", None),
        ("zwave/_CLIENTS/other/status", None),
        ("zwave/nodeID_2//99", None),
    ],
)
def test_parse(topic: str, parsed: object) -> None:
    assert T.parse(topic) == parsed


def test_parse_refuses_a_foreign_prefix() -> None:
    with pytest.raises(ZwaveCodecError):
        T.parse("zigbee2mqtt/lock/set")


def test_custom_prefix_and_gateway() -> None:
    topics = ZwaveTopics("home/zw", "attic")
    assert topics.gateway_status == "home/zw/_CLIENTS/ZWAVE_GATEWAY-attic/status"
    assert topics.parse("home/zw/nodeID_9/99/0/userCode/1") == ValueTopic(
        "nodeID_9", 99, 0, "userCode", 1
    )
    for prefix, gateway in (("", "x"), ("a/", "x"), ("a+b", "x"), ("zwave", "a/b")):
        with pytest.raises(ZwaveCodecError):
            ZwaveTopics(prefix, gateway)


def test_topic_level_drops_what_a_topic_level_cannot_hold() -> None:
    assert topic_level("Keypad unlock operation") == "Keypad_unlock_operation"
    assert topic_level("Tampering, invalid code") == "Tampering_invalid_code"
    assert topic_level("a/b+c#d") == "abcd"


# --------------------------------------------------------------------------- values


def test_time_value_payload() -> None:
    payload = encode_time_value("0123", 1710000000000)
    assert json.loads(payload) == {"time": 1710000000000, "value": "0123"}
    assert decode_value(payload) == TimeValue("0123", 1710000000000)
    assert decode_value(b'{"time": 1, "value": 1}') == TimeValue(1, 1)


def test_other_payload_types() -> None:
    # payload type 1: the whole value id, with lastUpdate
    whole = {"nodeId": 2, "commandClass": 99, "property": "userCode", "value": "0123"}
    assert decode_value(json.dumps({**whole, "lastUpdate": 5})) == TimeValue("0123", 5)
    # payload type 2: the bare value
    assert decode_value(b'"0123"') == TimeValue("0123")
    assert decode_value(b"1") == TimeValue(1)
    # an emptied retained topic
    assert decode_value(b"") == TimeValue(None)


@pytest.mark.parametrize("bad", [b"{", b"NaN", b'{"value": Infinity}', b"\xff\xfe", b"[1,"])
def test_bad_json_is_a_retryable_protocol_error(bad: bytes) -> None:
    with pytest.raises(ZwaveCodecError) as info:
        decode_value(bad)
    assert isinstance(info.value, ProtocolError)
    assert isinstance(info.value, RetryableError)


def test_huge_payload_refused() -> None:
    with pytest.raises(ZwaveCodecError, match="too large"):
        decode_value(b'"' + b"1" * (5 * 1024 * 1024) + b'"')


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("0123", UserCodeValue("0123")),
        ("**********", UserCodeValue(None, masked=True)),
        ("****", UserCodeValue(None, masked=True)),
        ("", UserCodeValue(None)),
        (None, UserCodeValue(None)),
        ("\x00\x00\x00\x00", UserCodeValue(None)),
        ({"type": "Buffer", "data": [0, 0, 0, 0]}, UserCodeValue(None)),
        ({"type": "Buffer", "data": [48, 49, 50, 51]}, UserCodeValue("0123")),
    ],
)
def test_user_code_values(value: object, parsed: UserCodeValue) -> None:
    assert parse_user_code(value) == parsed


@pytest.mark.parametrize(
    "value", [123, 1234.0, True, ["1"], {"type": "Buffer", "data": [300]}, "12\n4", "ü123"]
)
def test_user_code_values_that_are_no_code(value: object) -> None:
    with pytest.raises(ZwaveCodecError):
        parse_user_code(value)


def test_user_code_repr_never_shows_the_code() -> None:
    assert "0123" not in repr(UserCodeValue("0123"))


def test_user_id_status() -> None:
    assert parse_user_id_status(1) is UserIdStatus.ENABLED
    assert parse_user_id_status(0) is UserIdStatus.AVAILABLE
    assert parse_user_id_status(0xFE) is UserIdStatus.NOT_AVAILABLE
    assert parse_user_id_status(None) is UserIdStatus.AVAILABLE
    assert UserIdStatus.DISABLED.occupied
    assert not UserIdStatus.NOT_AVAILABLE.occupied
    for bad in (9, "1", True):
        with pytest.raises(ZwaveCodecError):
            parse_user_id_status(bad)


# --------------------------------------------------------------------------- writes


def test_codes_go_out_as_json_strings() -> None:
    assert encode_user_code_set("0123") == b'{"value":"0123"}'
    assert json.loads(encode_user_code_set("1234"))["value"] == "1234"
    assert encode_set(0) == b'{"value":0}'
    assert json.loads(encode_set("0123", {"transitionDuration": "1s"})) == {
        "value": "0123",
        "options": {"transitionDuration": "1s"},
    }


@pytest.mark.parametrize(
    "bad", [1234, "123", "12345678901", "12 3", "****", "\uff11\uff12\uff13\uff14"]
)
def test_invalid_codes_never_reach_the_wire(bad: object) -> None:
    with pytest.raises(ZwaveCodecError) as info:
        encode_user_code_set(bad)  # type: ignore[arg-type]
    assert str(bad) not in info.value.message
    with pytest.raises(ZwaveCodecError):
        validate_code(bad)


def test_set_payloads_as_a_gateway_reads_them() -> None:
    assert decode_set(b'{"value":"0123"}') == SetRequest("0123")
    assert decode_set(b'{"value":0}') == SetRequest(0)
    assert decode_set(b'{"value":"1","options":{"a":1}}') == SetRequest("1", {"a": 1})
    # bare payloads: a bare 0123 is not JSON and arrives as the number 123
    assert decode_set(b"0123") == SetRequest(123)
    assert decode_set(b"1234") == SetRequest(1234)
    assert decode_set(b'"0123"') == SetRequest("0123")
    assert decode_set(b"abc") == SetRequest("abc")


# --------------------------------------------------------------------------- status


def test_node_status() -> None:
    status = NodeStatus(NodeState.ALIVE, True, 2, 1710000000000)
    payload = encode_node_status(status)
    assert json.loads(payload) == {
        "time": 1710000000000,
        "value": True,
        "status": "Alive",
        "nodeId": 2,
    }
    assert decode_node_status(payload) == status
    for state in NodeState:
        round_trip = decode_node_status(encode_node_status(NodeStatus(state, state.reachable)))
        assert round_trip.state is state
    assert decode_node_status(b'{"value": false, "status": "dead"}').state is NodeState.DEAD
    assert decode_node_status(b'{"value": true, "status": "Weird"}').state is NodeState.UNKNOWN
    assert decode_node_status(b"true") == NodeStatus(NodeState.ALIVE, True)
    assert decode_node_status(b'{"value": false}').state is NodeState.DEAD
    for bad in (b"[]", b"{}", b"3"):
        with pytest.raises(ZwaveCodecError):
            decode_node_status(bad)


def test_gateway_status() -> None:
    assert decode_gateway_status(encode_gateway_status(GatewayStatus(True))) == GatewayStatus(True)
    assert json.loads(encode_gateway_status(GatewayStatus(False))) == {"value": False}
    assert decode_gateway_status(b'{"value": true, "time": 5}') == GatewayStatus(True, 5)
    assert decode_gateway_status(b"false") == GatewayStatus(False)
    assert decode_gateway_status(b"online") == GatewayStatus(True)
    assert decode_gateway_status(b"offline") == GatewayStatus(False)
    assert decode_gateway_status(b'{"value": "true"}') == GatewayStatus(True)
    assert decode_gateway_status(b"") == GatewayStatus(False)
    with pytest.raises(ZwaveCodecError):
        decode_gateway_status(b'{"value": 1}')


# --------------------------------------------------------------------------- API


def test_api_requests_as_in_the_reference() -> None:
    user_code = ValueId.user_code(2, 3)
    requests = {
        "getNodes": (),
        "writeValue": (user_code.to_json(), "0123"),
        "refreshCCValues": (2, 99),
        "pollValue": (ValueId.checksum(2).to_json(),),
        "sendCommand": ({"nodeId": 2, "commandClass": 99, "endpoint": 0}, "set", [3, 1, "0123"]),
    }
    for args in requests.values():
        payload = encode_api_request(ApiRequest(args, "r-1"))
        assert json.loads(payload)["args"] == json.loads(json.dumps(list(args)))
        assert decode_api_request(payload) == ApiRequest(
            tuple(json.loads(json.dumps(list(args)))), "r-1"
        )
    assert user_code.to_json() == {
        "nodeId": 2,
        "commandClass": 99,
        "endpoint": 0,
        "property": "userCode",
        "propertyKey": 3,
    }
    assert decode_api_request(b'{"args": []}') == ApiRequest()
    assert decode_api_request(b"") == ApiRequest()
    for bad in (b"[]", b'{"args": 3}'):
        with pytest.raises(ZwaveCodecError):
            decode_api_request(bad)


def test_api_response() -> None:
    response = ApiResponse(
        True, "Success zwave api call", {"status": 254}, (1, 2), {"requestId": "r-9"}
    )
    payload = encode_api_response(response)
    assert set(json.loads(payload)) == {"success", "message", "result", "args", "origin"}
    decoded = decode_api_response(payload)
    assert decoded == response
    assert decoded.request_id == "r-9"
    assert decoded.set_status is SetValueStatus.SUCCESS_UNSUPERVISED
    assert ApiResponse(True, result=255).set_status is SetValueStatus.SUCCESS
    assert ApiResponse(True, result=True).set_status is None  # older gateways answer a bool
    assert ApiResponse(True, result={"status": 77}).set_status is SetValueStatus.FAIL
    assert ApiResponse(True, origin="x").request_id is None
    minimal = decode_api_response(b'{"success": false}')
    assert minimal == ApiResponse(False)
    for bad in (b"[]", b'{"success": "yes"}'):
        with pytest.raises(ZwaveCodecError):
            decode_api_response(bad)


def test_value_id_from_json() -> None:
    data = {"nodeId": 2, "commandClass": 99, "property": "userCode", "propertyKey": 3}
    assert ValueId.from_json(data) == ValueId.user_code(2, 3)
    bad: object
    for bad in (
        [],
        {"nodeId": "2", "commandClass": 99, "property": "x"},
        {"nodeId": 2, "commandClass": 99},
        {"nodeId": 2, "commandClass": 99, "property": "x", "propertyKey": [1]},
        {"nodeId": True, "commandClass": 99, "property": "x"},
    ):
        with pytest.raises(ZwaveCodecError):
            ValueId.from_json(bad)


def test_driver_events() -> None:
    assert decode_event(encode_event([2, {"property": "userCode"}])) == (
        2,
        {"property": "userCode"},
    )
    with pytest.raises(ZwaveCodecError):
        decode_event(b'{"data": 1}')


# --------------------------------------------------------------------------- notifications


def test_keypad_unlock_notification_as_in_the_reference() -> None:
    topic = T.parse("zwave/nodeID_2/113/0/Access_Control/Keypad_unlock_operation")
    assert isinstance(topic, ValueTopic)
    payload = b'{"time": 1710000000000, "value": {"userId": 3}}'
    assert decode_notification(topic, payload) == KeypadNotification(
        NotificationEvent.KEYPAD_UNLOCK, 3, 1710000000000
    )


@pytest.mark.parametrize("event", list(NotificationEvent))
def test_every_notification_round_trips(event: NotificationEvent) -> None:
    topic = T.parse(T.notification("nodeID_4", event))
    assert isinstance(topic, ValueTopic)
    payload = encode_notification(KeypadNotification(event, 7), 99)
    assert decode_notification(topic, payload) == KeypadNotification(event, 7, 99)
    assert decode_notification(topic, encode_notification(KeypadNotification(event), 1)) == (
        KeypadNotification(event, None, 1)
    )


def test_notification_codes_and_labels() -> None:
    assert NotificationEvent.KEYPAD_UNLOCK.event_code == 0x06
    assert NotificationEvent.NEW_USER_CODE_NOT_ADDED.event_code == 0x0F
    assert NotificationEvent.ALL_USER_CODES_DELETED.notification_type == 6
    assert NotificationEvent.INVALID_CODE.topic_property == "Home_Security"
    assert NotificationEvent.INVALID_CODE.topic_name == "Tampering_invalid_code"


def test_other_notifications_are_ignored() -> None:
    for topic_text in (
        "zwave/nodeID_2/113/0/Access_Control/Lock_jammed",
        "zwave/nodeID_2/113/0/Power_Management/Battery_low",
        "zwave/nodeID_2/99/0/userCode/3",
    ):
        topic = T.parse(topic_text)
        assert isinstance(topic, ValueTopic)
        assert decode_notification(topic, b'{"value": {}}') is None
    topic = T.parse("zwave/nodeID_2/113/0/access_control/keypad_UNLOCK_operation")
    assert isinstance(topic, ValueTopic)
    found = decode_notification(topic, b'{"value": {"userId": "4"}}')
    assert found == KeypadNotification(NotificationEvent.KEYPAD_UNLOCK, 4)


# --------------------------------------------------------------------------- checksum


def test_crc_check_value() -> None:
    assert crc16_aug_ccitt(b"123456789") == 0xE5CC  # CRC-16/SPI-FUJITSU (AUG-CCITT)
    assert crc16_aug_ccitt(b"") == 0x1D0F


def test_user_code_checksum() -> None:
    assert user_code_checksum([]) == 0
    by_hand = crc16_aug_ccitt(b"\x00\x01\x01" + b"1234" + b"\x00\x03\x02" + b"0123")
    entries = [(3, 2, "0123"), (1, 1, "1234")]
    assert user_code_checksum(entries) == by_hand
    assert user_code_checksum(reversed(entries)) == by_hand
    assert user_code_checksum([(300, 1, "1234")]) == crc16_aug_ccitt(b"\x01\x2c\x01" + b"1234")
    for bad in ([(0, 1, "1234")], [(1, 256, "1234")], [(1, 1, "ü234")]):
        with pytest.raises(ZwaveCodecError):
            user_code_checksum(bad)


# --------------------------------------------------------------------------- getNodes


def test_get_nodes_round_trip() -> None:
    values = (
        (ValueId(2, 99, "supportedUsers"), 30),
        (ValueId.user_code(2, 1), "**********"),
        (ValueId.user_id_status(2, 1), 1),
    )
    node = NodeSummary(
        2, "front", "hall", NodeState.ALIVE, True, "Schlage", "BE469", "", "10.8", values
    )
    decoded = decode_nodes([encode_node(node)])
    assert decoded == {2: node}
    assert decoded[2].value(99, "userCode", 1) == "**********"
    assert decoded[2].value(99, "userCode", 9) is None


def test_get_nodes_tolerates_the_shapes_gateways_send() -> None:
    result = [
        {"id": 3, "status": "Dead", "values": [{"commandClass": 99, "property": "x", "value": 1}]},
        {"nodeId": 4},
        {"id": "5"},
        "junk",
        {"id": 6, "values": {"bad": {"commandClass": "x"}}},
    ]
    nodes = decode_nodes(result)
    assert sorted(nodes) == [3, 4, 6]
    assert nodes[3].state is NodeState.DEAD
    assert nodes[3].value(99, "x") == 1
    assert nodes[6].values == ()
    with pytest.raises(ZwaveCodecError):
        decode_nodes({"nodes": []})

"""Values of the Z-Wave User Code CC as zwave-js names them, and its v2 checksum.

Shared by the MQTT codec (`zwave_mqtt`), the driver and the simulator. Pure.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from keyslot.protocol.slots import ProtocolError

__all__ = [
    "ACCESS_CONTROL",
    "ADMIN_CODE",
    "CLIENTS",
    "DEFAULT_GATEWAY",
    "DEFAULT_PREFIX",
    "EVENTS",
    "GATEWAY_CLIENT_PREFIX",
    "HOME_SECURITY",
    "KEYPAD_MODE",
    "MAX_CODE_LENGTH",
    "MAX_PAYLOAD",
    "MIN_CODE_LENGTH",
    "NODE_SEGMENT_PREFIX",
    "NOTIFICATION_CC",
    "SUPPORTED_ASCII",
    "SUPPORTED_USERS",
    "SUPPORTS_CHECKSUM",
    "UNSAFE_TOPIC_CHARS",
    "USER_CODE",
    "USER_CODE_CC",
    "USER_CODE_CHECKSUM",
    "USER_ID_STATUS",
    "NodeState",
    "NotificationEvent",
    "SetValueStatus",
    "UserCodeValue",
    "UserIdStatus",
    "ValueId",
    "ZwaveCodecError",
    "crc16_aug_ccitt",
    "dump_json",
    "event_by_topic",
    "is_json_int",
    "load_json",
    "parse_user_code",
    "parse_user_id_status",
    "time_of",
    "topic_level",
    "user_code_checksum",
    "validate_code",
]
DEFAULT_PREFIX = "zwave"
DEFAULT_GATEWAY = "zwave-js-ui"
NODE_SEGMENT_PREFIX = "nodeID_"
CLIENTS = "_CLIENTS"
EVENTS = "_EVENTS_"
GATEWAY_CLIENT_PREFIX = "ZWAVE_GATEWAY-"

USER_CODE_CC = 99
NOTIFICATION_CC = 113
USER_CODE = "userCode"
USER_ID_STATUS = "userIdStatus"
USER_CODE_CHECKSUM = "userCodeChecksum"
SUPPORTED_USERS = "supportedUsers"
SUPPORTS_CHECKSUM = "supportsUserCodeChecksum"
SUPPORTED_ASCII = "supportedASCIIChars"
KEYPAD_MODE = "keypadMode"
ADMIN_CODE = "adminCode"
ACCESS_CONTROL = "Access_Control"  # "Access Control" as a topic level
HOME_SECURITY = "Home_Security"

MIN_CODE_LENGTH = 4
MAX_CODE_LENGTH = 10


class ZwaveCodecError(ProtocolError):
    """A topic or payload that does not follow zwave-js-ui's MQTT API."""

    code = "zwave_codec_error"


# --------------------------------------------------------------------------- enums


class UserIdStatus(enum.IntEnum):
    """User Code CC "User ID Status" byte."""

    AVAILABLE = 0
    ENABLED = 1
    DISABLED = 2
    MESSAGING = 3
    PASSAGE_MODE = 4
    NOT_AVAILABLE = 0xFE

    @property
    def occupied(self) -> bool:
        return self in (UserIdStatus.ENABLED, UserIdStatus.DISABLED, UserIdStatus.PASSAGE_MODE)


class SetValueStatus(enum.IntEnum):
    """zwave-js's answer to a value write."""

    NO_DEVICE_SUPPORT = 0
    WORKING = 1
    FAIL = 2
    ENDPOINT_NOT_FOUND = 3
    NOT_IMPLEMENTED = 4
    INVALID_VALUE = 5
    SUCCESS_UNSUPERVISED = 254
    SUCCESS = 255


class NodeState(enum.StrEnum):
    """A node's status as zwave-js-ui reports it."""

    UNKNOWN = "Unknown"
    ASLEEP = "Asleep"
    AWAKE = "Awake"
    DEAD = "Dead"
    ALIVE = "Alive"

    @property
    def reachable(self) -> bool:
        return self in (NodeState.ALIVE, NodeState.AWAKE)


class NotificationEvent(enum.Enum):
    """Notification CC events that concern a keypad: (notification type, event code).

    Type 6 is "Access Control"; an unknown code at the keypad is type 7 "Home Security",
    event 4 "Tampering, invalid code".
    """

    MANUAL_LOCK = (6, 0x01)
    MANUAL_UNLOCK = (6, 0x02)
    RF_LOCK = (6, 0x03)
    RF_UNLOCK = (6, 0x04)
    KEYPAD_LOCK = (6, 0x05)
    KEYPAD_UNLOCK = (6, 0x06)
    ALL_USER_CODES_DELETED = (6, 0x0C)
    SINGLE_USER_CODE_DELETED = (6, 0x0D)
    NEW_USER_CODE_ADDED = (6, 0x0E)
    NEW_USER_CODE_NOT_ADDED = (6, 0x0F)
    KEYPAD_TEMPORARILY_DISABLED = (6, 0x10)
    INVALID_CODE = (7, 0x04)

    @property
    def notification_type(self) -> int:
        return int(self.value[0])

    @property
    def event_code(self) -> int:
        return int(self.value[1])

    @property
    def label(self) -> str:
        """zwave-js's label for the event."""
        return _EVENT_LABELS[self]

    @property
    def topic_property(self) -> str:
        """The topic level of the notification type: `Access_Control` or `Home_Security`."""
        return ACCESS_CONTROL if self.notification_type == 6 else HOME_SECURITY

    @property
    def topic_name(self) -> str:
        return topic_level(self.label)


_EVENT_LABELS: dict[NotificationEvent, str] = {
    NotificationEvent.MANUAL_LOCK: "Manual lock operation",
    NotificationEvent.MANUAL_UNLOCK: "Manual unlock operation",
    NotificationEvent.RF_LOCK: "RF lock operation",
    NotificationEvent.RF_UNLOCK: "RF unlock operation",
    NotificationEvent.KEYPAD_LOCK: "Keypad lock operation",
    NotificationEvent.KEYPAD_UNLOCK: "Keypad unlock operation",
    NotificationEvent.ALL_USER_CODES_DELETED: "All user codes deleted",
    NotificationEvent.SINGLE_USER_CODE_DELETED: "Single user code deleted",
    NotificationEvent.NEW_USER_CODE_ADDED: "New user code added",
    NotificationEvent.NEW_USER_CODE_NOT_ADDED: "New user code not added due to duplicate code",
    NotificationEvent.KEYPAD_TEMPORARILY_DISABLED: "Keypad temporary disabled",
    NotificationEvent.INVALID_CODE: "Tampering, invalid code",
}

UNSAFE_TOPIC_CHARS = re.compile(r"[+#/\x00]")
_DROPPED_CHARS = re.compile(r"[^0-9A-Za-z_.\-]")


def topic_level(label: str) -> str:
    """A label as one topic level: blanks become underscores, punctuation goes."""
    return _DROPPED_CHARS.sub("", re.sub(r"\s+", "_", label.strip()))


def event_by_topic(prop: str, name: str) -> NotificationEvent | None:
    """The keypad event published at `<node>/113/0/<prop>/<name>` (any letter case)."""
    return _EVENTS_BY_TOPIC.get((prop.casefold(), name.casefold()))


_EVENTS_BY_TOPIC: dict[tuple[str, str], NotificationEvent] = {
    (event.topic_property.casefold(), event.topic_name.casefold()): event
    for event in NotificationEvent
}


# --------------------------------------------------------------------------- JSON

MAX_PAYLOAD = 4 * 1024 * 1024  # a getNodes answer of a big network stays well below this


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(payload: bytes | str, what: str) -> Any:
    """Parse a payload as strict JSON (no NaN), refusing oversized ones."""
    if len(payload) > MAX_PAYLOAD:
        raise ZwaveCodecError(f"{what} payload of {len(payload)} bytes is too large")
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ZwaveCodecError(
            f"{what} payload is not valid JSON ({exc.__class__.__name__})"
        ) from None


def dump_json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def time_of(data: Mapping[str, Any]) -> int | None:
    """The `time` (or `lastUpdate`) of a payload, in milliseconds."""
    value = data.get("time", data.get("lastUpdate"))
    return value if is_json_int(value) else None


# --------------------------------------------------------------------------- value ids


@dataclass(frozen=True, slots=True)
class ValueId:
    """zwave-js's address of one value of one node."""

    node_id: int
    command_class: int
    property: str
    property_key: int | str | None = None
    endpoint: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodeId": self.node_id,
            "commandClass": self.command_class,
            "endpoint": self.endpoint,
            "property": self.property,
        }
        if self.property_key is not None:
            data["propertyKey"] = self.property_key
        return data

    @classmethod
    def from_json(cls, data: object) -> ValueId:
        if not isinstance(data, dict):
            raise ZwaveCodecError("a value id must be a JSON object")
        node_id, cc, endpoint = (
            data.get("nodeId"),
            data.get("commandClass"),
            data.get("endpoint", 0),
        )
        prop, key = data.get("property"), data.get("propertyKey")
        if not is_json_int(node_id) or not is_json_int(cc) or not is_json_int(endpoint):
            raise ZwaveCodecError("a value id needs integer nodeId, commandClass and endpoint")
        if not isinstance(prop, str | int) or isinstance(prop, bool):
            raise ZwaveCodecError("a value id needs a property")
        if key is not None and (not isinstance(key, str | int) or isinstance(key, bool)):
            raise ZwaveCodecError("a value id's propertyKey must be a number or a string")
        return cls(node_id, cc, str(prop), key, endpoint)

    @classmethod
    def user_code(cls, node_id: int, slot: int) -> ValueId:
        return cls(node_id, USER_CODE_CC, USER_CODE, slot)

    @classmethod
    def user_id_status(cls, node_id: int, slot: int) -> ValueId:
        return cls(node_id, USER_CODE_CC, USER_ID_STATUS, slot)

    @classmethod
    def checksum(cls, node_id: int) -> ValueId:
        return cls(node_id, USER_CODE_CC, USER_CODE_CHECKSUM)


def is_json_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------- user codes


@dataclass(frozen=True, slots=True)
class UserCodeValue:
    """A `userCode` value: a readable `code`, a masked one, or nothing."""

    code: str | None
    masked: bool = False

    @property
    def empty(self) -> bool:
        return self.code is None and not self.masked

    def __repr__(self) -> str:
        state = "masked" if self.masked else ("empty" if self.code is None else "<set>")
        return f"UserCodeValue({state})"


def parse_user_code(value: object) -> UserCodeValue:
    """Interpret a `userCode` value. A bare number is refused: its leading zeros are lost."""
    if value is None:
        return UserCodeValue(None)
    if isinstance(value, dict) and value.get("type") == "Buffer":
        data = value.get("data")
        if not isinstance(data, list) or not all(is_json_int(b) and 0 <= b <= 255 for b in data):
            raise ZwaveCodecError("a userCode buffer must hold bytes")
        raw = bytes(data)
        if not raw.strip(b"\x00\xff "):
            return UserCodeValue(None)
        try:
            value = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ZwaveCodecError("a userCode buffer holds non-ASCII bytes") from None
    if not isinstance(value, str):
        raise ZwaveCodecError(f"a userCode value must be a string, not {type(value).__name__}")
    text = value.strip("\x00")
    if not text:
        return UserCodeValue(None)
    if set(text) == {"*"}:
        return UserCodeValue(None, masked=True)
    if not text.isascii() or not text.isprintable():
        raise ZwaveCodecError("a userCode value holds characters a keypad cannot have")
    return UserCodeValue(text)


def parse_user_id_status(value: object) -> UserIdStatus:
    if value is None:
        return UserIdStatus.AVAILABLE
    if not isinstance(value, int) or isinstance(value, bool):
        raise ZwaveCodecError("a userIdStatus value must be a number")
    try:
        return UserIdStatus(value)
    except ValueError:
        raise ZwaveCodecError(f"unknown userIdStatus {value}") from None


def validate_code(code: object) -> str:
    """A code fit for the wire: 4-10 visible ASCII characters, as a string (never a number)."""
    if not isinstance(code, str):
        raise ZwaveCodecError("a user code must be a string, never a number")
    if not MIN_CODE_LENGTH <= len(code) <= MAX_CODE_LENGTH:
        raise ZwaveCodecError(
            f"a user code has {MIN_CODE_LENGTH}-{MAX_CODE_LENGTH} characters, not {len(code)}"
        )
    if not all("!" <= c <= "~" for c in code) or set(code) == {"*"}:
        raise ZwaveCodecError("a user code holds visible ASCII characters only")
    return code


# --------------------------------------------------------------------------- checksum


def crc16_aug_ccitt(data: bytes, crc: int = 0x1D0F) -> int:
    """CRC-16-CCITT, polynomial 0x1021, initial value 0x1D0F, no reflection."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        crc &= 0xFFFF
    return crc


def user_code_checksum(entries: Iterable[tuple[int, int, str]]) -> int:
    """User Code CC v2 checksum of `(user id, status, code)` for every occupied slot.

    Ascending user ids, each as u16 big-endian, status byte, code ASCII; 0 when none is.
    """
    items = sorted(_checked(entries), key=lambda item: item[0])
    if not items:
        return 0
    data = bytearray()
    for user_id, status, code in items:
        data += user_id.to_bytes(2, "big")
        data.append(status)
        data += code.encode("ascii")
    return crc16_aug_ccitt(bytes(data))


def _checked(entries: Iterable[tuple[int, int, str]]) -> Iterable[tuple[int, int, str]]:
    for user_id, status, code in entries:
        if not 0 < user_id <= 0xFFFF or not 0 <= status <= 0xFF:
            raise ZwaveCodecError("a checksum entry needs a user id 1..65535 and a status byte")
        if not code.isascii():
            raise ZwaveCodecError("a checksummed code must be ASCII")
        yield user_id, status, code

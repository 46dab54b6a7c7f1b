"""zwave-js-ui's API topics as values: `{"args": [...]}` requests on `.../api/<api>/set`,
their `{"success", "message", "result", "args", "origin"}` answers, and driver events. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyslot.protocol.zwave_values import (
    SetValueStatus,
    ZwaveCodecError,
    dump_json,
    is_json_int,
    load_json,
)

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "decode_api_request",
    "decode_api_response",
    "decode_event",
    "encode_api_request",
    "encode_api_response",
    "encode_event",
]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """`{"args": [...]}` to `.../api/<api>/set`; `request_id` lets the answer be matched."""

    args: tuple[Any, ...] = ()
    request_id: str | None = None


def encode_api_request(request: ApiRequest) -> bytes:
    data: dict[str, Any] = {"args": list(request.args)}
    if request.request_id is not None:
        data["requestId"] = request.request_id
    return dump_json(data)


def decode_api_request(payload: bytes | str) -> ApiRequest:
    if not payload:
        return ApiRequest()
    data = load_json(payload, "API request")
    if not isinstance(data, dict):
        raise ZwaveCodecError("an API request must be a JSON object")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise ZwaveCodecError("an API request's args must be a list")
    request_id = data.get("requestId")
    return ApiRequest(tuple(args), request_id if isinstance(request_id, str) else None)


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """`{"success", "message", "result", "args", "origin"}` on `.../api/<api>`."""

    success: bool
    message: str = ""
    result: Any = None
    args: tuple[Any, ...] = ()
    origin: Any = None

    @property
    def request_id(self) -> str | None:
        """The id of the request this answers, when the gateway echoed it in `origin`."""
        if isinstance(self.origin, dict):
            value = self.origin.get("requestId")
            return value if isinstance(value, str) else None
        return None

    @property
    def set_status(self) -> SetValueStatus | None:
        """A writeValue's SetValueResult status (None when the gateway gave a plain bool)."""
        result = self.result
        if isinstance(result, dict):
            result = result.get("status")
        if is_json_int(result):
            try:
                return SetValueStatus(result)
            except ValueError:
                return SetValueStatus.FAIL
        return None


def encode_api_response(response: ApiResponse) -> bytes:
    return dump_json(
        {
            "success": response.success,
            "message": response.message,
            "result": response.result,
            "args": list(response.args),
            "origin": response.origin,
        }
    )


def decode_api_response(payload: bytes | str) -> ApiResponse:
    data = load_json(payload, "API response")
    if not isinstance(data, dict):
        raise ZwaveCodecError("an API response must be a JSON object")
    success = data.get("success")
    if not isinstance(success, bool):
        raise ZwaveCodecError("an API response needs success true or false")
    message = data.get("message")
    args = data.get("args")
    return ApiResponse(
        success,
        message if isinstance(message, str) else "",
        data.get("result"),
        tuple(args) if isinstance(args, list) else (),
        data.get("origin"),
    )


def encode_event(data: Sequence[Any]) -> bytes:
    """A driver event, `{"data": [...]}` on `<prefix>/_EVENTS_/ZWAVE_GATEWAY-<name>/…`."""
    return dump_json({"data": list(data)})


def decode_event(payload: bytes | str) -> tuple[Any, ...]:
    data = load_json(payload, "event")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ZwaveCodecError('an event payload must be {"data": [...]}')
    return tuple(data["data"])

"""Ids, Seam's timestamp format and PIN redaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from keyslot.model import (
    InvalidInput,
    ModelDecodeError,
    format_time,
    format_time_or_none,
    mask_code,
    new_id,
    parse_time,
    parse_time_or_none,
    redact_codes,
)
from keyslot.model.common import decode_enum, decode_time
from keyslot.model.mutations import MutationCode
from keyslot.protocol.slots import KeyslotError


def test_new_id_is_a_fresh_uuid() -> None:
    first, second = new_id(), new_id()
    assert uuid.UUID(first).version == 7
    assert first != second


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), "2026-01-01T10:00:00.000Z"),
        (datetime(2026, 1, 1, 10, 0, 5, 123999, tzinfo=UTC), "2026-01-01T10:00:05.123Z"),
        (
            datetime(2026, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-01T10:30:00.000Z",
        ),
        (datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "0999-12-31T23:59:59.000Z"),
    ],
)
def test_format_time_is_utc_with_milliseconds(at: datetime, text: str) -> None:
    assert format_time(at) == text


def test_format_time_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 1))


def test_format_time_or_none() -> None:
    assert format_time_or_none(None) is None
    assert format_time_or_none(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T10:00:00.000Z",
        "2026-01-01T10:00:00Z",
        "2026-01-01T11:00:00+01:00",
        "2026-01-01T05:00:00.000-05:00",
        "2026-01-01 10:00:00Z",
    ],
)
def test_parse_time_accepts_iso_8601_with_a_zone(text: str) -> None:
    parsed = parse_time(text)
    assert parsed == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert parsed.tzinfo is UTC


def test_parse_then_format_round_trips_seams_format() -> None:
    text = "2026-03-02T09:15:42.371Z"
    assert format_time(parse_time(text)) == text


@pytest.mark.parametrize("bad", ["2026-01-01T10:00:00", "2026-01-01", "yesterday", "", 12, None])
def test_parse_time_refuses_with_invalid_input_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_time(bad, "starts_at")
    assert caught.value.http_status == 400
    assert caught.value.validation_errors is not None
    assert list(caught.value.validation_errors) == ["starts_at"]
    assert caught.value.validation_errors["starts_at"]["_errors"]


def test_parse_time_or_none() -> None:
    assert parse_time_or_none(None) is None
    assert parse_time_or_none("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_decoding_stored_data_raises_model_decode_error() -> None:
    with pytest.raises(ModelDecodeError) as caught:
        decode_time("not a time", "created_at")
    assert isinstance(caught.value, KeyslotError)
    with pytest.raises(ModelDecodeError, match="mutation_code"):
        decode_enum(MutationCode, "flying", "mutation_code")
    with pytest.raises(ModelDecodeError):
        decode_enum(MutationCode, 3, "mutation_code")
    assert decode_enum(MutationCode, "deleting", "x") is MutationCode.DELETING


def test_mask_code_shows_only_the_length() -> None:
    assert mask_code("918273") == "<6 chars>"
    assert mask_code(None) == "None"


def test_redact_codes_hides_every_pin_at_any_depth() -> None:
    body = {
        "access_code": {"code": "918273", "name": "Guest", "error_code": "x"},
        "pending_mutations": [
            {"mutation_code": "updating_code", "from": {"code": "111222"}, "to": {"code": "333444"}}
        ],
        "errors": [
            {"modified_fields": [{"field": "code", "from": "555666", "to": "777888"}]},
            {"modified_fields": [{"field": "name", "from": "Ann", "to": "Bob"}]},
        ],
        "warnings": [{"original_code": "121212", "new_code": "343434"}],
    }
    text = repr(redact_codes(body))
    for pin in ("918273", "111222", "333444", "555666", "777888", "121212", "343434"):
        assert pin not in text
    redacted = redact_codes(body)
    assert redacted["access_code"]["name"] == "Guest"
    assert redacted["access_code"]["error_code"] == "x"
    assert redacted["errors"][1]["modified_fields"][0]["from"] == "Ann"
    assert body["access_code"]["code"] == "918273"  # the input is not changed

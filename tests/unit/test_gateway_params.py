"""Seam's query encoding and JSON bodies, merged and checked against a route's fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from seam.url_search_params_serializer import serialize_url_search_params

from keyslot.gateway.params import Field, decode_query, parse_datetime, validate_params
from keyslot.model.api_errors import InvalidInput

DEVICE = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

FIELDS = (
    Field("device_id", "uuid", required=True),
    Field("access_code_ids", "array", items="uuid"),
    Field("limit", "integer", minimum=1, maximum=10000),
    Field("ratio", "number"),
    Field("sync", "boolean"),
    Field("name", "string", max_length=10),
    Field("page_cursor", "string", nullable=True),
    Field("when", "datetime"),
    Field("rounding", "enum", enum=("1h", "1d")),
    Field("meta", "object"),
)


def sdk_query(params: dict[str, object]) -> str:
    """The exact query string the Seam SDK sends for `params`."""
    return serialize_url_search_params(params, strict=True)


def test_sdk_query_round_trips_through_the_route_fields() -> None:
    other = "0f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    query = sdk_query(
        {
            "device_id": DEVICE,
            "access_code_ids": [DEVICE, other],
            "limit": 20,
            "ratio": 0.5,
            "sync": False,
            "name": "a b&c",
            "meta": {"floor": "2", "wing": "east"},
        }
    )
    assert query.endswith("_strict=true")
    params = validate_params(FIELDS, decode_query(query), None)
    assert params == {
        "device_id": DEVICE,
        "access_code_ids": [DEVICE, other],
        "limit": 20,
        "ratio": 0.5,
        "sync": False,
        "name": "a b&c",
        "meta": {"floor": "2", "wing": "east"},
    }


def test_single_element_array_and_empty_array_from_the_query() -> None:
    one = validate_params(
        FIELDS, decode_query(sdk_query({"device_id": DEVICE, "access_code_ids": [DEVICE]})), None
    )
    assert one["access_code_ids"] == [DEVICE]
    empty = validate_params(
        FIELDS, decode_query(sdk_query({"device_id": DEVICE, "access_code_ids": []})), None
    )
    assert empty["access_code_ids"] == []


def test_explicit_null_in_the_query_reaches_a_nullable_field_only() -> None:
    from seam import NULL

    query = sdk_query({"device_id": DEVICE, "page_cursor": NULL, "name": NULL})
    params = validate_params(FIELDS, decode_query(query), None)
    assert params["page_cursor"] is None
    assert "name" not in params


def test_body_wins_over_query_and_unknown_keys_are_dropped() -> None:
    query = decode_query(f"device_id={DEVICE}&name=fromquery&_strict=true&bogus=1")
    params = validate_params(FIELDS, query, {"name": "frombody", "other": True})
    assert params == {"device_id": DEVICE, "name": "frombody"}


def test_json_body_types_are_strict() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(FIELDS, {}, {"device_id": DEVICE, "sync": "true", "limit": "5"})
    errors = info.value.validation_errors
    assert errors is not None
    assert set(errors) == {"sync", "limit"}
    assert errors["sync"]["_errors"] == ["Expected boolean, received string"]


def test_every_problem_is_reported_in_seams_shape() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(
            FIELDS,
            decode_query("limit=0&sync=yes&when=tomorrow&rounding=1w&access_code_ids=nope"),
            None,
        )
    err = info.value
    assert err.type == "invalid_input"
    assert err.http_status == 400
    body = err.to_dict()
    assert set(body["validation_errors"]) == {
        "device_id",
        "limit",
        "sync",
        "when",
        "rounding",
        "access_code_ids",
    }
    assert body["validation_errors"]["device_id"] == {"_errors": ["Required"]}
    for messages in body["validation_errors"].values():
        assert messages["_errors"]
        assert all(isinstance(m, str) for m in messages["_errors"])


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not-a-uuid", "Invalid uuid"),
        ("{6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b}", "Invalid uuid"),
    ],
)
def test_uuid_fields_reject_other_spellings(raw: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(FIELDS, {}, {"device_id": raw})
    assert info.value.validation_errors == {"device_id": {"_errors": [problem]}}


def test_integer_and_number_coercion() -> None:
    assert (
        validate_params(FIELDS, decode_query(f"device_id={DEVICE}&limit=5.0"), None)["limit"] == 5
    )
    with pytest.raises(InvalidInput):
        validate_params(FIELDS, decode_query(f"device_id={DEVICE}&limit=5.5"), None)
    with pytest.raises(InvalidInput):
        validate_params(FIELDS, {}, {"device_id": DEVICE, "ratio": True})
    with pytest.raises(InvalidInput):
        validate_params(FIELDS, decode_query(f"device_id={DEVICE}&ratio=nan"), None)


def test_string_rules_and_nul_bytes() -> None:
    with pytest.raises(InvalidInput):
        validate_params(FIELDS, {}, {"device_id": DEVICE, "name": "x" * 11})
    with pytest.raises(InvalidInput):
        validate_params(FIELDS, {}, {"device_id": DEVICE, "name": "a\x00b"})


def test_required_field_given_as_null_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(FIELDS, {}, {"device_id": None})
    assert "device_id" in (info.value.validation_errors or {})


def test_dotted_keys_nest_and_repeated_keys_collect() -> None:
    assert decode_query("a.b.c=1&a.b.d=2&x=1&x=2&x=3&_strict=true") == {
        "a": {"b": {"c": "1", "d": "2"}},
        "x": ["1", "2", "3"],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T10:00:00.000Z", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T12:00:00+02:00", datetime(2026, 1, 1, 10, tzinfo=UTC)),
        ("2026-01-01T10:00:00.123456789Z", datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected


def test_parse_datetime_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_datetime("next tuesday")

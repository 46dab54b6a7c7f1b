"""Pending mutations: Seam's JSON for each variant, hidden PINs, decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keyslot.model import (
    CreatingMutation,
    DeferringCreationMutation,
    DeletingMutation,
    ModelDecodeError,
    MutationCode,
    PendingMutation,
    UpdatingCodeMutation,
    UpdatingNameMutation,
    UpdatingTimeFrameMutation,
    pending_mutation_from_dict,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=3)
STAMP0 = "2026-03-02T09:00:00.000Z"
STAMP1 = "2026-03-02T12:00:00.000Z"

ALL: list[PendingMutation] = [
    CreatingMutation(T0),
    DeferringCreationMutation(T0, scheduled_at=T1),
    DeletingMutation(T0, message="going"),
    UpdatingCodeMutation(T0, from_code="1357", to_code="2468"),
    UpdatingNameMutation(T0, from_name="Old", to_name=None),
    UpdatingTimeFrameMutation(T0, None, None, T0, T1),
]


def test_variants_cover_every_mutation_code() -> None:
    assert {m.mutation_code for m in ALL} == set(MutationCode)


def test_base_fields_and_variant_fields() -> None:
    bodies = {m.mutation_code: m.to_dict() for m in ALL}
    for body in bodies.values():
        assert body["created_at"] == STAMP0
        assert isinstance(body["message"], str)
        assert body["message"]
    assert bodies[MutationCode.DEFERRING_CREATION]["scheduled_at"] == STAMP1
    assert bodies[MutationCode.DELETING]["message"] == "going"
    assert bodies[MutationCode.UPDATING_CODE]["from"] == {"code": "1357"}
    assert bodies[MutationCode.UPDATING_CODE]["to"] == {"code": "2468"}
    assert bodies[MutationCode.UPDATING_NAME]["from"] == {"name": "Old"}
    assert bodies[MutationCode.UPDATING_NAME]["to"] == {"name": None}
    assert bodies[MutationCode.UPDATING_TIME_FRAME]["from"] == {"starts_at": None, "ends_at": None}
    assert bodies[MutationCode.UPDATING_TIME_FRAME]["to"] == {
        "starts_at": STAMP0,
        "ends_at": STAMP1,
    }


def test_updating_code_keeps_the_codes_but_hides_them_from_repr() -> None:
    mutation = UpdatingCodeMutation(T0, from_code="1357", to_code="2468")
    assert mutation.from_code == "1357"
    assert "1357" not in repr(mutation)
    assert "2468" not in repr(mutation)
    assert "2468" not in str(mutation)


@pytest.mark.parametrize("mutation", ALL, ids=lambda m: m.mutation_code.value)
def test_round_trip(mutation: PendingMutation) -> None:
    assert pending_mutation_from_dict(mutation.to_dict()) == mutation


def test_decoding_refuses_bad_entries() -> None:
    with pytest.raises(ModelDecodeError):
        pending_mutation_from_dict({"mutation_code": "teleporting", "created_at": STAMP0})
    with pytest.raises(ModelDecodeError):
        pending_mutation_from_dict({"mutation_code": "updating_code", "created_at": STAMP0})
    with pytest.raises(ModelDecodeError):
        pending_mutation_from_dict({"mutation_code": "deferring_creation", "created_at": STAMP0})
    with pytest.raises(ModelDecodeError):
        pending_mutation_from_dict({"mutation_code": "creating", "created_at": None})

"""The per-request shortcuts of the API path answer exactly what the long way did: JSON bodies,
uuid parameters, ids, PIN draws, and the event hub poked once for a burst of events."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import pytest

from keyslot import codes
from keyslot.codes import SecureChoices
from keyslot.gateway.app import Gateway
from keyslot.gateway.jsonio import BodyError, loads_object
from keyslot.gateway.params import Field, validate_params
from keyslot.model import InvalidInput, new_id
from keyslot.model import common as common_module
from keyslot.model.events import Event, EventType
from keyslot.protocol.clock import ManualClock
from keyslot.service import Service
from keyslot.store import Store

DEVICE = "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
WAIT = 5.0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"device_id": "x", "name": "front door"}',
        b'{"a": 1, "a": 2}',
        b'{"limit": 123456789012345678901234567890}',
        b'{"limit": -9223372036854775809}',
        b'{"ratio": 1e400}',
        b'{"ratio": NaN}',
        b'{"name": "\\ud800"}',
        b'\xef\xbb\xbf{"name": "bom"}',
        '{"name": "utf-16"}'.encode("utf-16"),
        b' {"nested": {"list": [1, 2.5, true, null]}} \n',
    ],
)
def test_bodies_read_as_the_standard_library_reads_them(raw: bytes) -> None:
    got = loads_object(raw)
    want = json.loads(raw)
    assert repr(got) == repr(want)  # repr: NaN never equals itself; types must match too


@pytest.mark.parametrize(
    "raw", [b'{"a": 1', b"[1, 2]", b'"text"', b'{"a": "\x01"}', b'{"\xff": 1}', b"\x00"]
)
def test_bodies_that_are_not_json_objects_are_refused(raw: bytes) -> None:
    with pytest.raises(BodyError):
        loads_object(raw)


UUID_FIELD = (Field("device_id", "uuid", required=True),)


def test_uuid_parameters_are_answered_in_lower_case() -> None:
    assert validate_params(UUID_FIELD, {}, {"device_id": DEVICE.upper()}) == {"device_id": DEVICE}


@pytest.mark.parametrize(
    "raw",
    [
        f"urn:uuid:{DEVICE}",
        DEVICE.replace("-", ""),
        f"{DEVICE}\n",
        f" {DEVICE}",
        DEVICE[:-1],
        DEVICE + "0",
        DEVICE.replace("3", "\u0663"),  # an Arabic-Indic digit: int() would read it
        DEVICE.replace("-", "_"),
    ],
)
def test_uuid_parameters_in_other_spellings_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_params(UUID_FIELD, {}, {"device_id": raw})
    assert info.value.validation_errors == {"device_id": {"_errors": ["Invalid uuid"]}}


def test_new_ids_are_canonical_time_ordered_uuid7s() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
        assert before <= parsed.int >> 80 <= after  # the milliseconds it was made in
    # later milliseconds sort later: new rows go to the end of an id index
    millis = [uuid.UUID(v).int >> 80 for v in ids]
    assert millis == sorted(millis)


def test_new_ids_keep_74_random_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common_module.time, "time_ns", lambda: 1_800_000_000_000_000_000)
    ids = {new_id() for _ in range(500)}
    assert len(ids) == 500  # the same millisecond: only the random bits tell them apart
    rand = [uuid.UUID(v).int & ((1 << 62) - 1) for v in ids]
    assert len(set(rand)) == 500


def test_secure_choices_skip_bytes_that_would_bias_the_draw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # For ten digits only bytes below 250 are used (250 = 25 x 10): 250..255 are skipped.
    pools = iter([bytes([255, 250, 7]), bytes([249, 13])])
    monkeypatch.setattr(codes.os, "urandom", lambda n: next(pools))
    rng = SecureChoices()
    assert rng.choice("0123456789") == "7"
    assert rng.choice("0123456789") == "9"  # the pool ran out: a new one was read
    assert rng.choice("0123456789") == "3"


def test_secure_choices_reach_every_element_and_refuse_an_empty_sequence() -> None:
    rng = SecureChoices()
    seen = {rng.choice("abc") for _ in range(300)}
    assert seen == {"a", "b", "c"}
    wide = list(range(300))  # longer than a byte can index: drawn another way
    assert all(rng.choice(wide) in wide for _ in range(50))
    with pytest.raises(IndexError):
        rng.choice("")


def add_event(store: Store, clock: ManualClock) -> None:
    store.events.append(
        Event.new(
            EventType.LOCK_LOCKED,
            workspace_id=store.workspace_id,
            at=clock.now(),
            device_id=DEVICE,
            method="manual",
        )
    )


async def test_a_burst_of_events_pokes_the_hub_once(store: Store, clock: ManualClock) -> None:
    gateway = Gateway(Service(store), clock=clock)
    await gateway.start()
    pokes: list[Any] = []
    woken = asyncio.Event()

    def notify() -> None:
        pokes.append(threading.get_ident())
        woken.set()

    gateway.hub.notify = notify  # type: ignore[method-assign]
    try:
        with store.transaction():
            for _ in range(5):
                add_event(store, clock)
        add_event(store, clock)  # a commit of its own, in the same moment
        await asyncio.wait_for(woken.wait(), WAIT)
        for _ in range(5):
            await asyncio.sleep(0)
        assert len(pokes) == 1
        # written in another thread: the poke is handed to the loop
        woken.clear()
        writer = threading.Thread(target=add_event, args=(store, clock))
        writer.start()
        writer.join(WAIT)
        await asyncio.wait_for(woken.wait(), WAIT)
        assert pokes == [threading.get_ident()] * 2
    finally:
        await gateway.stop()

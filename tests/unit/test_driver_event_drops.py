"""A slow reader of a driver's lock events loses the oldest ones, and its stream counts them
(`dropped`), so the reconciler knows that changes may have gone unheard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keyslot.drivers import serial_events, zwave_link
from keyslot.protocol.slots import LockEvent, LockEventKind

AT = datetime(2026, 1, 1, tzinfo=UTC)


def event(slot: int) -> LockEvent:
    return LockEvent(LockEventKind.CODE_CHANGED, AT, slot=slot)


async def test_a_serial_stream_counts_what_a_full_queue_drops() -> None:
    hub = serial_events.EventHub()
    stream = hub.subscribe()
    for slot in range(1, serial_events.QUEUE_SIZE + 4):
        hub.publish(event(slot))
    assert stream.dropped == 3
    first = await anext(stream)
    assert first.slot == 4  # the three oldest went
    hub.close()
    rest = [e async for e in stream]
    assert len(rest) == serial_events.QUEUE_SIZE - 1
    assert stream.dropped == 3  # the end marker pushed nothing out


async def test_a_zwave_stream_counts_what_a_full_queue_drops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(zwave_link, "EVENT_QUEUE_SIZE", 4)
    hub = zwave_link.EventHub()
    slow, idle = hub.stream(), hub.stream()
    for slot in range(1, 7):
        hub.publish(event(slot))
    assert slow.dropped == 2
    assert idle.dropped == 2
    assert (await anext(slow)).slot == 3
    await idle.aclose()  # a reader that leaves gets no more events
    left = idle.dropped
    hub.publish(event(7))
    assert idle.dropped == left
    hub.close()  # the end marker takes a place in the full queue: the oldest event goes
    assert slow.dropped == 3
    assert [e.slot async for e in slow] == [5, 6, 7]
    after = hub.stream()  # a stream asked for once the lock closed ends at once
    assert [e async for e in after] == []

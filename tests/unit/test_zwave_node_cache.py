"""The driver's view of one node, fed message by message as the network would feed it."""

from __future__ import annotations

import asyncio

import pytest

from keyslot.drivers.zwave_node import NodeCache
from keyslot.protocol.clock import ClockTimeout, ManualClock
from keyslot.protocol.slots import LockEvent, LockEventKind, LockUnavailable, SlotStatus
from keyslot.protocol.zwave_mqtt import (
    KeypadNotification,
    NodeStatus,
    ValueTopic,
    ZwaveTopics,
    encode_notification,
    encode_time_value,
)
from keyslot.protocol.zwave_values import NodeState, NotificationEvent, user_code_checksum

TOPICS = ZwaveTopics()
SLOTS = range(1, 5)


class Feed:
    """Feeds a NodeCache like the network does, numbering messages."""

    def __init__(self, clock: ManualClock) -> None:
        self.events: list[LockEvent] = []
        self.cache = NodeCache(2, ("nodeID_2", "2"), clock, self.events.append)
        self.seq = 0

    def value(self, prop: str, key: int | None, value: object, *, retained: bool = False) -> None:
        self.seq += 1
        topic = ValueTopic("nodeID_2", 99, 0, prop, key)
        self.cache.on_value(topic, encode_time_value(value, 1), retained=retained, seq=self.seq)

    def slot(self, index: int, status: int, code: str, *, retained: bool = False) -> None:
        self.value("userIdStatus", index, status, retained=retained)
        self.value("userCode", index, code, retained=retained)

    def notify(self, event: NotificationEvent, user_id: int | None) -> None:
        self.seq += 1
        parsed = TOPICS.parse(TOPICS.notification("nodeID_2", event))
        assert isinstance(parsed, ValueTopic)
        payload = encode_notification(KeypadNotification(event, user_id), 1_700_000_000_000)
        self.cache.on_value(parsed, payload, retained=False, seq=self.seq)

    def status(self, state: NodeState) -> None:
        self.seq += 1
        self.cache.on_node_status(NodeStatus(state, state.reachable, 2), self.seq)


@pytest.fixture
def feed(clock: ManualClock) -> Feed:
    return Feed(clock)


def test_slot_table_from_values(feed: Feed) -> None:
    feed.value("supportedUsers", None, 4, retained=True)
    feed.slot(1, 1, "0123", retained=True)
    feed.slot(2, 0, "", retained=True)
    feed.slot(3, 2, "5555", retained=True)
    assert not feed.cache.complete(SLOTS)
    feed.slot(4, 1, "**********", retained=True)
    cache = feed.cache
    assert cache.complete(SLOTS)
    assert cache.supported_users == 4
    assert cache.slot(1).code == "0123"
    assert cache.slot(1).status is SlotStatus.ENABLED
    assert not cache.slot(2).occupied
    assert cache.slot(3).status is SlotStatus.DISABLED
    four = cache.slot(4)
    assert four.occupied
    assert four.code is None
    assert four.code_masked
    assert cache.masked_seen
    assert cache.holds(1, "0123")
    assert not cache.holds(3, "5555")  # disabled is not what a write asks for
    assert cache.holder_of("0123", SLOTS, besides=2) == 1
    assert cache.holder_of("0123", SLOTS, besides=1) is None


def test_expected_checksum(feed: Feed) -> None:
    feed.slot(1, 1, "0123")
    feed.slot(2, 0, "")
    feed.slot(3, 2, "5555")
    expected = user_code_checksum([(1, 1, "0123"), (3, 2, "5555")])
    assert feed.cache.expected_checksum(range(1, 4)) == expected
    feed.slot(2, 1, "**********")
    assert feed.cache.expected_checksum(range(1, 4)) is None  # slot 2's code is unknown
    feed.cache.known[2] = "2468"
    assert feed.cache.expected_checksum(range(1, 4)) == user_code_checksum(
        [(1, 1, "0123"), (2, 1, "2468"), (3, 2, "5555")]
    )


def test_a_number_is_never_taken_for_a_code(feed: Feed) -> None:
    feed.value("userIdStatus", 1, 1)
    feed.value("userCode", 1, 123)  # a gateway that lost the leading zero
    slot = feed.cache.slot(1)
    assert slot.occupied
    assert slot.code is None  # unreadable, never "123"
    assert slot.code_masked
    assert feed.cache.expected_checksum(range(1, 2)) is None


def test_notifications_become_events(feed: Feed) -> None:
    feed.slot(1, 1, "0123", retained=True)
    feed.notify(NotificationEvent.KEYPAD_UNLOCK, 1)
    feed.notify(NotificationEvent.INVALID_CODE, None)
    feed.notify(NotificationEvent.NEW_USER_CODE_ADDED, 2)  # was empty: added
    feed.notify(NotificationEvent.NEW_USER_CODE_ADDED, 1)  # was occupied: changed
    feed.notify(NotificationEvent.SINGLE_USER_CODE_DELETED, 1)
    feed.notify(NotificationEvent.ALL_USER_CODES_DELETED, None)
    feed.notify(NotificationEvent.KEYPAD_TEMPORARILY_DISABLED, None)
    feed.notify(NotificationEvent.MANUAL_UNLOCK, None)
    feed.notify(NotificationEvent.NEW_USER_CODE_NOT_ADDED, 3)  # a refusal, not an event
    kinds = [(e.kind, e.slot) for e in feed.events]
    assert kinds == [
        (LockEventKind.KEYPAD_UNLOCK, 1),
        (LockEventKind.ACCESS_DENIED, None),
        (LockEventKind.CODE_ADDED, 2),
        (LockEventKind.CODE_CHANGED, 1),
        (LockEventKind.CODE_DELETED, 1),
        (LockEventKind.ALL_CODES_DELETED, None),
        (LockEventKind.LOCKOUT, None),
        (LockEventKind.MANUAL_UNLOCK, None),
    ]
    assert feed.events[1].reason == "unknown_code"
    assert feed.events[0].at.year == 2023  # the gateway's time stamp
    assert feed.cache.duplicates[3] == feed.seq


def test_keypad_changes_make_slots_stale_until_republished(feed: Feed) -> None:
    feed.slot(1, 1, "**********", retained=True)
    feed.cache.known[1] = "0123"
    assert feed.cache.holds(1, "0123")
    feed.notify(NotificationEvent.NEW_USER_CODE_ADDED, 1)
    assert 1 in feed.cache.stale
    assert 1 not in feed.cache.known  # keyslot no longer knows what slot 1 holds
    assert not feed.cache.holds(1, "0123")
    feed.slot(1, 1, "**********")
    assert not feed.cache.stale


def test_retained_replays_are_not_news(feed: Feed) -> None:
    feed.slot(1, 1, "0123", retained=True)
    cell = feed.cache.cells[1]
    assert cell.live_seq == 0
    feed.slot(1, 1, "0123")
    assert cell.live_seq == feed.seq


def test_node_status_events(feed: Feed) -> None:
    feed.status(NodeState.ALIVE)
    feed.status(NodeState.DEAD)
    assert feed.cache.unreachable_reason() is not None
    feed.status(NodeState.ALIVE)
    feed.status(NodeState.ASLEEP)
    feed.cache.on_link(False, "broker gone")
    feed.cache.on_link(True, "back")
    assert [(e.kind, e.reason) for e in feed.events] == [
        (LockEventKind.OFFLINE, "node_dead"),
        (LockEventKind.ONLINE, None),
        (LockEventKind.OFFLINE, "gateway_link"),
        (LockEventKind.ONLINE, None),
    ]


async def test_waits_end_on_the_update_on_death_or_on_the_clock(
    feed: Feed, clock: ManualClock
) -> None:
    waiting = asyncio.ensure_future(
        feed.cache.wait_until(lambda: 1 in feed.cache.cells, timeout=30)
    )
    await asyncio.sleep(0)
    assert not waiting.done()
    feed.slot(1, 1, "0123")
    await asyncio.wait_for(waiting, 1)

    dying = asyncio.ensure_future(feed.cache.wait_until(lambda: False, timeout=30))
    await asyncio.sleep(0)
    feed.status(NodeState.DEAD)
    with pytest.raises(LockUnavailable, match="dead"):
        await asyncio.wait_for(dying, 1)
    with pytest.raises(LockUnavailable):
        await feed.cache.wait_until(lambda: False, timeout=30)

    feed.status(NodeState.ALIVE)
    late = asyncio.ensure_future(feed.cache.wait_until(lambda: False, timeout=30))
    for _ in range(100):
        if clock.sleepers:
            break
        await asyncio.sleep(0)
    clock.advance(29)
    await asyncio.sleep(0)
    assert not late.done()
    clock.advance(1)
    with pytest.raises(ClockTimeout):
        await asyncio.wait_for(late, 1)


def test_bad_values_are_skipped_and_logged(feed: Feed, caplog: pytest.LogCaptureFixture) -> None:
    feed.value("userIdStatus", 1, "enabled")
    topic = ValueTopic("nodeID_2", 99, 0, "userCode", 1)
    feed.cache.on_value(topic, b"{not json", retained=False, seq=99)
    assert 1 not in feed.cache.cells or feed.cache.cells[1].status is None
    assert "ignoring" in caplog.text


def test_learns_what_retained_topics_missed(feed: Feed) -> None:
    feed.slot(1, 1, "0123", retained=True)
    feed.cache.learn(
        {
            ("userCode", 1): "9999",  # the topics said otherwise: they win
            ("userIdStatus", 2): 1,
            ("userCode", 2): "2222",
            ("supportedUsers", None): 2,
            ("userCodeChecksum", None): 77,
        },
        seq=5,
    )
    assert feed.cache.slot(1).code == "0123"
    assert feed.cache.slot(2).code == "2222"
    assert feed.cache.supported_users == 2
    assert feed.cache.checksum == 77

"""The simulated lock's BLE protocol engine, driven frame by frame without a radio."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keyslot.protocol.ble_frames import (
    Alert,
    AlertReason,
    Frame,
    Hello,
    HelloAck,
    PairCommit,
    PairDone,
    PairReveal,
    Sealed,
    decode_frame,
    encode_frame,
)
from keyslot.protocol.ble_messages import (
    NO_EVENT,
    ChallengeReply,
    ClearSlot,
    ErrorCode,
    ErrorReply,
    EventCount,
    EventNotice,
    GetChallenge,
    GetEvents,
    GetInfo,
    InfoReply,
    ListSlots,
    Message,
    Request,
    SlotCount,
    SlotReply,
    WriteReply,
    WriteSlot,
    decode_message,
    encode_message,
)
from keyslot.protocol.ble_session import HostHandshake, HostPairing, PairedKey, SecureChannel
from keyslot.protocol.clock import ManualClock
from keyslot.protocol.slots import LockEventKind, SlotEntry
from keyslot.simulator.ble_lock_service import EVENT_LOG_SIZE, LockConnection, LockService
from keyslot.simulator.faults import FaultKind
from keyslot.simulator.firmware import LockFirmware
from keyslot.simulator.profiles import get_profile


class Host:
    """A host speaking to one LockConnection in whole frames."""

    def __init__(self, service: LockService) -> None:
        self.sent: list[bytes] = []
        self.drops = 0
        self.conn: LockConnection = service.open_connection(self.sent.append, self._drop)
        self.channel: SecureChannel | None = None
        self._rid = 0

    def _drop(self) -> None:
        self.drops += 1

    def frame(self, frame: Frame) -> list[Frame]:
        before = len(self.sent)
        self.conn.receive(encode_frame(frame))
        return [decode_frame(m) for m in self.sent[before:]]

    def drain(self, since: int) -> list[Message]:
        """Open what the lock sent on its own (live events) since `since` messages."""
        return self.open([decode_frame(m) for m in self.sent[since:]])

    def pair(self) -> tuple[PairedKey, str]:
        pairing = HostPairing()
        (commit,) = self.frame(pairing.request())
        assert isinstance(commit, PairCommit)
        (reveal,) = self.frame(pairing.on_commit(commit))
        assert isinstance(reveal, PairReveal)
        code = pairing.on_reveal(reveal)
        (done,) = self.frame(pairing.confirm())
        assert isinstance(done, PairDone)
        return pairing.on_done(done), code

    def hello(self, key: PairedKey) -> None:
        handshake = HostHandshake(key)
        (ack,) = self.frame(handshake.hello())
        assert isinstance(ack, HelloAck)
        self.channel = handshake.on_ack(ack)

    def open(self, frames: list[Frame]) -> list[Message]:
        assert self.channel is not None
        out = []
        for frame in frames:
            assert isinstance(frame, Sealed), frame
            out.append(decode_message(self.channel.open(frame)))
        return out

    def seal(self, build: Callable[[int], Request]) -> Sealed:
        assert self.channel is not None
        self._rid += 1
        return self.channel.seal(encode_message(build(self._rid)))

    def ask(self, build: Callable[[int], Request]) -> list[Message]:
        return self.open(self.frame(self.seal(build)))


@pytest.fixture
def firmware(clock: ManualClock) -> LockFirmware:
    return LockFirmware(get_profile("kwikset"), clock=clock, lock_id="unit")


@pytest.fixture
def service(firmware: LockFirmware) -> LockService:
    return LockService(firmware, pairing=True)


@pytest.fixture
def host(service: LockService) -> Host:
    h = Host(service)
    key, _ = h.pair()
    h.hello(key)
    return h


def write(host: Host, index: int, code: str) -> list[Message]:
    (challenge,) = host.ask(GetChallenge)
    assert isinstance(challenge, ChallengeReply)
    return host.ask(lambda rid: WriteSlot(rid, challenge.challenge, index, SlotEntry(code, "Al")))


def test_pairing_shows_the_same_code_and_leaves_pairing_mode(firmware: LockFirmware) -> None:
    shown: list[str] = []
    service = LockService(firmware, pairing=True, on_code=shown.append)
    key, code = Host(service).pair()
    assert shown == [code]
    assert service.keys == {key.key_id: key}
    assert not service.pairing
    assert Host(service).frame(HostPairing().request()) == [Alert(AlertReason.NOT_IN_PAIRING_MODE)]


def test_pairing_outside_pairing_mode_is_refused(firmware: LockFirmware) -> None:
    service = LockService(firmware, pairing=False)
    host = Host(service)
    assert host.frame(HostPairing().request()) == [Alert(AlertReason.NOT_IN_PAIRING_MODE)]
    assert service.keys == {}


def test_pairing_steps_without_a_request_are_refused(service: LockService) -> None:
    pairing = HostPairing()
    commit = PairCommit(lock_public=bytes(32), commitment=bytes(32))
    assert Host(service).frame(pairing.on_commit(commit)) == [Alert(AlertReason.PAIRING_FAILED)]


def test_unknown_key_and_no_session_are_refused(service: LockService) -> None:
    host = Host(service)
    stranger = PairedKey(key_id=b"\x01" * 8, secret=b"\x02" * 32)
    assert host.frame(HostHandshake(stranger).hello()) == [Alert(AlertReason.NOT_PAIRED)]
    assert host.frame(Sealed(0, bytes(20))) == [Alert(AlertReason.NO_SESSION)]
    assert host.frame(Hello(b"\x01" * 8, bytes(16))) == [Alert(AlertReason.NOT_PAIRED)]


def test_requests_are_answered_under_the_session(host: Host) -> None:
    (reply,) = host.ask(GetInfo)
    assert isinstance(reply, InfoReply)
    assert reply.info.slot_count == 30


def test_listing_is_a_count_then_one_message_per_slot(host: Host) -> None:
    replies = host.ask(lambda rid: ListSlots(rid, 28, 10))
    head, *entries = replies
    assert head == SlotCount(head.request_id, total=30, count=2)  # type: ignore[union-attr]
    assert [e.slot.index for e in entries] == [29, 30]  # type: ignore[union-attr]
    assert all(isinstance(e, SlotReply) for e in entries)


def test_code_changes_need_a_fresh_challenge(
    host: Host, firmware: LockFirmware, clock: ManualClock
) -> None:
    entry = SlotEntry("4711", "Al")
    (refused,) = host.ask(lambda rid: WriteSlot(rid, bytes(16), 1, entry))
    assert isinstance(refused, ErrorReply)
    assert refused.code is ErrorCode.STALE_CHALLENGE
    assert firmware.stored(1) is None
    (challenge,) = host.ask(GetChallenge)
    assert isinstance(challenge, ChallengeReply)
    (written,) = host.ask(lambda rid: WriteSlot(rid, challenge.challenge, 1, entry))
    assert isinstance(written, WriteReply)
    assert firmware.stored(1) is not None
    (reused,) = host.ask(lambda rid: ClearSlot(rid, challenge.challenge, 1))
    assert isinstance(reused, ErrorReply)
    assert firmware.stored(1) is not None
    # the challenge a write returns is good for the next change, but not for long
    clock.advance(31)
    (late,) = host.ask(lambda rid: ClearSlot(rid, written.next_challenge, 1))
    assert isinstance(late, ErrorReply)
    assert late.code is ErrorCode.STALE_CHALLENGE
    assert firmware.stored(1) is not None


def test_replayed_and_tampered_frames_are_refused_and_the_session_goes_on(
    host: Host, firmware: LockFirmware
) -> None:
    write(host, 2, "2468")
    (challenge,) = host.ask(GetChallenge)
    assert isinstance(challenge, ChallengeReply)
    frame = host.seal(lambda rid: ClearSlot(rid, challenge.challenge, 2))
    tampered = Sealed(frame.counter, frame.ciphertext[:-1] + bytes([frame.ciphertext[-1] ^ 1]))
    assert host.frame(tampered) == [Alert(AlertReason.AUTH_FAILED)]
    assert host.frame(Sealed(frame.counter + 1, frame.ciphertext)) == [Alert(AlertReason.REPLAY)]
    assert firmware.stored(2) is not None
    host.open(host.frame(frame))
    assert firmware.stored(2) is None
    assert host.frame(frame) == [Alert(AlertReason.REPLAY)]
    assert firmware.stored(2) is None
    (info,) = host.ask(GetInfo)
    assert isinstance(info, InfoReply)


def test_garbage_gets_a_malformed_alert(host: Host) -> None:
    before = len(host.sent)
    host.conn.receive(b"\x99garbage")
    assert decode_frame(host.sent[before]) == Alert(AlertReason.MALFORMED)


def test_events_reach_hosts_with_a_session_only(
    service: LockService, host: Host, firmware: LockFirmware
) -> None:
    write(host, 3, "1357")
    bystander = Host(service)
    before = len(host.sent)
    assert firmware.enter("1357").unlocked
    (notice,) = host.open([decode_frame(m) for m in host.sent[before:]])
    assert isinstance(notice, EventNotice)
    assert notice.event.kind is LockEventKind.KEYPAD_UNLOCK
    assert notice.event.slot == 3
    assert bystander.sent == []


@pytest.mark.parametrize(
    "case",
    [
        (FaultKind.LOSE, False, False, None),
        (FaultKind.LOSE_REPLY, False, True, None),
        (FaultKind.FAIL, True, False, ErrorCode.BUSY),
        (FaultKind.FULL, True, False, ErrorCode.NO_FREE_SLOT),
    ],
)
def test_faults_as_a_ble_lock_shows_them(
    host: Host, firmware: LockFirmware, case: tuple[FaultKind, bool, bool, ErrorCode | None]
) -> None:
    kind, answered, applied, code = case
    firmware.faults.inject(kind, ops={"write_slot"})
    replies = write(host, 4, "8642")
    assert bool(replies) == answered
    assert (firmware.stored(4) is not None) == applied
    if code is not None:
        assert isinstance(replies[0], ErrorReply)
        assert replies[0].code is code


def test_offline_drops_the_link_and_refuses_new_sessions(
    service: LockService, host: Host, firmware: LockFirmware, clock: ManualClock
) -> None:
    key = next(iter(service.keys.values()))
    firmware.faults.go_offline(clock.monotonic(), 10)
    assert host.ask(GetInfo) == []
    assert host.drops == 1
    other = Host(service)
    assert other.frame(HostHandshake(key).hello()) == []
    assert other.drops == 1
    clock.advance(11)
    other.hello(key)


def test_delayed_replies_are_deferred(firmware: LockFirmware) -> None:
    later: list[tuple[float, Callable[[], None]]] = []
    service = LockService(firmware, pairing=True, defer=lambda s, fn: later.append((s, fn)))
    host = Host(service)
    key, _ = host.pair()
    host.hello(key)
    firmware.faults.inject(FaultKind.DELAY, delay=2.5)
    before = len(host.sent)
    host.conn.receive(encode_frame(host.seal(GetInfo)))
    assert len(host.sent) == before
    ((seconds, deliver),) = later
    assert seconds == 2.5
    deliver()
    (reply,) = host.open([decode_frame(m) for m in host.sent[before:]])
    assert isinstance(reply, InfoReply)


def test_forced_drops_apply_the_request_but_lose_the_reply(
    service: LockService, host: Host, firmware: LockFirmware
) -> None:
    service.drop_after_requests(2, repeat=True)
    (challenge,) = host.ask(GetChallenge)  # request 1: answered
    assert isinstance(challenge, ChallengeReply)
    lost = host.ask(lambda rid: WriteSlot(rid, challenge.challenge, 5, SlotEntry("9753")))
    assert lost == []
    assert host.drops == 1
    assert firmware.stored(5) is not None
    assert service.drops == 1
    with pytest.raises(ValueError, match="at least 1"):
        service.drop_after_requests(0)


def test_closed_connections_say_nothing(service: LockService, host: Host) -> None:
    host.conn.close()
    before = len(host.sent)
    host.conn.receive(encode_frame(Hello(b"\x00" * 8, bytes(16))))
    assert len(host.sent) == before
    assert host.conn not in service.connections


def test_events_are_numbered_and_kept_for_hosts_that_were_away(
    service: LockService, host: Host, firmware: LockFirmware
) -> None:
    write(host, 8, "8080")
    mark = len(host.sent)
    for _ in range(3):
        firmware.enter("8080")
    live = host.drain(mark)
    assert [n.sequence for n in live] == [1, 2, 3]  # type: ignore[union-attr]
    assert service.event_sequence == 3
    head, *replayed = host.ask(lambda rid: GetEvents(rid, 1))
    assert head == EventCount(head.request_id, latest=3, count=2, missed=0)  # type: ignore[union-attr]
    assert [n.sequence for n in replayed] == [2, 3]  # type: ignore[union-attr]
    assert all(n.event.kind is LockEventKind.KEYPAD_UNLOCK for n in replayed)  # type: ignore[union-attr]
    (latest,) = host.ask(lambda rid: GetEvents(rid, NO_EVENT))
    assert isinstance(latest, EventCount)
    assert (latest.latest, latest.count) == (3, 0)
    # a number from an earlier life of the lock: everything it still keeps
    head, *replayed = host.ask(lambda rid: GetEvents(rid, 99))
    assert [n.sequence for n in replayed] == [1, 2, 3]  # type: ignore[union-attr]


def test_the_event_log_is_bounded_and_says_what_fell_out(
    service: LockService, host: Host, firmware: LockFirmware
) -> None:
    mark = len(host.sent)
    for _ in range(EVENT_LOG_SIZE + 10):
        firmware.manager_set(9, "9090")
        firmware.manager_delete(9)
    host.drain(mark)
    head, *replayed = host.ask(lambda rid: GetEvents(rid, 0))
    assert isinstance(head, EventCount)
    assert head.count == EVENT_LOG_SIZE
    assert head.latest == service.event_sequence
    assert head.missed == service.event_sequence - EVENT_LOG_SIZE
    assert replayed[0].sequence == head.missed + 1  # type: ignore[union-attr]


def test_undecodable_requests_are_answered_with_their_id(host: Host) -> None:
    assert host.channel is not None
    frame = host.channel.seal(b"\x7e\x12\x34junk")
    (reply,) = host.open(host.frame(frame))
    assert reply == ErrorReply(0x1234, ErrorCode.BAD_REQUEST, "the request did not decode")

"""BLE pairing and sessions: the state machines, refusals, and what a key blob holds."""

from __future__ import annotations

import dataclasses

import pytest

from keyslot.protocol.ble_frames import PairCommit, PairConfirm, PairDone, PairReveal, Sealed
from keyslot.protocol.ble_session import (
    MAX_COUNTER,
    AuthError,
    ChallengeBook,
    HostHandshake,
    HostPairing,
    LockPairing,
    PairedKey,
    PairingError,
    ReplayError,
    SecureChannel,
    SessionError,
    accept_hello,
)


def paired(lock_id: str = "front-door") -> tuple[PairedKey, PairedKey, str, str]:
    host, lock = HostPairing(), LockPairing(lock_id)
    commit = lock.on_request(host.request())
    reveal = lock.on_nonce(host.on_commit(commit))
    host_code = host.on_reveal(reveal)
    done, lock_key = lock.on_confirm(host.confirm())
    host_key = host.on_done(done)
    assert lock.code is not None
    return host_key, lock_key, host_code, lock.code


def session(key: PairedKey) -> tuple[SecureChannel, SecureChannel]:
    handshake = HostHandshake(key)
    ack, lock_channel = accept_hello(handshake.hello(), key)
    return handshake.on_ack(ack), lock_channel


def test_pairing_agrees_one_key_and_one_code() -> None:
    host_key, lock_key, host_code, lock_code = paired()
    assert host_key == lock_key
    assert host_code == lock_code
    assert len(host_code) == 6
    assert host_code.isdigit()
    assert host_key.lock_id == "front-door"
    assert len(host_key.key_id) == 8
    assert len(host_key.secret) == 32


def test_two_pairings_give_different_keys_and_codes() -> None:
    first, second = paired(), paired()
    assert first[0].secret != second[0].secret
    assert first[0].key_id != second[0].key_id


def test_the_lock_must_keep_its_commitment() -> None:
    host, lock = HostPairing(), LockPairing("x")
    commit = lock.on_request(host.request())
    reveal = lock.on_nonce(host.on_commit(commit))
    forged = PairReveal(lock_nonce=bytes(16), lock_id=reveal.lock_id)
    with pytest.raises(PairingError, match="commitment"):
        host.on_reveal(forged)


def test_a_man_in_the_middle_shows_different_codes() -> None:
    # Mallory pairs with each side on its own; the two codes differ (the user notices).
    host, lock = HostPairing(), LockPairing("x")
    mallory_as_lock, mallory_as_host = LockPairing("x"), HostPairing()
    commit_to_host = mallory_as_lock.on_request(host.request())
    commit_from_lock = lock.on_request(mallory_as_host.request())
    reveal_to_host = mallory_as_lock.on_nonce(host.on_commit(commit_to_host))
    reveal_from_lock = lock.on_nonce(mallory_as_host.on_commit(commit_from_lock))
    host_code = host.on_reveal(reveal_to_host)
    mallory_as_host.on_reveal(reveal_from_lock)
    assert host_code != lock.code


def test_wrong_host_proof_is_refused_and_ends_the_pairing() -> None:
    host, lock = HostPairing(), LockPairing("x")
    commit = lock.on_request(host.request())
    lock.on_nonce(host.on_commit(commit))
    with pytest.raises(PairingError, match="proof"):
        lock.on_confirm(PairConfirm(proof=bytes(32)))
    with pytest.raises(PairingError):
        lock.on_confirm(PairConfirm(proof=bytes(32)))


def test_wrong_lock_proof_is_refused() -> None:
    host, lock = HostPairing(), LockPairing("x")
    commit = lock.on_request(host.request())
    host.on_reveal(lock.on_nonce(host.on_commit(commit)))
    done, _ = lock.on_confirm(host.confirm())
    with pytest.raises(PairingError, match="proof"):
        host.on_done(dataclasses.replace(done, key_id=b"\x00" * 8))


def test_pairing_steps_out_of_order_are_refused() -> None:
    host, lock = HostPairing(), LockPairing("x")
    with pytest.raises(PairingError):
        lock.on_confirm(PairConfirm(proof=bytes(32)))
    with pytest.raises(PairingError):
        host.confirm()
    with pytest.raises(PairingError):
        host.on_reveal(PairReveal(lock_nonce=bytes(16), lock_id="x"))
    with pytest.raises(PairingError):
        host.on_done(PairDone(key_id=bytes(8), proof=bytes(32)))
    commit = lock.on_request(host.request())
    with pytest.raises(PairingError):
        lock.on_request(host.request())
    host.on_commit(commit)
    with pytest.raises(PairingError):
        host.on_commit(commit)


def test_a_low_order_public_key_is_refused() -> None:
    host = HostPairing()
    lock = LockPairing("x")
    lock.on_request(host.request())
    commit = PairCommit(lock_public=bytes(32), commitment=bytes(32))
    host.on_commit(commit)
    with pytest.raises(PairingError):
        host.on_reveal(PairReveal(lock_nonce=bytes(16), lock_id="x"))


def test_sealed_messages_flow_both_ways() -> None:
    key = paired()[0]
    host, lock = session(key)
    for i in range(5):
        assert lock.open(host.seal(b"request %d" % i)) == b"request %d" % i
        assert host.open(lock.seal(b"reply %d" % i)) == b"reply %d" % i
    assert (host.sent, host.received, lock.sent, lock.received) == (5, 5, 5, 5)


def test_same_plaintext_never_gives_the_same_ciphertext() -> None:
    host, _ = session(paired()[0])
    assert host.seal(b"same").ciphertext != host.seal(b"same").ciphertext


def test_replayed_and_reordered_frames_fail_and_change_nothing() -> None:
    host, lock = session(paired()[0])
    first, second, third = (host.seal(b"%d" % i) for i in range(3))
    assert lock.open(first) == b"0"
    with pytest.raises(ReplayError):
        lock.open(first)
    with pytest.raises(ReplayError):
        lock.open(third)  # skipped one: reordered
    assert lock.open(second) == b"1"
    assert lock.open(third) == b"2"


def test_tampered_frames_fail_and_change_nothing() -> None:
    host, lock = session(paired()[0])
    frame = host.seal(b"write slot 3")
    flipped = bytes([frame.ciphertext[0] ^ 1]) + frame.ciphertext[1:]
    with pytest.raises(AuthError):
        lock.open(Sealed(frame.counter, flipped))
    with pytest.raises(AuthError):
        lock.open(Sealed(frame.counter, frame.ciphertext[:-1] + b"\x00"))
    assert lock.open(frame) == b"write slot 3"


def test_a_frame_of_another_session_fails() -> None:
    key = paired()[0]
    host_a, _ = session(key)
    _, lock_b = session(key)
    with pytest.raises(AuthError):
        lock_b.open(host_a.seal(b"old session"))


def test_a_counter_forged_into_the_header_fails() -> None:
    host, lock = session(paired()[0])
    host.seal(b"0")
    frame = host.seal(b"1")
    with pytest.raises(AuthError):
        lock.open(Sealed(0, frame.ciphertext))


def test_hello_with_the_wrong_key_is_detected_by_the_host() -> None:
    right, wrong = paired()[0], paired()[0]
    handshake = HostHandshake(dataclasses.replace(wrong, key_id=right.key_id))
    ack, _ = accept_hello(handshake.hello(), right)
    with pytest.raises(AuthError):
        handshake.on_ack(ack)


def test_counters_run_out_rather_than_repeat() -> None:
    host, _ = session(paired()[0])
    host.sent = MAX_COUNTER + 1
    with pytest.raises(SessionError):
        host.seal(b"x")


def test_challenges_are_single_use_fresh_and_short_lived() -> None:
    book = ChallengeBook(lifetime=30.0)
    assert not book.consume(bytes(16), 0.0)
    first = book.issue(0.0)
    assert book.consume(first, 1.0)
    assert not book.consume(first, 1.0)
    stale = book.issue(2.0)
    newer = book.issue(3.0)
    assert not book.consume(stale, 4.0)
    assert not book.consume(newer, 4.0)  # a wrong guess uses up the current one
    late = book.issue(10.0)
    assert not book.consume(late, 40.5)


def test_key_blob_round_trips_and_hides_the_secret() -> None:
    key = paired("Zoë's door")[0]
    assert PairedKey.from_bytes(key.to_bytes()) == key
    assert key.secret.hex() not in repr(key)
    blob = key.to_bytes()
    for bad in (b"", b"\x02" + blob[1:], blob[:-1], blob + b"x"):
        with pytest.raises(ValueError, match="key"):
            PairedKey.from_bytes(bad)

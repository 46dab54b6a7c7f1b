"""The outer frames of the BLE lock protocol: pairing, session hello, sealed data and alerts.

A frame is one reassembled message. Only pairing and the session hello travel in the
clear; everything after the hello is a `Sealed` frame (see ble_session). `Alert` is the
lock's unauthenticated "I dropped your frame" and carries a reason only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from keyslot.protocol.ble_wire import MessageError, Reader, Writer

__all__ = [
    "HOST_NONCE_SIZE",
    "KEY_ID_SIZE",
    "LOCK_NONCE_SIZE",
    "PUBLIC_KEY_SIZE",
    "TAG_SIZE",
    "Alert",
    "AlertReason",
    "Frame",
    "Hello",
    "HelloAck",
    "PairCommit",
    "PairConfirm",
    "PairDone",
    "PairNonce",
    "PairRequest",
    "PairReveal",
    "Sealed",
    "decode_frame",
    "encode_frame",
    "sealed_header",
]

PUBLIC_KEY_SIZE = 32
HOST_NONCE_SIZE = 16
LOCK_NONCE_SIZE = 16
KEY_ID_SIZE = 8
PROOF_SIZE = 32
HELLO_PROOF_SIZE = 16
TAG_SIZE = 16


class AlertReason(enum.IntEnum):
    MALFORMED = 1  # the frame did not decode
    NOT_IN_PAIRING_MODE = 2  # a pairing request while the lock is not in pairing mode
    PAIRING_FAILED = 3  # a pairing step out of order or a proof that did not verify
    NOT_PAIRED = 4  # the hello named a key the lock does not hold
    AUTH_FAILED = 5  # a sealed frame whose tag did not verify
    REPLAY = 6  # a sealed frame with a counter other than the next one
    NO_SESSION = 7  # a sealed frame before any hello on this connection


@dataclass(frozen=True, slots=True)
class PairRequest:
    host_public: bytes


@dataclass(frozen=True, slots=True)
class PairCommit:
    lock_public: bytes
    commitment: bytes


@dataclass(frozen=True, slots=True)
class PairNonce:
    host_nonce: bytes


@dataclass(frozen=True, slots=True)
class PairReveal:
    lock_nonce: bytes
    lock_id: str


@dataclass(frozen=True, slots=True)
class PairConfirm:
    proof: bytes


@dataclass(frozen=True, slots=True)
class PairDone:
    key_id: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class Hello:
    key_id: bytes
    host_nonce: bytes


@dataclass(frozen=True, slots=True)
class HelloAck:
    lock_nonce: bytes
    proof: bytes


@dataclass(frozen=True, slots=True)
class Sealed:
    """An AEAD-sealed application message; `counter` is the sender's per-direction counter."""

    counter: int
    ciphertext: bytes

    def header(self) -> bytes:
        """The bytes that the AEAD authenticates besides the ciphertext."""
        return sealed_header(self.counter)


def sealed_header(counter: int) -> bytes:
    """Frame type and counter of a sealed frame: the AEAD's associated data."""
    return Writer().u8(_SEALED).u32(counter).bytes()


@dataclass(frozen=True, slots=True)
class Alert:
    reason: AlertReason


Frame = (
    PairRequest
    | PairCommit
    | PairNonce
    | PairReveal
    | PairConfirm
    | PairDone
    | Hello
    | HelloAck
    | Sealed
    | Alert
)

_PAIR_REQUEST = 0x01
_PAIR_COMMIT = 0x02
_PAIR_NONCE = 0x03
_PAIR_REVEAL = 0x04
_PAIR_CONFIRM = 0x05
_PAIR_DONE = 0x06
_HELLO = 0x10
_HELLO_ACK = 0x11
_SEALED = 0x20
_ALERT = 0x7F


def encode_frame(frame: Frame) -> bytes:
    w = Writer()
    match frame:
        case PairRequest(host_public=key):
            w.u8(_PAIR_REQUEST).raw(key, PUBLIC_KEY_SIZE)
        case PairCommit(lock_public=key, commitment=commitment):
            w.u8(_PAIR_COMMIT).raw(key, PUBLIC_KEY_SIZE).raw(commitment, PROOF_SIZE)
        case PairNonce(host_nonce=nonce):
            w.u8(_PAIR_NONCE).raw(nonce, HOST_NONCE_SIZE)
        case PairReveal(lock_nonce=nonce, lock_id=lock_id):
            w.u8(_PAIR_REVEAL).raw(nonce, LOCK_NONCE_SIZE).text(lock_id)
        case PairConfirm(proof=proof):
            w.u8(_PAIR_CONFIRM).raw(proof, PROOF_SIZE)
        case PairDone(key_id=key_id, proof=proof):
            w.u8(_PAIR_DONE).raw(key_id, KEY_ID_SIZE).raw(proof, PROOF_SIZE)
        case Hello(key_id=key_id, host_nonce=nonce):
            w.u8(_HELLO).raw(key_id, KEY_ID_SIZE).raw(nonce, HOST_NONCE_SIZE)
        case HelloAck(lock_nonce=nonce, proof=proof):
            w.u8(_HELLO_ACK).raw(nonce, LOCK_NONCE_SIZE).raw(proof, HELLO_PROOF_SIZE)
        case Sealed(counter=counter, ciphertext=ciphertext):
            if len(ciphertext) < TAG_SIZE:
                raise MessageError("sealed frame shorter than its tag")
            w.u8(_SEALED).u32(counter).raw(ciphertext)
        case Alert(reason=reason):
            w.u8(_ALERT).u8(reason)
    return w.bytes()


def decode_frame(data: bytes) -> Frame:
    """Decode one reassembled message; raises MessageError on anything malformed."""
    r = Reader(data)
    kind = r.u8()
    frame: Frame
    if kind == _PAIR_REQUEST:
        frame = PairRequest(r.raw(PUBLIC_KEY_SIZE))
    elif kind == _PAIR_COMMIT:
        frame = PairCommit(r.raw(PUBLIC_KEY_SIZE), r.raw(PROOF_SIZE))
    elif kind == _PAIR_NONCE:
        frame = PairNonce(r.raw(HOST_NONCE_SIZE))
    elif kind == _PAIR_REVEAL:
        frame = PairReveal(r.raw(LOCK_NONCE_SIZE), r.text())
    elif kind == _PAIR_CONFIRM:
        frame = PairConfirm(r.raw(PROOF_SIZE))
    elif kind == _PAIR_DONE:
        frame = PairDone(r.raw(KEY_ID_SIZE), r.raw(PROOF_SIZE))
    elif kind == _HELLO:
        frame = Hello(r.raw(KEY_ID_SIZE), r.raw(HOST_NONCE_SIZE))
    elif kind == _HELLO_ACK:
        frame = HelloAck(r.raw(LOCK_NONCE_SIZE), r.raw(HELLO_PROOF_SIZE))
    elif kind == _SEALED:
        counter = r.u32()
        ciphertext = r.rest()
        if len(ciphertext) < TAG_SIZE:
            raise MessageError("sealed frame shorter than its tag")
        frame = Sealed(counter, ciphertext)
    elif kind == _ALERT:
        code = r.u8()
        try:
            frame = Alert(AlertReason(code))
        except ValueError as exc:
            raise MessageError(f"unknown alert reason {code}") from exc
    else:
        raise MessageError(f"unknown frame type 0x{kind:02x}")
    r.end()
    return frame

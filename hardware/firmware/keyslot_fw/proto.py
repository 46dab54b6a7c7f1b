"""The lock's side of the serial protocol: sessions, counters, the reply cache and events.

`Link` follows section 5 of `hardware/serial-protocol.md` for each frame: garbage gets
BAD_FRAME, EVENT_ACK no reply, a byte-identical retransmission the cached reply (nothing is
applied twice), a sealed request is checked (paired, sealed, session, tag, counter) before
its operation runs, and security refusals are not cached. The `app` (the Lock) answers the
operations themselves.
"""

from keyslot_fw import consts, frames, session, wire

MAX_AUTH_FAILURES = 8  # per session; then the session is dropped
EVENT_QUEUE = 64
EVENT_RETRY_MS = 250
EVENT_TRIES = 20


def nak(message=None, slot=None, existing=None, reason=None):
    """A NAK body: flags, then the slot, existing slot, reason and message that are given."""
    flags = 0
    out = bytearray()
    if slot is not None:
        flags |= 1
        out.extend(wire.varint(slot))
    if existing is not None:
        flags |= 2
        out.extend(wire.varint(existing))
    if reason is not None:
        flags |= 4
        out.extend(wire.str8(reason))
    if message is not None:
        flags |= 8
        out.extend(wire.str8(message))
    return bytes([flags]) + bytes(out)


class Link:
    """One UART's worth of protocol state. RAM only: a reboot starts a new Link."""

    def __init__(self, app, platform):
        self.app = app
        self.platform = platform
        self.deframer = frames.Deframer()
        self.session = None
        self.last_counter = 0
        self.auth_failures = 0
        self.refusals = 0  # security refusals since boot (a sign of a wrong key or an attack)
        self.last_raw = None
        self.cached = b""
        self.event_counter = 0
        self.events = []  # [type, body, counter, sent_at, tries]

    # -------------------------------------------------------------- frames in

    def receive(self, data):
        """Bytes from the UART in, bytes for the UART out."""
        out = bytearray()
        for frame in self.deframer.feed(data):
            if frame is None:
                out.extend(self._plain(0, consts.BAD_FRAME))
                continue
            try:
                out.extend(self.handle(frame))
            except Exception:  # noqa: BLE001 - a firmware bug must not stop the lock
                out.extend(self._plain(frame.seq, consts.INTERNAL))
        return bytes(out)

    def handle(self, frame):
        if frame.ctl & frames.FROM_LOCK:
            return b""  # an echo, or another device on the bus
        mtype = frame.mtype
        if mtype == consts.EVENT_ACK:
            self._ack(frame)
            return b""
        if frame.raw == self.last_raw:
            return self.cached  # a retransmission: answer again, apply nothing
        if mtype in consts.SEALED_TYPES:
            return self._sealed_request(frame, mtype)
        if mtype not in consts.PLAIN_TYPES:
            return self._remember(frame, self._plain(frame.seq, consts.UNKNOWN_TYPE))
        if frame.sealed:
            return self._remember(frame, self._plain(frame.seq, consts.BAD_REQUEST))
        try:
            status, body = self.app.plain(mtype, frame.body, self)
        except wire.BadRequest as exc:
            status, body = consts.BAD_REQUEST, nak(str(exc))
        return self._remember(frame, self._plain(frame.seq, status, body))

    def _remember(self, frame, reply):
        self.last_raw = frame.raw
        self.cached = reply
        return reply

    def _refuse(self, frame, status):
        """A security refusal: not cached, so a forged frame cannot displace a real reply."""
        self.refusals += 1
        return self._plain(frame.seq, status)

    def _sealed_request(self, frame, mtype):
        if self.app.pairing_key is None:
            return self._refuse(frame, consts.NOT_PAIRED)
        if not frame.sealed:
            return self._refuse(frame, consts.AUTH_REQUIRED)
        current = self.session
        if current is None:
            return self._plain(frame.seq, consts.NO_SESSION)
        plaintext = current.open(session.REQUEST, frame.header, frame.counter, frame.body)
        if plaintext is None:
            self.auth_failures += 1
            if self.auth_failures >= MAX_AUTH_FAILURES:
                self.session = None
            return self._refuse(frame, consts.AUTH_FAILED)
        if self.last_counter >= session.COUNTER_MAX:
            return self._plain(frame.seq, consts.SESSION_EXPIRED)
        if frame.counter <= self.last_counter:
            return self._refuse(frame, consts.REPLAY)
        self.last_counter = frame.counter
        try:
            status, body = self.app.sealed(mtype, plaintext)
        except wire.BadRequest as exc:
            status, body = consts.BAD_REQUEST, nak(str(exc))
        return self._remember(frame, self._sealed_reply(frame, status, body))

    def _sealed_reply(self, frame, status, body):
        """Sealed when it has a body; empty ACKs and NAKs go plain (see section 7)."""
        if not body or self.session is None:
            return self._plain(frame.seq, status, body)
        head = frames.header(frames.FROM_LOCK | status, frame.counter, True)
        sealed = self.session.seal(session.REPLY, head, frame.counter, body)
        return frames.encode(head, sealed)

    def _plain(self, seq, status, body=b""):
        return frames.encode(frames.header(frames.FROM_LOCK | status, seq, False), body)

    def start_session(self, host_nonce, lock_nonce):
        """A HELLO: new nonces, counters from zero, unsent events renumbered."""
        self.session = None
        self.last_counter = 0
        self.auth_failures = 0
        self.event_counter = 0
        for pending in self.events:
            pending[2] = 0
            pending[3] = None
            pending[4] = 0
        key = self.app.pairing_key
        if key is not None:
            self.session = session.Session(self.platform.aes, key, host_nonce, lock_nonce)

    def end_session(self):
        self.session = None

    # -------------------------------------------------------------- events

    def emit(self, kind, at_us, slot=None, reason=None):
        flags = (1 if slot is not None else 0) | (2 if reason is not None else 0)
        body = bytearray([flags])
        body.extend(wire.i64(at_us))
        if slot is not None:
            body.extend(wire.varint(slot))
        if reason is not None:
            body.extend(wire.str8(reason))
        if len(self.events) >= EVENT_QUEUE:
            self.events.pop(0)
        self.events.append([kind, bytes(body), 0, None, 0])

    def _ack(self, frame):
        if len(frame.body) != 2 or not self.events:
            return
        counter = (frame.body[0] << 8) | frame.body[1]
        sent = self.events[0][2]
        if sent and (counter == sent or (self.session is None and counter == sent & 0xFF)):
            self.events.pop(0)

    def _held(self):
        """Events wait while the lock is paired and no host has opened a session."""
        return self.app.pairing_key is not None and self.session is None

    def poll(self):
        """The event frame due now, if any (bytes; empty when nothing is due)."""
        while self.events and not self._held():
            pending = self.events[0]
            now = self.platform.ticks_ms()
            if (
                pending[3] is not None
                and self.platform.ticks_diff(now, pending[3]) < EVENT_RETRY_MS
            ):
                return b""
            if pending[4] >= EVENT_TRIES:
                self.events.pop(0)  # nobody acknowledges it: go on to the next
                continue
            if pending[2] == 0:
                if self.event_counter >= session.COUNTER_MAX:
                    return b""
                self.event_counter += 1
                pending[2] = self.event_counter
            pending[3] = now
            pending[4] += 1
            ctl = frames.FROM_LOCK | frames.EVENT | pending[0]
            counter = pending[2]
            if self.session is None:
                return frames.encode(frames.header(ctl, counter, False), pending[1])
            head = frames.header(ctl, counter, True)
            return frames.encode(head, self.session.seal(session.EVENT, head, counter, pending[1]))
        return b""

    def next_event_ms(self):
        """Milliseconds until `poll` may send something (None: nothing is waiting)."""
        if not self.events or self._held():
            return None
        sent = self.events[0][3]
        if sent is None:
            return 0
        waited = self.platform.ticks_diff(self.platform.ticks_ms(), sent)
        return max(0, EVENT_RETRY_MS - waited)

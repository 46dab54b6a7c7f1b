"""The firmware core: the slot table, the keypad, pairing and the serial link in one object.

A board's main loop feeds it UART bytes (`receive`), key presses (`key`) and button
presses (`start_pairing`, `start_manager`), calls `poll` often for due events, and pulses
the relay when a `Result` says unlocked. It does no I/O of its own besides its flash files.
"""

from keyslot_fw import consts, model, wire
from keyslot_fw.keypad import Entry, Lockout
from keyslot_fw.proto import Link, nak
from keyslot_fw.session import pair
from keyslot_fw.slots import Refused, SlotTable
from keyslot_fw.storage import Damaged, Flash

KEY_FILE = "pairing.bin"
PAGE_BYTES = 200  # a READ_SLOTS page stops growing past this many body bytes
MANAGER_WINDOW_MS = 30000
_REFUSALS = {consts.DUPLICATE_CODE: "duplicate_code", consts.SLOT_NOT_FOUND: "slot_not_found"}


class Result:
    """What the keypad did with one entry. `reason` says why not, or what a manager did."""

    def __init__(self, unlocked, slot=None, reason=None):
        self.unlocked = unlocked
        self.slot = slot
        self.reason = reason

    def __repr__(self):
        return f"Result(unlocked={self.unlocked}, slot={self.slot}, reason={self.reason})"


class Lock:
    """One keypad lock. `directory` is where its flash files live."""

    def __init__(self, platform, directory, lock_id, pairing=False, on_paired=None):
        self.platform = platform
        self.lock_id = lock_id
        self.on_paired = on_paired
        self.flash = Flash(directory, platform.aes, platform.random_bytes)
        self.table = SlotTable(self.flash)
        self.pairing_key = self._load_key()
        self.pairing_until = None
        self.pairing_always = bool(pairing)
        self.manager_until = None
        self.clock_offset_us = 0  # RAM only: a Pico's clock does not survive a power cut
        self.confirmation = None
        self.lockout = Lockout(platform, model.LOCKOUT_ATTEMPTS, model.LOCKOUT_SECONDS)
        self.entry = Entry(platform, model.ENTRY_MAX, model.ENTRY_TIMEOUT_MS)
        self.link = Link(self, platform)
        self._info = model.info_body(lock_id)
        self.emit(consts.EV_REBOOTED)
        if self.table.damaged:
            self.emit(consts.EV_ALL_CODES_DELETED)

    def _load_key(self):
        try:
            key = self.flash.load(KEY_FILE)
        except Damaged:
            self.flash.set_aside(KEY_FILE)
            return None
        return key if key is not None and len(key) == 32 else None

    # ------------------------------------------------------------------ the board

    def receive(self, data):
        return self.link.receive(data)

    def poll(self):
        return self.link.poll()

    def next_event_ms(self):
        return self.link.next_event_ms()

    def now_us(self):
        """The lock's time of day: the board clock plus what SET_CLOCK corrected."""
        return self.platform.wall_us() + self.clock_offset_us

    def emit(self, kind, slot=None, reason=None):
        self.link.emit(kind, self.now_us(), slot, reason)

    def _window_open(self, until):
        if until is None:
            return False
        return self.platform.ticks_diff(until, self.platform.ticks_ms()) > 0

    @property
    def pairing_mode(self):
        return self.pairing_always or self._window_open(self.pairing_until)

    def start_pairing(self, window_ms=120000):
        """The pairing button: the next PAIR within `window_ms` replaces the host's key."""
        self.pairing_until = self.platform.ticks_add(self.platform.ticks_ms(), window_ms)

    def start_manager(self, window_ms=MANAGER_WINDOW_MS):
        """The manager button: the next keypad entry programs a slot (see `key`)."""
        self.manager_until = self.platform.ticks_add(self.platform.ticks_ms(), window_ms)
        self.entry.keys = ""

    # ------------------------------------------------------------------ the keypad

    def key(self, key):
        """One key press; a Result when it ended an entry (`#`), else None.

        In manager mode `SLOT A CODE #` programs a slot and `SLOT A #` empties it.
        """
        typed = self.entry.press(key)
        if not typed:
            return None
        if self._window_open(self.manager_until):
            self.manager_until = None
            return self._manager_entry(typed)
        return self.enter(typed)

    def _manager_entry(self, typed):
        slot_text, sep, code = typed.partition("A")
        if not sep or not slot_text or not all(c in "0123456789" for c in slot_text):
            return Result(False, None, "bad_manager_entry")
        index = int(slot_text)
        try:
            if code:
                self.manager_set(index, code)
                return Result(False, index, "code_set")
            self.manager_delete(index)
        except Refused as exc:
            return Result(False, index, exc.reason or _REFUSALS.get(exc.status, "refused"))
        return Result(False, index, "code_deleted")

    def enter(self, code):
        """Someone typed `code` and `#`: unlock, or deny (and count it towards a lockout)."""
        if self.lockout.blocked():
            return self._deny(consts.TOO_MANY_ATTEMPTS)
        index = self.table.find(code)
        if index is None:
            result = self._deny(consts.UNKNOWN_CODE)
            if self.lockout.failure():
                self.emit(consts.EV_LOCKOUT)
            return result
        self.lockout.success()
        self.emit(consts.EV_KEYPAD_UNLOCK, slot=index)
        if self.table.get(index).one_time:
            self.table.clear(index)
            self.emit(consts.EV_ONE_TIME_CODE_USED, slot=index)
        return Result(True, index)

    def _deny(self, reason):
        self.emit(consts.EV_ACCESS_DENIED, reason=reason)
        return Result(False, None, reason)

    def manager_set(self, index, code, name=None):
        """A manager programs a slot at the lock (the host hears CODE_ADDED/CODE_CHANGED)."""
        existing = self.table.get(index) if model.in_range(index) else None
        if name is None and existing is not None:
            name = existing.name
        stored = self.table.prepare(index, code, name)
        if self.table.put(index, stored):
            kind = consts.EV_CODE_CHANGED if existing is not None else consts.EV_CODE_ADDED
            self.emit(kind, slot=index)

    def manager_delete(self, index):
        if self.table.clear(index):
            self.emit(consts.EV_CODE_DELETED, slot=index)

    # ------------------------------------------------------------------ plain requests

    def plain(self, mtype, body, link):
        """HELLO, INFO and PAIR: (status, reply body)."""
        reader = wire.Reader(body)
        if mtype == consts.HELLO:
            version = reader.u8()
            host_nonce = reader.raw(8)
            reader.end()
            if version != consts.PROTOCOL_VERSION:
                return consts.BAD_REQUEST, nak(f"protocol version {version}")
            lock_nonce = self.platform.random_bytes(8)
            link.start_session(host_nonce, lock_nonce)
            flags = (1 if self.pairing_key is not None else 0) | (2 if self.pairing_mode else 0)
            reply = bytes([consts.PROTOCOL_VERSION, flags]) + lock_nonce
            return consts.OK, reply + wire.str8(self.lock_id)
        if mtype == consts.INFO:
            reader.end()
            return consts.OK, self._info
        host_public = reader.raw(32)
        reader.end()
        if not self.pairing_mode:
            return consts.NOT_PAIRING, b""
        paired = pair(host_public, self.lock_id, self.platform.random_bytes)
        if paired is None:
            return consts.BAD_REQUEST, nak("unusable pairing key")
        lock_public, key, confirmation = paired
        self.flash.save(KEY_FILE, key)
        self.pairing_key = key
        self.pairing_always = False
        self.pairing_until = None
        self.confirmation = confirmation
        link.end_session()
        if self.on_paired is not None:
            self.on_paired(confirmation)
        return consts.OK, lock_public

    # ------------------------------------------------------------------ sealed requests

    def sealed(self, mtype, body):
        """The operations of an authenticated session: (status, reply body)."""
        try:
            return self._apply(mtype, wire.Reader(body))
        except Refused as exc:
            return exc.status, nak(exc.message, exc.slot, exc.existing, exc.reason)

    def _apply(self, mtype, reader):
        if mtype == consts.READ_SLOTS:
            start = reader.varint()
            count = reader.u8()
            reader.end()
            return consts.OK, self._page(start, count)
        if mtype == consts.CHECKSUM:
            reader.end()
            return consts.OK, wire.u16(self.table.checksum())
        if mtype == consts.WRITE_SLOT:
            return self._write(reader)
        if mtype == consts.CLEAR_SLOT:
            index = reader.varint()
            reader.end()
            self.table.clear(index)
            return consts.OK, b""
        when = reader.i64()
        reader.end()
        self.clock_offset_us = when - self.platform.wall_us()
        return consts.OK, b""

    def _write(self, reader):
        index = reader.varint()
        flags = reader.u8()
        if flags & 0xF8:
            raise wire.BadRequest("bad write flags")
        code = reader.code()
        name = reader.optstr()
        if flags & 4:
            reader.i64()
            reader.i64()
        reader.end()
        enabled = bool(flags & 1)
        one_time = bool(flags & 2)
        stored = self.table.prepare(
            index, code, name, enabled=enabled, one_time=one_time, schedule=bool(flags & 4)
        )
        changed = self.table.put(index, stored)
        status = consts.OK if changed else consts.UNCHANGED
        if stored.name == name:
            return status, b""  # the slot holds exactly what was sent
        return status, self._record(index, not changed)

    def _record(self, index, unchanged=False):
        stored = self.table.get(index)
        flags = (1 if stored.enabled else 2) | 0x10
        flags |= 0x08 if stored.one_time else 0
        flags |= 0x40 if unchanged else 0
        out = bytearray(wire.varint(index))
        out.append(flags)
        out.extend(wire.code(stored.code))
        out.extend(wire.optstr(stored.name))
        out.extend(b"\xff\xff")  # no first and last name: this lock keeps one name
        return bytes(out)

    def _page(self, start, count):
        """The occupied slots of [start, next), under PAGE_BYTES; then `next`, n, records."""
        end = min(start + count, model.LAST_SLOT + 1)
        index = max(start, model.FIRST_SLOT)
        records = []
        size = 0
        while index < end:
            if self.table.get(index) is not None:
                record = self._record(index)
                if records and size + len(record) > PAGE_BYTES:
                    break
                records.append(record)
                size += len(record)
            index += 1
        out = bytearray(wire.varint(max(index, start)))
        out.append(len(records))
        for record in records:
            out.extend(record)
        return bytes(out)

"""The slot table: what each slot holds, the model's rules for a write, and its flash file.

A write is judged as the lock would: slot number, schedule and one-time support, duplicate
codes, the code rules, then the name is fitted. The table is saved (sealed) after every
change; `Refused` carries the status and details of a refusal for the protocol's NAK.
"""

from keyslot_fw import consts, model, wire
from keyslot_fw.crc import crc16
from keyslot_fw.storage import Damaged

FILE = "slots.bin"
_FORMAT = 1


class Refused(Exception):
    """A write or clear the lock refuses; the message never contains a code."""

    def __init__(self, status, message, slot=None, existing=None, reason=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.slot = slot
        self.existing = existing
        self.reason = reason


class Stored:
    """One occupied slot."""

    def __init__(self, code, name=None, enabled=True, one_time=False):
        self.code = code
        self.name = name
        self.enabled = enabled
        self.one_time = one_time

    def __eq__(self, other):
        return (
            isinstance(other, Stored)
            and self.code == other.code
            and self.name == other.name
            and self.enabled == other.enabled
            and self.one_time == other.one_time
        )

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None  # mutable: compared, never hashed

    def __repr__(self):
        return f"Stored(code=<hidden>, name={self.name})"


class SlotTable:
    """The slots of the lock, kept in `flash` (a storage.Flash)."""

    def __init__(self, flash):
        self.flash = flash
        self.slots = {}
        self.damaged = False
        try:
            data = flash.load(FILE)
            if data is not None:
                self.slots = _decode(data)
        except (Damaged, wire.BadRequest):
            flash.set_aside(FILE)
            self.damaged = True  # start empty; the lock reports all codes deleted

    def get(self, index):
        return self.slots.get(index)

    def indexes(self):
        return sorted(self.slots)

    def find(self, code):
        """The enabled slot that holds `code`, or None."""
        for index in self.indexes():
            stored = self.slots[index]
            if stored.enabled and stored.code == code:
                return index
        return None

    def _check_index(self, index):
        if not model.in_range(index):
            raise Refused(
                consts.SLOT_NOT_FOUND,
                f"slot {index} does not exist; this lock has slots "
                f"{model.FIRST_SLOT}..{model.LAST_SLOT}",
                slot=index,
            )

    def prepare(self, index, code, name, *, enabled=True, one_time=False, schedule=False):
        """What slot `index` would hold after this write, or Refused."""
        self._check_index(index)
        if schedule:
            raise Refused(
                consts.NOT_SUPPORTED,
                "this lock has no clock it can trust after a power cut, so no schedules",
            )
        for other in self.indexes():
            if other != index and self.slots[other].code == code:
                raise Refused(
                    consts.DUPLICATE_CODE,
                    f"slot {other} already holds this code",
                    slot=index,
                    existing=other,
                )
        problem = model.code_problem(code)
        if problem is not None:
            raise Refused(consts.CODE_REJECTED, problem[1], slot=index, reason=problem[0])
        return Stored(code, model.fit_name(name), enabled, one_time)

    def put(self, index, stored):
        """Store a prepared entry; False when the slot already held exactly this."""
        if self.slots.get(index) == stored:
            return False
        slots = dict(self.slots)
        slots[index] = stored
        self._commit(slots)
        return True

    def clear(self, index):
        """Empty a slot; False when it was empty already."""
        self._check_index(index)
        if index not in self.slots:
            return False
        slots = dict(self.slots)
        del slots[index]
        self._commit(slots)
        return True

    def _commit(self, slots):
        # flash first: if the write fails, RAM still agrees with what a reboot will load
        self.flash.save(FILE, _encode(slots))
        self.slots = slots

    def checksum(self):
        """Z-Wave User Code CC v2: CRC-16 (init 0x1D0F) over each occupied slot ascending
        as slot u16, status (1 enabled, 2 disabled), code ASCII; 0 for an empty table."""
        if not self.slots:
            return 0
        data = bytearray()
        for index in self.indexes():
            stored = self.slots[index]
            data.extend(wire.u16(index))
            data.append(1 if stored.enabled else 2)
            data.extend(stored.code.encode())
        return crc16(data, 0x1D0F)


def _encode(slots):
    out = bytearray([_FORMAT, len(slots)])
    for index in sorted(slots):
        stored = slots[index]
        out.append(index)
        out.append((1 if stored.enabled else 0) | (2 if stored.one_time else 0))
        out.extend(wire.code(stored.code))
        out.extend(wire.optstr(stored.name))
    return bytes(out)


def _decode(data):
    reader = wire.Reader(data)
    if reader.u8() != _FORMAT:
        raise Damaged(FILE)
    slots = {}
    for _ in range(reader.u8()):
        index = reader.u8()
        if not model.in_range(index):
            raise Damaged(FILE)
        flags = reader.u8()
        code = reader.code()
        name = reader.optstr()
        slots[index] = Stored(code, name, bool(flags & 1), bool(flags & 2))
    reader.end()
    return slots

"""The one lock model this firmware implements, its code and name rules, and its LockInfo.

20 slots numbered from 1; codes of 4 to 8 digits that are not all one digit and not a
straight run (1234, 8765); names of up to 12 characters, cut when longer; codes read back
over the sealed link; one-time codes; a table checksum. No native schedules: a Pico has no
battery-backed clock, so it cannot tell the time after a power cut.
"""

import binascii
import hashlib

from keyslot_fw import VERSION, wire

MODEL = "Reference keypad"
VENDOR = "keyslot"
SLOT_COUNT = 20
FIRST_SLOT = 1
CODE_LENGTHS = (4, 5, 6, 7, 8)
ALPHABET = "0123456789"
CONSTRAINTS = ("no_all_same_digits", "no_ascending_or_descending_sequence")
NAME_MAX = 12  # characters; longer names are cut
NAME_MIN = 1
LOCKOUT_ATTEMPTS = 5  # wrong codes in a row ...
LOCKOUT_SECONDS = 60  # ... disable the keypad this long
ENTRY_MAX = 16  # keys an entry buffer holds before it is discarded
ENTRY_TIMEOUT_MS = 10000  # a half-typed code is forgotten after this long

LAST_SLOT = FIRST_SLOT + SLOT_COUNT - 1


def serial_number(lock_id):
    digest = hashlib.sha256(("reference:" + lock_id).encode()).digest()
    return "KSR" + binascii.hexlify(digest[:4]).decode().upper()


def in_range(index):
    return FIRST_SLOT <= index <= LAST_SLOT


def code_problem(code):
    """(constraint, message) for a code this lock refuses, else None. Messages hold no code."""
    if len(code) not in CODE_LENGTHS:
        return "code_length", f"a code of {len(code)} characters; this lock takes 4 to 8 digits"
    for ch in code:
        if ch not in ALPHABET:
            return "alphabet", "the code has characters this keypad does not have"
    digits = [int(ch) for ch in code]
    if min(digits) == max(digits):
        return "no_all_same_digits", "the code is one digit repeated"
    steps = [digits[i + 1] - digits[i] for i in range(len(digits) - 1)]
    if min(steps) == max(steps) and steps[0] in (1, -1):
        return "no_ascending_or_descending_sequence", "the code is a straight run of digits"
    return None


def fit_name(name):
    """The name as this lock stores it (None: no name): trimmed, cut to NAME_MAX characters."""
    if name is None:
        return None
    name = name.strip()[:NAME_MAX].strip()
    return name or None


def info_body(lock_id):
    """The INFO reply: LockInfo as section 3 of the protocol lays it out."""
    out = bytearray()
    out.extend(wire.str8(MODEL))
    out.extend(wire.str8(VENDOR))
    out.extend(wire.u16(SLOT_COUNT))
    out.extend(wire.u16(FIRST_SLOT))
    out.append(len(CODE_LENGTHS))
    out.extend(bytes(CODE_LENGTHS))
    out.extend(wire.str8(ALPHABET))
    out.append(len(CONSTRAINTS))
    for constraint in CONSTRAINTS:
        out.extend(wire.str8(constraint))
    # codes readable (bit1), one-time codes (bit3), checksum (bit4), name rules follow (bit5)
    out.append(0x02 | 0x08 | 0x10 | 0x20)
    out.extend(wire.str8(VERSION))
    out.extend(wire.str8(serial_number(lock_id)))
    out.extend(wire.u16(NAME_MAX))
    out.extend(wire.u16(NAME_MIN))
    out.append(0)  # counted in characters
    out.extend(wire.str8("utf-8"))
    out.append(0x04)  # names are cut, not refused
    return bytes(out)

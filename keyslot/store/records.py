"""What the store keeps beside Seam's objects: slot assignment, desired state, request options.

Seam's `access_code` says what the owner sees; a `CodeRecord` adds what the reconciler needs
to get it there (which slot holds it, whether it should exist at all, how to schedule it)
and a `revision` that lets a writer refuse to overwrite a newer request.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyslot.backup_codes import pool_size
from keyslot.model.access_code import AccessCode, UnmanagedAccessCode
from keyslot.model.device import Device, DeviceError, DeviceWarning
from keyslot.protocol.slots import LockInfo, Schedule, SlotStatus

__all__ = [
    "ApiKey",
    "CodeOptions",
    "CodeRecord",
    "Desired",
    "DeviceRecord",
    "ObservedSlot",
    "ObservedTable",
    "UnmanagedRecord",
    "Webhook",
]


class Desired(enum.StrEnum):
    """Whether the owner wants the code on the lock at all."""

    PRESENT = "present"  # keep it on the lock (within its time frame)
    ABSENT = "absent"  # deleted: clear its slot, then drop the row


@dataclass(frozen=True, slots=True)
class CodeOptions:
    """Request-only parameters of Seam's create/update that shape how a code is programmed."""

    prefer_native_scheduling: bool = True
    attempt_for_offline_device: bool = True
    max_time_rounding: str | None = None  # "1hour" | "1day" (normalised from 1h/1d)
    preferred_code_length: int | None = None
    use_backup_access_code_pool: bool = False
    user_identifier_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefer_native_scheduling": self.prefer_native_scheduling,
            "attempt_for_offline_device": self.attempt_for_offline_device,
            "max_time_rounding": self.max_time_rounding,
            "preferred_code_length": self.preferred_code_length,
            "use_backup_access_code_pool": self.use_backup_access_code_pool,
            "user_identifier_key": self.user_identifier_key,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeOptions:
        length = data.get("preferred_code_length")
        return cls(
            prefer_native_scheduling=bool(data.get("prefer_native_scheduling", True)),
            attempt_for_offline_device=bool(data.get("attempt_for_offline_device", True)),
            max_time_rounding=data.get("max_time_rounding"),
            preferred_code_length=None if length is None else int(length),
            use_backup_access_code_pool=bool(data.get("use_backup_access_code_pool", False)),
            user_identifier_key=data.get("user_identifier_key"),
        )


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """One managed access code as stored: Seam's object plus what programming it needs.

    `slot` is the lock slot that holds (or is reserved for) the code; None until allocated.
    `slot_state` is the reconciler's own JSON record of that slot (opaque to the store).
    A code with neither was never sent to its lock, so deleting it needs no lock work: the
    reconciler must commit `slot`/`slot_state` *before* it writes to the lock.
    `revision` grows by one on every write; pass it back as `expected_revision` to refuse
    overwriting a change made since it was read.
    Records read from the store are shared (the store caches them): change one with
    `dataclasses.replace`, never `slot_state` in place.
    """

    access_code: AccessCode
    slot: int | None = None
    slot_state: Mapping[str, Any] | None = None
    desired: Desired = Desired.PRESENT
    options: CodeOptions = field(default_factory=CodeOptions)
    revision: int = 0
    updated_at: datetime | None = None

    @property
    def access_code_id(self) -> str:
        return self.access_code.access_code_id

    @property
    def device_id(self) -> str:
        return self.access_code.device_id

    @property
    def ever_sent(self) -> bool:
        """Whether the code may be on its lock (a slot was reserved for it)."""
        return self.slot is not None or self.slot_state is not None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A lock the gateway drives: how to reach it, what it can do, and how it is doing.

    `lock_info` is None until the lock has been reached once. `lock_url` may carry a
    password (kept sealed); show `redacted_url` instead.
    """

    device_id: str
    lock_url: str = field(repr=False)
    name: str
    transport: str
    created_at: datetime
    redacted_url: str = ""
    lock_info: LockInfo | None = None
    online: bool = False
    suspended_until: datetime | None = None
    suspended_reason: str | None = None
    errors: tuple[DeviceError, ...] = ()
    warnings: tuple[DeviceWarning, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    def device(self, workspace_id: str) -> Device:
        """Seam's `device` object for this lock."""
        info = self.lock_info or LockInfo(model="", vendor="", slot_count=0)
        return Device.from_lock_info(
            self.device_id,
            info,
            workspace_id=workspace_id,
            created_at=self.created_at,
            name=self.name,
            online=self.online,
            errors=self.errors,
            warnings=self.warnings,
            backup_access_code_pool_enabled=pool_size(self.settings) > 0,
        )


@dataclass(frozen=True, slots=True)
class ObservedSlot:
    """A slot as last read from the lock. The PIN is kept only as a keyed fingerprint."""

    index: int
    status: SlotStatus
    code_fingerprint: str | None = None  # Store.fingerprint(code); None if empty or masked
    code_masked: bool = False
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    schedule: Schedule | None = None
    one_time: bool = False

    @property
    def occupied(self) -> bool:
        return self.status is not SlotStatus.EMPTY


@dataclass(frozen=True, slots=True)
class ObservedTable:
    """The last full read of a lock's slot table."""

    device_id: str
    read_at: datetime
    slots: tuple[ObservedSlot, ...]
    checksum: int | None = None

    def slot(self, index: int) -> ObservedSlot | None:
        for observed in self.slots:
            if observed.index == index:
                return observed
        return None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listed: never the key itself, only a display prefix."""

    api_key_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where events are posted; `secret` signs each delivery (kept sealed in the store)."""

    webhook_id: str
    url: str
    event_types: tuple[str, ...]
    secret: str = field(repr=False)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UnmanagedRecord:
    """A code found on a lock that keyslot did not put there, with the slot it sits in.

    `desired` ABSENT: its owner asked to delete it; the reconciler clears the slot, then
    drops the row.
    """

    access_code: UnmanagedAccessCode
    slot: int | None = None
    desired: Desired = Desired.PRESENT

    @property
    def access_code_id(self) -> str:
        return self.access_code.access_code_id

    @property
    def device_id(self) -> str:
        return self.access_code.device_id

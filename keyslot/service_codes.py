"""Creating managed access codes, on one device or sharing one PIN across several.

Every accepted change is one store transaction (the code with its status and pending
mutations, an event, an action attempt), committed before the call returns; only then is
the reconciler woken for the device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from keyslot.model import (
    AccessCode,
    ActionAttempt,
    ActionType,
    Conflict,
    EventType,
    InvalidInput,
    SeamApiError,
    new_id,
)
from keyslot.service_backup import enable_pool
from keyslot.service_base import (
    DeviceRules,
    as_bool,
    as_int,
    as_str,
    as_str_list,
)
from keyslot.service_inuse import InUseOnAny
from keyslot.service_offline import OfflineCodes
from keyslot.service_rules import (
    check_name,
    check_new_code,
    code_param,
    external_flag,
    generate_for,
    initial_state,
    rounding,
    time_frame,
)
from keyslot.store import CodeOptions, CodeRecord, Desired, DeviceRecord

__all__ = ["CreateCodes"]


@dataclass(frozen=True, slots=True)
class _Request:
    """A create request with its types checked (not yet against a device)."""

    name: str | None
    code: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    allow_external: bool
    offline: bool
    one_time: bool
    options: CodeOptions


class CreateCodes(OfflineCodes):
    """Creating managed access codes (offline ones: see `OfflineCodes`)."""

    # -- create -------------------------------------------------------------------------

    def create_access_code(
        self,
        *,
        device_id: str,
        name: str | None = None,
        code: str | None = None,
        starts_at: str | datetime | None = None,
        ends_at: str | datetime | None = None,
        common_code_key: str | None = None,
        is_external_modification_allowed: bool | None = None,
        allow_external_modification: bool | None = None,
        is_offline_access_code: bool | None = None,
        use_offline_access_code: bool | None = None,
        is_one_time_use: bool | None = None,
        max_time_rounding: str | None = None,
        prefer_native_scheduling: bool | None = None,
        preferred_code_length: int | None = None,
        use_backup_access_code_pool: bool | None = None,
        attempt_for_offline_device: bool | None = None,
        user_identifier_key: str | None = None,
        sync: bool | None = None,
    ) -> tuple[AccessCode, ActionAttempt]:
        """Seam's `/access_codes/create`: the new code and the attempt that tracks it."""
        as_bool(sync, "sync", False)
        request = self._parse_request(
            name=name,
            code=code,
            starts_at=starts_at,
            ends_at=ends_at,
            is_external_modification_allowed=is_external_modification_allowed,
            allow_external_modification=allow_external_modification,
            is_offline_access_code=is_offline_access_code,
            use_offline_access_code=use_offline_access_code,
            is_one_time_use=is_one_time_use,
            max_time_rounding=max_time_rounding,
            prefer_native_scheduling=prefer_native_scheduling,
            preferred_code_length=preferred_code_length,
            use_backup_access_code_pool=use_backup_access_code_pool,
            attempt_for_offline_device=attempt_for_offline_device,
            user_identifier_key=user_identifier_key,
        )
        key = as_str(common_code_key, "common_code_key")
        if key == "":
            raise InvalidInput.for_field("common_code_key", "must not be empty")
        if key is not None and request.offline:
            raise InvalidInput.for_field(
                "common_code_key", "an offline access code cannot share its code"
            )
        with self.store.transaction():
            device = self.device_record(device_id)
            pin = request.code
            if key is not None:
                pin = self._shared_code(key, pin)
            record, attempt = self._insert(device, request, pin, key)
        return record.access_code, attempt

    def create_multiple_access_codes(
        self,
        *,
        device_ids: list[str],
        behavior_when_code_cannot_be_shared: str | None = None,
        name: str | None = None,
        code: str | None = None,
        starts_at: str | datetime | None = None,
        ends_at: str | datetime | None = None,
        is_external_modification_allowed: bool | None = None,
        allow_external_modification: bool | None = None,
        max_time_rounding: str | None = None,
        prefer_native_scheduling: bool | None = None,
        preferred_code_length: int | None = None,
        use_backup_access_code_pool: bool | None = None,
        attempt_for_offline_device: bool | None = None,
    ) -> list[AccessCode]:
        """Seam's `/access_codes/create_multiple`: one code per device, all with the same PIN
        and a fresh `common_code_key`. A device that cannot take the shared PIN fails the
        whole call (`throw`) or gets a random PIN of its own (`create_random_code`)."""
        ids = list(dict.fromkeys(as_str_list(device_ids, "device_ids") or []))
        if not ids:
            raise InvalidInput.for_field("device_ids", "must name at least one device")
        behavior = as_str(
            behavior_when_code_cannot_be_shared, "behavior_when_code_cannot_be_shared"
        )
        if behavior not in (None, "throw", "create_random_code"):
            raise InvalidInput.for_field(
                "behavior_when_code_cannot_be_shared", "must be throw or create_random_code"
            )
        request = self._parse_request(
            name=name,
            code=code,
            starts_at=starts_at,
            ends_at=ends_at,
            is_external_modification_allowed=is_external_modification_allowed,
            allow_external_modification=allow_external_modification,
            is_offline_access_code=None,
            use_offline_access_code=None,
            is_one_time_use=None,
            max_time_rounding=max_time_rounding,
            prefer_native_scheduling=prefer_native_scheduling,
            preferred_code_length=preferred_code_length,
            use_backup_access_code_pool=use_backup_access_code_pool,
            attempt_for_offline_device=attempt_for_offline_device,
            user_identifier_key=None,
        )
        created: list[AccessCode] = []
        with self.store.transaction():
            devices = [self.device_record(device_id) for device_id in ids]
            shared = request.code or self._common_pin(devices, request)
            key = new_id()
            for device in devices:
                pin = shared if shared is not None and self._fits(device, shared, request) else None
                if pin is None and behavior != "create_random_code":
                    if shared is not None:  # raise the device's own reason
                        self._insert(device, request, shared, key)
                    raise InvalidInput.for_field(
                        "device_ids", "no code suits every one of these devices"
                    )
                record, _ = self._insert(device, request, pin, None if pin is None else key)
                created.append(record.access_code)
        return created

    def _fits(self, device: DeviceRecord, code: str, request: _Request) -> bool:
        try:
            check_new_code(
                DeviceRules.of(device),
                code,
                self.codes_in_use(device.device_id),
                starts_at=request.starts_at,
                now=self.now(),
            )
        except SeamApiError:
            return False
        return True

    def _common_pin(self, devices: list[DeviceRecord], request: _Request) -> str | None:
        """A PIN every device takes and none holds yet, or None if there is none."""
        every = [DeviceRules.of(d) for d in devices]
        lengths = set(every[0].generation_lengths).intersection(
            *(r.generation_lengths for r in every[1:])
        )
        alphabet = "".join(
            ch for ch in every[0].alphabet if all(ch in r.alphabet for r in every[1:])
        )
        if not lengths or not alphabet:
            return None
        merged = replace(
            every[0],
            lengths=tuple(sorted(lengths)),
            constraints=tuple(dict.fromkeys(c for r in every for c in r.constraints)),
            alphabet=alphabet,
            known=True,
        )
        in_use = InUseOnAny(self.codes_in_use(d.device_id) for d in devices)
        try:
            return generate_for(merged, in_use, request.options.preferred_code_length)
        except Conflict:
            return None

    def _parse_request(
        self,
        *,
        name: object,
        code: object,
        starts_at: object,
        ends_at: object,
        is_external_modification_allowed: object,
        allow_external_modification: object,
        is_offline_access_code: object,
        use_offline_access_code: object,
        is_one_time_use: object,
        max_time_rounding: object,
        prefer_native_scheduling: object,
        preferred_code_length: object,
        use_backup_access_code_pool: object,
        attempt_for_offline_device: object,
        user_identifier_key: object,
    ) -> _Request:
        start, end = time_frame(starts_at, ends_at, self.now())
        length = as_int(preferred_code_length, "preferred_code_length")
        if length is not None and not 1 <= length <= 20:
            raise InvalidInput.for_field("preferred_code_length", "must be between 1 and 20")
        offline = as_bool(is_offline_access_code, "is_offline_access_code", False) or as_bool(
            use_offline_access_code, "use_offline_access_code", False
        )
        return _Request(
            name=as_str(name, "name"),
            code=code_param(code),
            starts_at=start,
            ends_at=end,
            allow_external=bool(
                external_flag(is_external_modification_allowed, allow_external_modification)
            ),
            offline=offline,
            one_time=as_bool(is_one_time_use, "is_one_time_use", False),
            options=CodeOptions(
                prefer_native_scheduling=as_bool(
                    prefer_native_scheduling, "prefer_native_scheduling", True
                ),
                attempt_for_offline_device=as_bool(
                    attempt_for_offline_device, "attempt_for_offline_device", True
                ),
                max_time_rounding=rounding(max_time_rounding),
                preferred_code_length=length,
                use_backup_access_code_pool=as_bool(
                    use_backup_access_code_pool, "use_backup_access_code_pool", False
                ),
                user_identifier_key=as_str(user_identifier_key, "user_identifier_key"),
            ),
        )

    def _shared_code(self, key: str, code: str | None) -> str | None:
        """The PIN that codes with `common_code_key` share (a given one must equal it)."""
        for other in self.store.access_codes.with_common_key(key):
            if other.desired is not Desired.PRESENT or other.access_code.code is None:
                continue
            shared = other.access_code.code
            if code is not None and code != shared:
                raise InvalidInput.for_field(
                    "code", "must equal the code of the access codes with this common_code_key"
                )
            return shared
        return code

    def _check_device(self, device: DeviceRecord, request: _Request, rules: DeviceRules) -> None:
        if request.offline and not rules.offline_pins:
            raise InvalidInput.for_field(
                "is_offline_access_code", "offline codes are not supported by this device"
            )
        # One-time codes need no lock support: where the lock has none, keyslot clears the
        # slot as soon as the keypad reports the first use.
        if request.options.use_backup_access_code_pool and (
            request.offline or (device.lock_info is not None and not device.lock_info.slot_count)
        ):
            raise InvalidInput.for_field(
                "use_backup_access_code_pool",
                "offline access codes have no backup pool"
                if request.offline
                else "this device has no slots for a backup access code pool",
            )
        if (
            not request.options.attempt_for_offline_device
            and not device.online
            and not request.offline  # an offline code needs no device operation
        ):
            raise InvalidInput(
                "the device is offline and attempt_for_offline_device is false",
                type="device_offline",
            )

    def _insert(
        self,
        device: DeviceRecord,
        request: _Request,
        code: str | None,
        common_code_key: str | None,
    ) -> tuple[CodeRecord, ActionAttempt]:
        """Validate against the device and write the code, its event and its action attempt.

        Runs inside the caller's transaction, so the checks see what the write will see.
        """
        now = self.now()
        rules = DeviceRules.of(device)
        self._check_device(device, request, rules)
        if request.offline:  # no slot, so the lock's name rules do not apply
            return self.insert_offline_code(
                device,
                rules=rules,
                name=request.name,
                code=code,
                starts_at=request.starts_at,
                ends_at=request.ends_at,
                one_time=request.one_time,
                allow_external=request.allow_external,
                options=request.options,
            )
        check_name(rules, request.name, lambda: self.names_in_use(device.device_id))
        in_use = self.codes_in_use(device.device_id)
        if code is None:
            code = generate_for(rules, in_use, request.options.preferred_code_length)
        else:
            check_new_code(rules, code, in_use, starts_at=request.starts_at, now=now)
        native = (
            request.starts_at is not None
            and rules.native_schedules
            and request.options.prefer_native_scheduling
        )
        status, mutations = initial_state(now, request.starts_at, native, self.scheduling)
        access_code = AccessCode(
            access_code_id=new_id(),
            device_id=device.device_id,
            workspace_id=self.store.workspace_id,
            created_at=now,
            name=request.name,
            code=code,
            common_code_key=common_code_key,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            status=status,
            pending_mutations=mutations,
            is_external_modification_allowed=request.allow_external,
            is_offline_access_code=request.offline,
            is_one_time_use=request.one_time,
        )
        record = self.store.access_codes.put(
            CodeRecord(access_code, options=request.options), expected_revision=0
        )
        if request.options.use_backup_access_code_pool:
            enable_pool(self.store, device)
        self.event(
            EventType.ACCESS_CODE_CREATED,
            device_id=device.device_id,
            access_code_id=access_code.access_code_id,
        )
        attempt = self.store.action_attempts.put(
            ActionAttempt.pending(ActionType.CREATE_ACCESS_CODE),
            access_code_id=access_code.access_code_id,
        )
        self.wake_after_commit([device.device_id])
        return record, attempt

"""The PINs a device already holds, asked one at a time through the store's fingerprint
index, so checking a new code costs an index look-up instead of decrypting every code of
the device. The whole set is read only when a rule needs every code (a shared first four
digits) or a caller iterates.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from keyslot.store import Desired, Store

__all__ = ["CodesInUse", "InUseOnAny"]


class CodesInUse(Collection[str]):
    """Managed codes that stay on the device and unmanaged codes, but `excluding`."""

    def __init__(self, store: Store, device_id: str, *, excluding: str | None = None) -> None:
        self._store = store
        self._device_id = device_id
        self._excluding = excluding
        self._all: frozenset[str] | None = None

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        if self._all is not None:
            return code in self._all
        store = self._store
        for record in store.access_codes.with_fingerprint(self._device_id, store.fingerprint(code)):
            if (
                record.desired is Desired.PRESENT
                and record.access_code_id != self._excluding
                and record.access_code.code == code
            ):
                return True
        return any(
            u.desired is Desired.PRESENT
            and u.access_code_id != self._excluding
            and u.access_code.code == code
            for u in store.unmanaged.with_code(self._device_id, code)
        )

    def _every(self) -> frozenset[str]:
        if self._all is None:
            codes = {
                r.access_code.code
                for r in self._store.access_codes.for_device(self._device_id)
                if r.desired is Desired.PRESENT
                and r.access_code_id != self._excluding
                and r.access_code.code is not None
            }
            codes.update(
                u.access_code.code
                for u in self._store.unmanaged.for_device(self._device_id)
                if u.access_code.code is not None
                and u.desired is Desired.PRESENT
                and u.access_code_id != self._excluding
            )
            self._all = frozenset(codes)
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())


class InUseOnAny(Collection[str]):
    """The PINs in use on any of several devices (a code shared across them must be free on
    every one)."""

    def __init__(self, parts: Iterable[Collection[str]]) -> None:
        self._parts = list(parts)

    def __contains__(self, code: object) -> bool:
        return any(code in part for part in self._parts)

    def __iter__(self) -> Iterator[str]:
        return iter({code for part in self._parts for code in part})

    def __len__(self) -> int:
        return len({code for part in self._parts for code in part})

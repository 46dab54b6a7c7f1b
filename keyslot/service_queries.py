"""Reading managed access codes: get, list (paged, searchable), generate_code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from keyslot.model import (
    AccessCode,
    AccessCodeNotFound,
    InvalidInput,
    format_time,
)
from keyslot.service_base import (
    DeviceRules,
    ServiceBase,
    as_str,
    as_str_list,
    check_limit,
    pagination,
    unknown_keys,
)
from keyslot.service_rules import (
    generate_for,
)
from keyslot.store import Desired, jsoncodec
from keyslot.store.pagination import decode_cursor, encode_cursor

__all__ = ["ListParams", "QueryCodes"]


class ListParams(TypedDict, total=False):
    """The parameters of Seam's `/access_codes/list`."""

    device_id: str | None
    access_code_ids: list[str] | None
    user_identifier_key: str | None
    limit: int | None
    page_cursor: str | None
    search: str | None
    customer_key: str | None
    access_method_id: str | None
    access_grant_id: str | None
    access_grant_key: str | None


# Filters by things a gateway does not have: a list filtered by one is empty.
_NOTHING_MATCHES = ("access_method_id", "access_grant_id", "access_grant_key")


@dataclass(frozen=True, slots=True)
class _Page:
    """A checked list request that the store answers."""

    device_id: str | None
    access_code_ids: list[str] | None
    user_identifier_key: str | None
    cursor: str | None
    limit: int

    def filters(self) -> dict[str, Any]:
        """The keyword arguments of the store's `page` and `page_json`."""
        return {
            "device_id": self.device_id,
            "access_code_ids": self.access_code_ids,
            "user_identifier_key": self.user_identifier_key,
            "cursor": self.cursor,
            "limit": self.limit,
        }


@dataclass(frozen=True, slots=True)
class _Found:
    """A list answered without paging the store."""

    codes: list[AccessCode]
    pagination: dict[str, Any]


class QueryCodes(ServiceBase):
    """Reading managed access codes."""

    # -- read ---------------------------------------------------------------------------

    def get_access_code(
        self,
        *,
        access_code_id: str | None = None,
        device_id: str | None = None,
        code: str | None = None,
    ) -> AccessCode:
        """By `access_code_id`, or by `device_id` and `code`. Codes being deleted included."""
        if access_code_id is not None:
            record = self.store.access_codes.get(access_code_id)
            if record is None or (device_id is not None and record.device_id != device_id):
                raise AccessCodeNotFound(f"access code {access_code_id} not found")
            if code is not None and record.access_code.code != code:
                raise AccessCodeNotFound(f"access code {access_code_id} not found")
            return record.access_code
        if device_id is not None and code is not None:
            self.device_record(device_id)
            found = self.store.access_codes.with_code(device_id, code)
            if not found:
                raise AccessCodeNotFound("no access code with this code on the device")
            present = [r for r in found if r.desired is Desired.PRESENT]
            return (present or found)[0].access_code
        raise InvalidInput(
            "give access_code_id, or device_id and code",
            validation_errors={"access_code_id": ["is required unless device_id and code are"]},
        )

    def list_access_codes(
        self, **params: Unpack[ListParams]
    ) -> tuple[list[AccessCode], dict[str, Any]]:
        """Seam's `/access_codes/list`: a page in creation order and `pagination`.

        Access grants and methods do not exist on a gateway, so filtering by one finds
        nothing; `customer_key` is accepted and ignored (one gateway, one customer).
        """
        listing = self._listing(params)
        if isinstance(listing, _Found):
            return listing.codes, listing.pagination
        records, cursor = self.store.access_codes.page(**listing.filters())
        return [r.access_code for r in records], pagination(cursor)

    def list_access_codes_json(
        self, **params: Unpack[ListParams]
    ) -> tuple[list[bytes], dict[str, Any]]:
        """`list_access_codes` with each code as the UTF-8 JSON of its `to_dict()`, taken
        from the store's cache where the code did not change (for long lists over HTTP)."""
        listing = self._listing(params)
        if isinstance(listing, _Found):
            return [jsoncodec.dumps(c.to_dict()) for c in listing.codes], listing.pagination
        encoded, cursor = self.store.access_codes.page_json(**listing.filters())
        return encoded, pagination(cursor)

    def _listing(self, params: ListParams) -> _Page | _Found:
        """A list request checked: the page to read from the store, or the codes found
        already (a search, or a filter nothing can match)."""
        unknown_keys(params, ListParams.__annotations__)
        as_str(params.get("customer_key"), "customer_key")
        count = check_limit(params.get("limit"))
        ids = as_str_list(params.get("access_code_ids"), "access_code_ids")
        device_id = params.get("device_id")
        if device_id is not None:
            self.device_record(device_id)
        if any(params.get(k) is not None for k in _NOTHING_MATCHES):
            return _Found([], pagination(None))
        page = _Page(
            device_id, ids, params.get("user_identifier_key"), params.get("page_cursor"), count
        )
        search = params.get("search")
        if search is None:
            return page
        return self._search(page, search)

    def _search(self, page: _Page, search: str) -> _Found:
        """A partial match on name, code or id; filtered here (PINs are sealed in the file)."""
        needle = search.casefold()
        records, _ = self.store.access_codes.page(
            device_id=page.device_id,
            access_code_ids=page.access_code_ids,
            user_identifier_key=page.user_identifier_key,
        )
        matches = [
            r.access_code
            for r in records
            if needle in (r.access_code.name or "").casefold()
            or needle in (r.access_code.code or "")
            or needle in r.access_code_id
        ]
        start = 0
        if page.cursor is not None:
            after = decode_cursor(page.cursor)
            start = next(
                (i + 1 for i, c in enumerate(matches) if _position(c) == after), len(matches)
            )
        found = matches[start : start + page.limit]
        cursor = None
        if start + page.limit < len(matches):
            cursor = encode_cursor(*_position(found[-1]))
        return _Found(found, pagination(cursor))

    def generate_code(self, *, device_id: str) -> str:
        """Seam's `/access_codes/generate_code`: a PIN the device would take right now."""
        device = self.device_record(device_id)
        return generate_for(DeviceRules.of(device), self.codes_in_use(device.device_id), None)


def _position(code: AccessCode) -> tuple[str, str]:
    return format_time(code.created_at), code.access_code_id

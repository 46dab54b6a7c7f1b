"""Reading managed access codes: get, list (paged, searchable), generate_code."""

from __future__ import annotations

from typing import Any

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
)
from keyslot.service_rules import (
    generate_for,
)
from keyslot.store import Desired, jsoncodec
from keyslot.store.pagination import decode_cursor, encode_cursor

__all__ = ["QueryCodes"]


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
        self,
        *,
        device_id: str | None = None,
        access_code_ids: list[str] | None = None,
        user_identifier_key: str | None = None,
        limit: int | None = None,
        page_cursor: str | None = None,
        search: str | None = None,
        customer_key: str | None = None,
        access_method_id: str | None = None,
        access_grant_id: str | None = None,
        access_grant_key: str | None = None,
    ) -> tuple[list[AccessCode], dict[str, Any]]:
        """Seam's `/access_codes/list`: a page in creation order and `pagination`.

        Access grants and methods do not exist on a gateway, so filtering by one finds
        nothing; `customer_key` is accepted and ignored (one gateway, one customer).
        """
        query = self._list_query(
            device_id=device_id,
            access_code_ids=access_code_ids,
            customer_key=customer_key,
            access_method_id=access_method_id,
            access_grant_id=access_grant_id,
            access_grant_key=access_grant_key,
            limit=limit,
        )
        if query is None:
            return [], pagination(None)
        ids, count = query
        if search is not None:
            return self._search(
                device_id=device_id,
                ids=ids,
                user_identifier_key=user_identifier_key,
                search=search,
                page_cursor=page_cursor,
                count=count,
            )
        records, cursor = self.store.access_codes.page(
            device_id=device_id,
            access_code_ids=ids,
            user_identifier_key=user_identifier_key,
            cursor=page_cursor,
            limit=count,
        )
        return [r.access_code for r in records], pagination(cursor)

    def list_access_codes_json(
        self,
        *,
        device_id: str | None = None,
        access_code_ids: list[str] | None = None,
        user_identifier_key: str | None = None,
        limit: int | None = None,
        page_cursor: str | None = None,
        search: str | None = None,
        customer_key: str | None = None,
        access_method_id: str | None = None,
        access_grant_id: str | None = None,
        access_grant_key: str | None = None,
    ) -> tuple[list[bytes], dict[str, Any]]:
        """`list_access_codes` with each code as the UTF-8 JSON of its `to_dict()`, taken
        from the store's cache where the code did not change (for long lists over HTTP)."""
        query = self._list_query(
            device_id=device_id,
            access_code_ids=access_code_ids,
            customer_key=customer_key,
            access_method_id=access_method_id,
            access_grant_id=access_grant_id,
            access_grant_key=access_grant_key,
            limit=limit,
        )
        if query is None:
            return [], pagination(None)
        ids, count = query
        if search is not None:
            codes, page = self._search(
                device_id=device_id,
                ids=ids,
                user_identifier_key=user_identifier_key,
                search=search,
                page_cursor=page_cursor,
                count=count,
            )
            return [jsoncodec.dumps(c.to_dict()) for c in codes], page
        encoded, cursor = self.store.access_codes.page_json(
            device_id=device_id,
            access_code_ids=ids,
            user_identifier_key=user_identifier_key,
            cursor=page_cursor,
            limit=count,
        )
        return encoded, pagination(cursor)

    def _list_query(
        self,
        *,
        device_id: str | None,
        access_code_ids: object,
        customer_key: object,
        access_method_id: object,
        access_grant_id: object,
        access_grant_key: object,
        limit: object,
    ) -> tuple[list[str] | None, int] | None:
        """The checked ids filter and page size of a list; None when nothing can match."""
        as_str(customer_key, "customer_key")
        count = check_limit(limit)
        ids = as_str_list(access_code_ids, "access_code_ids")
        if device_id is not None:
            self.device_record(device_id)
        if any(v is not None for v in (access_method_id, access_grant_id, access_grant_key)):
            return None
        return ids, count

    def _search(
        self,
        *,
        device_id: str | None,
        ids: list[str] | None,
        user_identifier_key: str | None,
        search: str,
        page_cursor: str | None,
        count: int,
    ) -> tuple[list[AccessCode], dict[str, Any]]:
        """A partial match on name, code or id; filtered here (PINs are sealed in the file)."""
        needle = search.casefold()
        records, _ = self.store.access_codes.page(
            device_id=device_id, access_code_ids=ids, user_identifier_key=user_identifier_key
        )
        matches = [
            r.access_code
            for r in records
            if needle in (r.access_code.name or "").casefold()
            or needle in (r.access_code.code or "")
            or needle in r.access_code_id
        ]
        start = 0
        if page_cursor is not None:
            after = decode_cursor(page_cursor)
            start = next(
                (i + 1 for i, c in enumerate(matches) if _position(c) == after), len(matches)
            )
        page = matches[start : start + count]
        more = start + count < len(matches)
        cursor = None
        if more:
            cursor = encode_cursor(*_position(page[-1]))
        return page, pagination(cursor)

    def generate_code(self, *, device_id: str) -> str:
        """Seam's `/access_codes/generate_code`: a PIN the device would take right now."""
        device = self.device_record(device_id)
        return generate_for(DeviceRules.of(device), self.codes_in_use(device.device_id), None)


def _position(code: AccessCode) -> tuple[str, str]:
    return format_time(code.created_at), code.access_code_id

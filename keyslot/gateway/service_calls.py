"""Calling the service from a route, and the parts of an answer the gateway adds.

The service is synchronous (its store calls are short SQLite transactions) and is called
on the event loop; an `async` service method is awaited as well. A call that may write goes
through the gateway's `CallBatcher` when it has one (calls of the same moment share a
commit). `page_answer` fills Seam's `next_page_url` with the same call for the next page.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

__all__ = ["call", "page_answer"]


# Calls that only read run at once; every other call may write and joins the batch.
_READS = ("get_", "list_", "generate_")


async def call(ctx: Any, method: str, params: Mapping[str, Any]) -> Any:
    function = getattr(ctx.service, method)
    batcher = getattr(ctx, "batcher", None)
    if batcher is not None and not method.startswith(_READS):
        result = await batcher.run(functools.partial(function, **params))
    else:
        result = function(**params)
    if inspect.isawaitable(result):
        result = await result
    return result


def page_answer(
    ctx: Any,
    path: str,
    params: Mapping[str, Any],
    *,
    key: str,
    items: Sequence[Any],
    pagination: Mapping[str, Any],
) -> dict[str, Any]:
    cursor = pagination.get("next_page_cursor")
    next_url = None
    if cursor:
        query = [
            (name, str(v).lower() if isinstance(v, bool) else str(v))
            for name, value in sorted(params.items())
            if name != "page_cursor" and value is not None
            for v in (value if isinstance(value, list) else [value])
        ]
        query.append(("page_cursor", str(cursor)))
        base = str(ctx.extras.get("public_url", "http://localhost")).rstrip("/")
        next_url = f"{base}{path}?{urlencode(query)}"
    return {
        key: list(items),
        "pagination": {
            "has_next_page": bool(pagination.get("has_next_page", cursor is not None)),
            "next_page_cursor": cursor,
            "next_page_url": next_url,
        },
    }

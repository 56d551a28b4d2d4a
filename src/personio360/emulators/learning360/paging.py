"""LHS bracket filters and forward-only cursor pages, as 360Learning's guides describe them.

Filters are ``field[op]=value`` (``in``/``nin`` with or without an index:
``type[in][0]=a`` or ``type[in]=a``). A page answers a bare JSON array; when more remain, a
``Link: <URL>; rel="next"`` header whose URL carries only ``next=<token>``: an opaque token
holding the original filters and the sort key of the page's last item (guide "Pagination").
"""

from __future__ import annotations

__all__ = ["PAGE_SIZES", "Filters", "Page", "decode_token", "encode_token", "matches", "paginate",
           "parse_filters"]

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from personio360.emulators.learning360.errors import StateError

T = TypeVar("T")

#: Page sizes published per endpoint (OpenAPI "Returns one page of N ...").
PAGE_SIZES = {
    "users": 500, "groups": 500, "group_roles": 1000, "user_roles": 1000, "managers": 1000,
    "subordinates": 1000, "custom_fields": 1000, "external_ids": 5000, "bulk_operations": 20,
    "subscriptions": 2000, "webhook_events": 250,
    "paths": 200, "courses": 500, "path_stats": 2000, "course_stats": 500,
}

#: ``{field: {op: value or [values]}}``
Filters = dict[str, dict[str, Any]]

_KEY = re.compile(r"^(?P<field>[A-Za-z]+)\[(?P<op>[a-z]+)\](?:\[\d+\])?$")
_LIST_OPS = frozenset({"in", "nin"})


@dataclass(frozen=True, slots=True)
class Page:
    """One page of items and the ``next`` token, if another page exists."""

    items: list[Any]
    next_token: str | None


def parse_filters(params: Iterable[tuple[str, str]],
                  allowed: Mapping[str, frozenset[str]]) -> tuple[Filters, str | None]:
    """Read the query: the filters and the ``next`` token; undocumented keys are refused."""
    filters: Filters = {}
    token = None
    for key, value in params:
        if key == "next":
            token = value
            continue
        match = _KEY.match(key)
        if not match or match["op"] not in allowed.get(match["field"], frozenset()):
            raise StateError("invalidRequest", f"Unsupported query parameter {key!r}.")
        ops = filters.setdefault(match["field"], {})
        if match["op"] in _LIST_OPS:
            ops.setdefault(match["op"], []).append(value)
        else:
            ops[match["op"]] = value
    return filters, token


def matches(value: str | None, ops: Mapping[str, Any]) -> bool:
    """Whether one field's value passes its filter operators (exact, case-sensitive)."""
    return all(_passes(value, op, wanted) for op, wanted in ops.items())


def _passes(value: str | None, op: str, wanted: Any) -> bool:
    match op:
        case "eq":
            return bool(value == wanted)
        case "ne":
            return bool(value != wanted)
        case "in":
            return value in wanted
        case "nin":
            return value not in wanted
        case "lt":
            return value is not None and value < wanted
        case _:  # gte
            return value is not None and value >= wanted


def paginate(items: Sequence[T], *, size: int, key: Callable[[T], tuple[str, ...]],
             filters: Filters, after: Sequence[str] | None) -> Page:
    """The page after the sort key ``after`` (items are sorted by ``key``)."""
    ordered = sorted(items, key=key)
    if after is not None:
        last = list(after)
        ordered = [item for item in ordered if list(key(item)) > last]
    page = ordered[:size]
    if len(ordered) <= size:
        return Page(page, None)
    return Page(page, encode_token({"f": filters, "a": list(key(page[-1]))}))


def encode_token(payload: Mapping[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[Filters, list[str]]:
    """The filters and sort key a ``next`` token carries; a forged token is refused."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        filters, after = payload["f"], payload["a"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise StateError("invalidRequest", "Invalid `next` token.") from None
    if not isinstance(filters, dict) or not isinstance(after, list):
        raise StateError("invalidRequest", "Invalid `next` token.")
    return filters, [str(part) for part in after]

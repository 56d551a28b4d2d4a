"""R11 for R18: ``check``'s write-back lines: configured, the write credential may write, and each
item's path or course and Personio attribute fit, each failure with its fix. Changes nothing.

Personio's catalogue (``GET /company/employees/attributes``) says which attributes a credential
may see, not which it may write; the document writes custom attributes only ("custom_attributes:
dynamic_{{ field uid }}"), so an attribute is taken as writable when the write credential's
catalogue lists it as a custom one: a ``dynamic_`` key without a ``universal_id`` (its example's
``dynamic_1`` with ``universal_id: iban`` is a standard attribute under a dynamic key).
"""

from __future__ import annotations

__all__ = ["writeback_checks"]

from collections.abc import Callable
from typing import Protocol

from personio360.config import Settings, WritebackItem
from personio360.domain import AttributeInfo
from personio360.errors import ApiError, ConfigError, NotFound
from personio360.learning360 import Learning360Client

#: The attribute types each value may be written to (Personio's ``TypeEnum``; ``standard`` = text).
_TYPES = {"completed_at": ("date", "standard", "multiline"),
          "status": ("standard", "list", "multiline"),
          "score": ("integer", "decimal", "standard")}


class _Writer(Protocol):
    def may_write(self) -> bool: ...

    def scopes(self) -> frozenset[str]: ...

    def list_attributes(self) -> list[AttributeInfo]: ...


#: (name, ok, detail, fix) like ``check.CheckResult``
Line = tuple[str, bool, str, str | None]


def writeback_checks(settings: Settings, lms: Learning360Client, writer: _Writer | None,
                     missing: ConfigError | None) -> list[Line]:
    """One line for write-back itself, one for the credential, two per configured item."""
    if settings.writeback is None:
        return [("Write-back to Personio (R18)", True, "not configured: nothing is written to Personio",
                 None)]
    if not settings.writeback.enabled:
        return [("Write-back to Personio (R18)", True, "configured but off (writeback.enabled = false)",
                 None)]
    items = settings.writeback.items
    lines: list[Line] = [("Write-back to Personio (R18)", True,
                          f"{len(items)} item{'s' if len(items) != 1 else ''}: "
                          + ", ".join(f"{i.kind} {i.item_id} -> {i.attribute} ({i.value})" for i in items),
                          None)]
    catalogue = _credential(writer, missing, lines)
    for index, item in enumerate(items):
        lines.append(_item_line(lms, item, index))
        if catalogue is not None:
            lines.append(_attribute_line(catalogue, item, index))
    return lines


def _credential(writer: _Writer | None, missing: ConfigError | None,
                lines: list[Line]) -> dict[str, AttributeInfo] | None:
    name = "Personio: write credential may write (R18)"
    if writer is None:
        detail = missing.message if missing is not None else "no write credential"
        lines.append((name, False, detail, missing.hint if missing is not None else None))
        return None
    try:
        allowed, scopes = writer.may_write(), writer.scopes()
        catalogue = {a.key: a for a in writer.list_attributes()}
    except ApiError as exc:
        lines.append((name, False, str(exc), exc.hint))
        return None
    shown = " ".join(sorted(scopes)) or "none given"
    lines.append((name, allowed, f"token scope: {shown}",
                  None if allowed else "give PERSONIO_WRITE_CLIENT_ID's credential write access to "
                  "employees in Personio (Settings > API credentials); the read credential is never used"))
    return catalogue


def _item_line(lms: Learning360Client, item: WritebackItem, index: int) -> Line:
    where = f"writeback.items[{index}].{item.kind}"
    name = f"360Learning: {item.kind} {item.item_id} and its statistics ({where})"
    get: Callable[[str], object] = lms.get_path if item.kind == "path" else lms.get_course
    stats = lms.iter_path_stats if item.kind == "path" else lms.iter_course_stats
    try:
        found = get(item.item_id)
        next(iter(stats([item.item_id])), None)
    except NotFound:
        return (name, False, f"no such {item.kind} in 360Learning",
                f"copy the {item.kind}'s id from its 360Learning page into {where}")
    except ApiError as exc:
        scope = f"{item.kind}Stats:read and {item.kind}s:read"
        return (name, False, str(exc), exc.hint or f"give the 360Learning API credential the scopes {scope}")
    return (name, True, f"{getattr(found, 'name', '')!r}, statistics readable", None)


def _attribute_line(catalogue: dict[str, AttributeInfo], item: WritebackItem, index: int) -> Line:
    where = f"writeback.items[{index}].attribute"
    name = f"Personio: attribute {item.attribute!r} writable ({where})"
    attr = catalogue.get(item.attribute)
    if attr is None:
        return (name, False, "not in the write credential's attribute catalogue: it does not exist, or "
                "the credential may not access it",
                f"create the custom attribute in Personio (Settings > Employee information) and give the "
                f"write credential access to it, or correct {where}")
    if attr.universal_id is not None:
        return (name, False, f"{attr.label!r} is Personio's standard attribute {attr.universal_id!r}, "
                "not a custom one: PATCH does not write it",
                f"choose a custom attribute (Settings > Employee information) for {where}")
    if attr.type is not None and attr.type not in _TYPES[item.value]:
        fits = " or ".join(_TYPES[item.value])
        return (name, False, f"{attr.label!r} is of type {attr.type!r}: it cannot hold a {item.value}",
                f"use a custom attribute of type {fits} for value = {item.value!r}, or change the value")
    return (name, True, f"{attr.label!r} ({attr.type or 'text'}), a custom attribute", None)

"""Personio v1 payloads as pydantic models (the API's field names) and their ``domain`` conversion.

Both shapes the documents show are accepted: the current one (the OpenAPI's examples:
attributes as ``{label, value, type, universal_id}``, a ``metadata`` block on lists) and the 2020
one of the recordings in ``shared/api/recorded/personio`` (``label`` and ``value`` only, no
``metadata``). Unknown keys are kept, never refused: Personio adds attributes and envelope keys
(``currency`` on salaries) without notice.
"""

from __future__ import annotations

__all__ = [
    "STANDARD_DATES",
    "Attribute",
    "AttributeEntry",
    "AttributesResponse",
    "EmployeeData",
    "EmployeeResponse",
    "EmployeesResponse",
    "ErrorBody",
    "ErrorDetail",
    "Metadata",
    "ShapeError",
    "TokenData",
    "TokenResponse",
    "normalise",
    "to_attribute_info",
    "to_domain",
]

import datetime as dt
import functools
import json
import re
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from personio360 import domain


class ShapeError(ValueError):
    """An answer's content does not have the documented shape; the client reports it as
    ``MalformedResponse`` (the message never quotes attribute values: they are personal data)."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


# --- envelopes ---------------------------------------------------------------------------


class ErrorDetail(_Wire):
    """``ErrorResponse.error``: ``code`` is an integer, often 0; messages may be German."""

    code: int | str | None = None
    message: str | None = None


class ErrorBody(_Wire):
    """``{"success": false, "error": {"code", "message"}}`` (``ErrorResponse``)."""

    success: bool | None = None
    error: ErrorDetail | None = None


class TokenData(_Wire):
    """``AuthenticationTokenResponse.data``: only ``token`` is required by the schema."""

    token: SecretStr
    expires_in: float | None = None
    scope: str | None = None


class TokenResponse(_Wire):
    success: bool
    data: TokenData


class Attribute(_Wire):
    """One labelled attribute; ``type`` and ``universal_id`` are missing from the 2020 format."""

    label: str | None = None
    value: Any = None
    type: str | None = None
    universal_id: str | None = None


class EmployeeData(_Wire):
    """One item of ``EmployeesResponse.data`` (and ``EmployeeResponse.data``)."""

    type: str | None = None
    attributes: dict[str, Attribute]


class Metadata(_Wire):
    """``EmployeesResponse.metadata``: ``current_page`` is 0-based (range 0..total_pages-1)."""

    total_elements: int
    current_page: int
    total_pages: int


class EmployeesResponse(_Wire):
    """``GET /company/employees``; no ``metadata``, ``offset`` or ``limit`` in the 2020 format."""

    success: bool
    metadata: Metadata | None = None
    offset: int | None = None
    limit: int | None = None
    data: list[EmployeeData]


class EmployeeResponse(_Wire):
    """``GET /company/employees/{employee_id}``."""

    success: bool
    data: EmployeeData


class AttributeEntry(_Wire):
    """One item of ``GET /company/employees/attributes`` (``options`` only on newer answers)."""

    key: str
    label: str | None = None
    type: str | None = None
    universal_id: str | None = None
    options: list[Any] | None = None


class AttributesResponse(_Wire):
    success: bool
    data: list[AttributeEntry]


# --- normalisation ---------------------------------------------------------------------

#: Standard attributes of type ``date`` (``get-custom-attributes.json``, the OpenAPI examples):
#: read as dates even in the 2020 format, which names no type.
STANDARD_DATES = frozenset({
    "hire_date", "contract_end_date", "termination_date", "probation_period_end",
    "last_working_day", "created_at", "last_modified_at",
})

#: ``2014-11-09``, ``2014-11-09T00:00:00+01:00``, ``2014-11-09 00:00:00+01:00``, ``...+00:53``.
_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
#: How Personio writes a date as a datetime: midnight with an offset. Used to spot dates in the
#: 2020 format, whose custom attributes carry no ``type``.
_MIDNIGHT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]00:00:00(?:Z|[+-]\d{2}:?\d{2})")
_EMPTY: tuple[Any, ...] = (None, "", [], {})


def to_domain(item: EmployeeData) -> domain.Employee:
    """One wire employee as ``domain.Employee``: every returned attribute, normalised.

    ``id`` is the only attribute Personio always returns (research §6); without it the answer
    is malformed. ``supervisor_id`` comes from the nested ``ShortEmployee``'s ``id``.

    Keys and repeated values are shared, not copied (``_shared``): a snapshot of 100,000
    employees holds a million of them (SPEC §6: the plan's memory includes the snapshot's).
    """
    raw = item.attributes
    if "id" not in raw:
        raise ShapeError("an employee without the 'id' attribute")
    employee_id = _integer(raw["id"].value, "id")
    if employee_id is None:
        raise ShapeError("an employee with an empty 'id'")
    try:
        attributes = {sys.intern(key): _shared(key, normalise(key, attr)) for key, attr in raw.items()}
        supervisor_id = _supervisor_id(raw["supervisor"].value) if "supervisor" in raw else None
    except ShapeError as exc:
        raise ShapeError(f"employee {employee_id}: {exc}") from None
    attributes["id"] = employee_id
    return domain.Employee(
        id=employee_id,
        first_name=_text(attributes.get("first_name")),
        last_name=_text(attributes.get("last_name")),
        email=_text(attributes.get("email")),
        status=_text(attributes.get("status")),
        position=_text(attributes.get("position")),
        supervisor_id=supervisor_id,
        attributes=MappingProxyType(attributes),
        last_modified_at=_stamp(raw.get("last_modified_at")),
    )


def _stamp(attr: Attribute | None) -> str | None:
    """The raw ``last_modified_at`` text (R17), or None when absent or not text."""
    value = attr.value if attr is not None else None
    return value.strip() or None if isinstance(value, str) else None


#: Attributes whose values are one employee's own: not worth sharing.
_OWN = frozenset({"email", "id"})


def _shared(key: str, value: domain.AttributeValue) -> domain.AttributeValue:
    """``value``, with its text interned: status, department, office, position, names and
    supervisors repeat across a company's employees, and each page's JSON makes new copies.
    Interned strings are freed with their last user (``sys.intern``); dates come shared
    from ``_date``."""
    if type(value) is str and key not in _OWN:
        return sys.intern(value)
    if type(value) is tuple:
        return tuple(sys.intern(v) if type(v) is str else v for v in value)
    return value


def normalise(key: str, attr: Attribute) -> domain.AttributeValue:
    """An attribute's value as ``domain.AttributeValue``.

    Objects become their ``name`` (the supervisor, a ``ShortEmployee``, their full name, or
    ``None`` when the names are not readable: ``supervisor_id`` still links them); lists
    a tuple of names or strings; ``date`` attributes a ``datetime.date`` taken as written (the
    offset is dropped, never applied: research §12.8); ``tags`` given as a JSON-encoded list or
    a comma-separated string a tuple (research §5); ``null``, ``""``, ``[]`` and ``{}`` mean
    "no value" (research §4). Numbers and booleans stay as they are (``weekly_working_hours``
    is a string in the document, and stays one).
    """
    value = attr.value
    if isinstance(value, str) and not value.strip():
        return None
    if value in _EMPTY:
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return _object_name(key, value)
    if isinstance(value, list):
        return _names(key, value)
    if isinstance(value, str):
        return _string(key, attr.type, value)
    kind = type(value).__name__
    raise ShapeError(f"attribute {key!r} has a value of an unexpected kind ({kind})")


def to_attribute_info(entry: AttributeEntry) -> domain.AttributeInfo:
    """One entry of the attribute catalogue as ``domain.AttributeInfo``."""
    return domain.AttributeInfo(
        key=entry.key,
        label=entry.label or entry.key,
        type=entry.type,
        universal_id=entry.universal_id,
    )


def _string(key: str, type_: str | None, value: str) -> domain.AttributeValue:
    if type_ == "date" or (type_ is None and (key in STANDARD_DATES or _MIDNIGHT.fullmatch(value))):
        return _date(value) or value
    if type_ in ("tags", None) and value.startswith("[") and value.endswith("]"):
        decoded = _json_list(value)
        if decoded is not None:
            return decoded
    if type_ == "tags":
        parts = tuple(part.strip() for part in value.split(",") if part.strip())
        return parts or None
    return value


@functools.lru_cache(maxsize=4096)
def _date(value: str) -> dt.date | None:
    """The date part as written; ``None`` when it is not a date (kept as text by the caller).

    Cached: the same written date gives the same (immutable) object, shared by the many
    employees hired or ending on one day (SPEC §6's 100,000)."""
    match = _DATE.fullmatch(value.strip())
    if match is None:
        return None
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _json_list(value: str) -> tuple[str, ...] | None:
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    if not isinstance(decoded, list) or not all(isinstance(v, str | int | float) for v in decoded):
        return None
    return tuple(str(v) for v in decoded) or None


def _object_name(key: str, value: Mapping[str, Any]) -> str | None:
    """``{"type": "Office", "attributes": {"id", "name"}}`` -> its name; an Employee -> name."""
    inner = value.get("attributes", value)
    if not isinstance(inner, Mapping):
        raise ShapeError(f"attribute {key!r} holds an object without attributes")
    if value.get("type") == "Employee" or key == "supervisor":
        names = [_plain(inner.get(part)) for part in ("first_name", "last_name")]
        full = " ".join(str(n).strip() for n in names if n not in _EMPTY and str(n).strip())
        return full or None
    name = _plain(inner.get("name"))
    return str(name) if name not in _EMPTY else None


def _names(key: str, values: list[Any]) -> tuple[str, ...] | None:
    names: list[str] = []
    for item in values:
        if isinstance(item, Mapping):
            name = _object_name(key, item)
        elif isinstance(item, str | int | float) and not isinstance(item, bool):
            name = str(item)
        else:
            raise ShapeError(f"attribute {key!r} holds a list with an item of an unexpected kind")
        if name is not None and name.strip():
            names.append(name)
    return tuple(names) or None


def _plain(value: Any) -> Any:
    """A nested value that may itself be labelled (``ShortEmployee``: ``{"label", "value"}``)."""
    if isinstance(value, Mapping) and "value" in value:
        return value["value"]
    return value


def _supervisor_id(value: Any) -> int | None:
    """``supervisor.value.attributes.id`` (labelled in ``ShortEmployee``, bare in some answers)."""
    if value in _EMPTY:
        return None
    if not isinstance(value, Mapping):
        raise ShapeError("attribute 'supervisor' is not an Employee object")
    inner = value.get("attributes", value)
    if not isinstance(inner, Mapping):
        raise ShapeError("attribute 'supervisor' holds an object without attributes")
    return _integer(_plain(inner.get("id")), "supervisor.id")


def _integer(value: Any, where: str) -> int | None:
    if value in _EMPTY:
        return None
    if isinstance(value, bool):
        raise ShapeError(f"{where!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ShapeError(f"{where!r} is not an integer")


def _text(value: domain.AttributeValue) -> str | None:
    return value if isinstance(value, str) else None

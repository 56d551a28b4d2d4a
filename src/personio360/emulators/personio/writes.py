"""``PATCH /company/employees/{employee_id}`` over ``PersonioState``: the body, read and applied (R18).

The document (``personio-personnel-data-api-oa3.yaml``): "Only the fields that are listed in
the body example are updatable. Attributes that are not part of the sample request body but
are present inside the request are ignored. It's not possible to update the Email field."
A JSON body is ``{"employee": {..., "custom_attributes": {"dynamic_NNNN": "..."}}}``; the
form body names ``employee[first_name]`` and so on. Where the document is silent (listed in
``docs/emulators.md``): custom attributes in a form body are ``employee[custom_attributes][dynamic_NNNN]``;
an unknown or non-writable custom attribute, or a value its type refuses, is a 422 in the
documented ``EmployeeUpdateErrorResponse`` and nothing is changed; ignored fields (``email``
and any undocumented one) are named in ``meta``.
"""

from __future__ import annotations

__all__ = ["UPDATABLE", "UpdateRefusedError", "apply_update", "read_update"]

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs

from personio360.emulators.personio.state import ORG_KINDS, PersonioState

#: The standard fields of the body example (JSON), as the state names them.
UPDATABLE = {"first_name": "first_name", "last_name": "last_name",
             "preferred_name": "preferred_name", "gender": "gender", "position": "position",
             "subcompany": "subcompany", "department": "department", "office": "office",
             "hire_date": "hire_date", "weekly_working_hours": "weekly_working_hours",
             "status": "status", "supervisor_id": "supervisor"}
_FORM_PREFIX = "employee["


class UpdateRefusedError(Exception):
    """The update is refused (422) with Personio's message; nothing was changed."""


def read_update(content_type: str, raw: bytes) -> dict[str, Any]:
    """The ``employee`` object of a JSON or form body; a body that is neither is refused."""
    if "application/x-www-form-urlencoded" in content_type:
        return _form(raw)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise UpdateRefusedError("The request body is not valid JSON.") from None
    employee = body.get("employee") if isinstance(body, dict) else None
    if not isinstance(employee, dict):
        raise UpdateRefusedError("The request body must hold an employee object.")
    return employee


def _form(raw: bytes) -> dict[str, Any]:
    """``employee[key]=value`` and ``employee[custom_attributes][dynamic_N]=value``."""
    employee: dict[str, Any] = {}
    for key, values in parse_qs(raw.decode(), keep_blank_values=True).items():
        if not (key.startswith(_FORM_PREFIX) and key.endswith("]")):
            continue
        inner = key[len(_FORM_PREFIX):-1]
        if inner.startswith("custom_attributes]["):
            custom = employee.setdefault("custom_attributes", {})
            custom[inner.removeprefix("custom_attributes][")] = values[-1]
        else:
            employee[inner] = values[-1]
    return employee


def apply_update(state: PersonioState, employee_id: int, employee: dict[str, Any]) -> list[str]:
    """Check the whole update, then apply it at once; the ``meta`` messages of what was ignored.

    ``UnknownEmployeeError`` when there is no such employee (the API's 404)."""
    state.employee(employee_id)  # 404 before anything else
    changes: dict[str, Any] = {}
    meta: list[str] = []
    for key, value in employee.items():
        if key == "custom_attributes":
            changes.update(_custom(state, value))
        elif key in UPDATABLE:
            changes[UPDATABLE[key]] = _standard(key, value)
        else:
            meta.append(f"The attribute {key} cannot be updated and was ignored")
    try:
        state.update(employee_id, **changes)
    except ValueError as exc:
        raise UpdateRefusedError(str(exc)) from None
    return meta


def _standard(key: str, value: Any) -> Any:
    if key == "supervisor_id" and value is not None:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise UpdateRefusedError(f"Supervisor with ID {value} not found") from None
    if key in ORG_KINDS and value is not None:
        return str(value)
    return value


def _custom(state: PersonioState, values: Any) -> dict[str, Any]:
    """Each ``dynamic_NNNN`` checked against the catalogue: exists, writable, a valid value."""
    if not isinstance(values, dict):
        raise UpdateRefusedError("custom_attributes must be an object")
    catalogue = state.attributes()
    out: dict[str, Any] = {}
    for key, value in values.items():
        attr = catalogue.get(key)
        if attr is None or not attr.writable:
            raise UpdateRefusedError(f"The attribute {key} does not exist or cannot be updated")
        out[key] = _typed(attr.type, attr.options, key, value)
    return out


def _typed(type_: str, options: tuple[str, ...], key: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    text = str(value)
    if type_ == "date":
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            raise UpdateRefusedError(f"The value of {key} must be a date (YYYY-MM-DD)") from None
    if type_ == "integer":
        try:
            return int(text)
        except ValueError:
            raise UpdateRefusedError(f"The value of {key} must be an integer") from None
    if type_ == "decimal":
        try:
            return float(text)
        except ValueError:
            raise UpdateRefusedError(f"The value of {key} must be a number") from None
    if type_ == "list" and options and text not in options:
        raise UpdateRefusedError(f"The value of {key} must be one of: {', '.join(options)}")
    return text

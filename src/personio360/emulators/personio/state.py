"""Personio emulator state: employees as simple values, the attribute catalogue, no HTTP.

Employees are stored the way a test wants to write them (office as its name, supervisor as an
employee id, dates as ``datetime.date``); ``app.py`` renders them into the documented
``{"label", "value", "type", "universal_id"}`` envelopes using the catalogue kept here.
"""

from __future__ import annotations

__all__ = [
    "ORG_KINDS",
    "STANDARD_ATTRIBUTES",
    "STATUSES",
    "AttributeDef",
    "ChangeListener",
    "PersonioState",
    "UnknownEmployeeError",
]

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: Employee statuses of the v1 POST/PATCH enum (personio-research.md §4).
STATUSES = ("active", "onboarding", "leave", "inactive")

#: The attribute types of the OpenAPI ``TypeEnum``.
_TYPES = frozenset({"standard", "date", "integer", "decimal", "list", "link", "tags", "multiline"})

#: Attributes whose value is an org object rendered as ``{"type": kind, "attributes": {id, name}}``.
ORG_KINDS = {"office": "Office", "department": "Department", "team": "Team",
             "subcompany": "Subcompany"}


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute of the catalogue: what ``GET /company/employees/attributes`` lists."""

    key: str
    label: str
    type: str = "standard"
    universal_id: str | None = None
    whitelisted: bool = True
    options: tuple[str, ...] = ()

    @property
    def writable(self) -> bool:
        """Whether ``PATCH`` may set it through ``custom_attributes`` (R18): a custom attribute
        (``dynamic_NNNN`` without a ``universal_id``: a standard attribute such as the IBAN
        example's ``dynamic_1`` / ``iban`` is Personio's own) the credentials may see."""
        return self.key.startswith("dynamic_") and self.universal_id is None and self.whitelisted


def _std(key: str, label: str, type_: str = "standard") -> AttributeDef:
    return AttributeDef(key, label, type_, universal_id=key)


#: Standard attributes with the labels and types of the OpenAPI list example (SPEC-v1).
STANDARD_ATTRIBUTES: tuple[AttributeDef, ...] = (
    _std("id", "ID", "integer"),
    _std("first_name", "First name"),
    _std("last_name", "Last name"),
    _std("preferred_name", "Name (preferred)"),
    _std("email", "Email"),
    _std("gender", "Gender"),
    _std("status", "Status"),
    _std("position", "Position"),
    _std("supervisor", "Supervisor"),
    _std("employment_type", "Employment type"),
    _std("weekly_working_hours", "Weekly hours"),
    _std("hire_date", "Hire date", "date"),
    _std("contract_end_date", "Contract ends", "date"),
    _std("termination_date", "Termination date", "date"),
    _std("termination_type", "Termination type"),
    _std("termination_reason", "Termination reason"),
    _std("probation_period_end", "Probation period end", "date"),
    _std("created_at", "created_at", "date"),
    _std("last_modified_at", "Last modified", "date"),
    _std("subcompany", "Subcompany"),
    _std("office", "Office"),
    _std("department", "Department"),
    _std("cost_centers", "Cost center"),
    _std("last_working_day", "Last day of work", "date"),
    _std("team", "Team"),
)

#: Attributes the emulator maintains itself: never set through ``hire``/``update``.
_MANAGED = frozenset({"id", "created_at", "last_modified_at"})


#: Called after every change: (kind, employee id, changed keys); kind is ``hired``,
#: ``updated`` or ``removed``. The webhooks turn these into events (``webhooks.py``).
ChangeListener = Callable[[str, int, frozenset[str]], None]


class UnknownEmployeeError(KeyError):
    """No employee with this id (the API answers 404)."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class PersonioState:
    """The company's employees and attribute catalogue, consistent behind one lock.

    Invariants: ids are unique and never reused; a supervisor is an existing employee (Personio
    refuses "Supervisor with ID 1 not found", SPEC-v1 ``EmployeeUpdateErrorResponse``), and
    removing an employee clears it as supervisor; ``status`` is one of ``STATUSES``; every key
    is in the catalogue. Emails are *not* unique: the API documents no such rule, and real HR
    data has duplicates the connector must survive (R15).
    """

    def __init__(self, *, first_employee_id: int = 1,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._catalogue: dict[str, AttributeDef] = {a.key: a for a in STANDARD_ATTRIBUTES}
        self._employees: dict[int, dict[str, Any]] = {}
        self._changed: dict[int, dict[str, dt.datetime]] = {}
        self._next_id = first_employee_id
        self._org_ids: dict[tuple[str, str], int] = {}
        self._listeners: list[ChangeListener] = []

    def use_clock(self, clock: Callable[[], dt.datetime]) -> None:
        """Personio's own clock from now on (``last_modified_at``, ``updated_since``): tests set
        one behind the connector's, as a real service's may be, to tell edits from reads."""
        with self._lock:
            self._clock = clock

    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every hire, real change and removal (webhook events)."""
        with self._lock:
            self._listeners.append(listener)

    def _notify(self, kind: str, employee_id: int, keys: Iterable[str]) -> None:
        for listener in list(self._listeners):
            listener(kind, employee_id, frozenset(keys))

    # --- catalogue -----------------------------------------------------------------------

    def define_attribute(self, key: str, label: str, type: str = "standard",
                         whitelisted: bool = True, *, universal_id: str | None = None,
                         options: Iterable[str] = ()) -> AttributeDef:
        """Add or replace a catalogue entry (custom ``dynamic_NNNN`` or a whitelist change)."""
        if type not in _TYPES:
            raise ValueError(f"unknown attribute type {type!r}; one of {sorted(_TYPES)}")
        if key == "id" and not whitelisted:
            raise ValueError("id is always readable")
        with self._lock:
            old = self._catalogue.get(key)
            if old is not None and universal_id is None:
                universal_id = old.universal_id
            attr = AttributeDef(key, label, type, universal_id, whitelisted, tuple(options))
            self._catalogue[key] = attr
            return attr

    def set_whitelisted(self, key: str, whitelisted: bool) -> None:
        """Allow or forbid reading one attribute with the emulator's credentials."""
        with self._lock:
            attr = self._attribute(key)
            self.define_attribute(key, attr.label, attr.type, whitelisted,
                                  universal_id=attr.universal_id, options=attr.options)

    def attributes(self) -> dict[str, AttributeDef]:
        """The catalogue, in definition order (standard attributes first)."""
        with self._lock:
            return dict(self._catalogue)

    def _attribute(self, key: str) -> AttributeDef:
        try:
            return self._catalogue[key]
        except KeyError:
            raise ValueError(f"unknown attribute {key!r}: define_attribute() it first") from None

    # --- employees -----------------------------------------------------------------------

    def hire(self, **attributes: Any) -> int:
        """Add an employee (``id=`` may be given) and return its id; status defaults to active."""
        with self._lock:
            wanted = attributes.pop("id", None)
            if wanted is not None:
                employee_id = int(wanted)
                if employee_id in self._employees or employee_id <= 0:
                    raise ValueError(f"employee id {employee_id} is taken or invalid")
            else:
                employee_id = self._next_id
            attributes.setdefault("status", "active")
            values = self._clean(attributes, employee_id)
            now = self._clock()
            record: dict[str, Any] = {"id": employee_id, "created_at": now, "last_modified_at": now}
            record.update(values)
            self._employees[employee_id] = record
            self._changed[employee_id] = dict.fromkeys(record, now)
            self._next_id = max(self._next_id, employee_id + 1)
            self._notify("hired", employee_id, record)
            return employee_id

    def update(self, employee_id: int, **attributes: Any) -> None:
        """Change attributes (``None`` clears one); a real change bumps ``last_modified_at``."""
        with self._lock:
            record = self._get(employee_id)
            values = self._clean(attributes, employee_id)
            now = self._clock()
            changed = [k for k, v in values.items() if record.get(k) != v]
            for key in changed:
                record[key] = values[key]
                self._changed[employee_id][key] = now
            if changed:
                record["last_modified_at"] = now
                self._changed[employee_id]["last_modified_at"] = now
                self._notify("updated", employee_id, changed)

    def terminate(self, employee_id: int, on: dt.date | None = None) -> None:
        """Make the employee a leaver: status ``inactive`` and a termination date (or today)."""
        day = on if on is not None else self._clock().date()
        self.update(employee_id, status="inactive", termination_date=day)

    def remove(self, employee_id: int) -> None:
        """Delete the employee from Personio altogether; their reports lose their supervisor."""
        with self._lock:
            self._get(employee_id)
            del self._employees[employee_id]
            del self._changed[employee_id]
            self._notify("removed", employee_id, ())
            for other_id, record in self._employees.items():
                if record.get("supervisor") == employee_id:
                    self.update(other_id, supervisor=None)

    def employee(self, employee_id: int) -> dict[str, Any]:
        """A copy of one employee's simple values (``id`` included)."""
        with self._lock:
            return _copy(self._get(employee_id))

    def employees(self) -> list[dict[str, Any]]:
        """Copies of every employee, by ascending id (the API's page order)."""
        with self._lock:
            return [_copy(self._employees[i]) for i in sorted(self._employees)]

    def employee_ids(self) -> list[int]:
        """Every employee id, ascending: a cheap way to page without copying everyone."""
        with self._lock:
            return sorted(self._employees)

    def changed_since(self, employee_id: int, since: dt.datetime) -> set[str]:
        """The attribute keys of one employee changed after ``since`` (``updated_since``)."""
        with self._lock:
            self._get(employee_id)
            return {k for k, at in self._changed[employee_id].items() if at > since}

    def org_id(self, kind: str, name: str) -> int:
        """A stable id for an office/department/team/subcompany/cost center name."""
        with self._lock:
            key = (kind, name)
            if key not in self._org_ids:
                self._org_ids[key] = 100_001 + len(self._org_ids)
            return self._org_ids[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._employees)

    # --- helpers -------------------------------------------------------------------------

    def _get(self, employee_id: int) -> dict[str, Any]:
        try:
            return self._employees[int(employee_id)]
        except (KeyError, ValueError):
            raise UnknownEmployeeError(employee_id) from None

    def _clean(self, attributes: dict[str, Any], employee_id: int) -> dict[str, Any]:
        """Check keys and values; convert ISO date strings of date attributes to ``date``."""
        values: dict[str, Any] = {}
        for key, value in attributes.items():
            if key in _MANAGED:
                raise ValueError(f"{key} is maintained by Personio and cannot be set")
            attr = self._attribute(key)
            values[key] = _coerce(attr, value)
            if key in ORG_KINDS and values[key] is not None:
                self.org_id(key, str(values[key]))  # ids follow hire order, not read order
            elif key == "cost_centers" and values[key]:
                for name in values[key]:
                    self.org_id(key, name)
        status = values.get("status")
        if "status" in values and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        supervisor = values.get("supervisor")
        if supervisor is not None:
            if supervisor == employee_id:
                raise ValueError("an employee cannot supervise themselves")
            if supervisor not in self._employees:
                raise ValueError(f"Supervisor with ID {supervisor} not found")
        return values


def _coerce(attr: AttributeDef, value: Any) -> Any:  # noqa: PLR0911 - one return per shape
    if value is None:
        return None
    if attr.type == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value)[:10])
    if attr.key == "supervisor":
        return int(value)
    if attr.key == "cost_centers" or attr.type == "tags":
        items = [value] if isinstance(value, str) else list(value)
        return [str(v) for v in items]
    return value


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in record.items()}

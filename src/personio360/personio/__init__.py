"""The Personio side: ``EmployeeSource`` (what the sync reads through) and its v1 implementation.

The sync depends on the ``EmployeeSource`` protocol only, so a reader of Personio's v2 API
(``/v2/persons`` + employments, cursor pagination) can be added beside ``PersonioClient``
without touching the sync (``personio.md``: "keep the Personio client behind one interface").
"""

from __future__ import annotations

__all__ = ["EmployeeSource", "PersonioClient", "map_status"]

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from personio360 import domain
from personio360.personio.client import PersonioClient, map_status


@runtime_checkable
class EmployeeSource(Protocol):
    """Where employees come from: a lazy full read, one employee, and the readable attributes."""

    def iter_employees(
        self,
        *,
        attributes: Sequence[str] | None = None,
        updated_since: dt.date | dt.datetime | str | None = None,
    ) -> Iterator[domain.Employee]:
        """Every employee, lazily; raises rather than ending early (R13a)."""
        ...

    def get_employee(self, employee_id: int) -> domain.Employee:
        """One employee; ``NotFound`` when unknown."""
        ...

    def list_attributes(self) -> list[domain.AttributeInfo]:
        """The attributes the credentials may read (R11)."""
        ...

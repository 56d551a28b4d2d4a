"""Render the Personio emulator's simple stored values as the documented attribute envelopes.

Shapes follow the examples of ``personio-personnel-data-api-oa3.yaml`` (list and get):
``{"label", "value", "type", "universal_id"}``; org objects ``{"type": "Office", "attributes":
{"id", "name"}}``; the supervisor a ``ShortEmployee``; dates ``2014-11-09T00:00:00+01:00``.
"""

from __future__ import annotations

__all__ = ["Renderer", "render_date"]

import datetime as dt
from typing import Any

from personio360.emulators.personio.state import (
    ORG_KINDS,
    AttributeDef,
    PersonioState,
    UnknownEmployeeError,
)


def _berlin_offset(day: dt.date) -> dt.timedelta:
    """Europe/Berlin's UTC offset on ``day`` (EU summer time from 1980), no tz database needed."""
    def last_sunday(month: int) -> dt.date:
        last = dt.date(day.year, month + 1, 1) - dt.timedelta(days=1)
        return last - dt.timedelta(days=(last.weekday() + 1) % 7)
    end = last_sunday(10 if day.year >= 1996 else 9)  # until 1995 summer time ended in Sept.
    summer = day.year >= 1980 and last_sunday(3) <= day < end
    return dt.timedelta(hours=2 if summer else 1)


def _offset_text(offset: dt.timedelta) -> str:
    return f"+{int(offset.total_seconds()) // 3600:02d}:00"


def render_date(value: dt.date | dt.datetime) -> str:
    """Dates as the documented local datetime with offset: ``2014-11-09T00:00:00+01:00``."""
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        offset = _berlin_offset(utc.date())
        return f"{(utc + offset).replace(tzinfo=None):%Y-%m-%dT%H:%M:%S}{_offset_text(offset)}"
    return f"{value.isoformat()}T00:00:00{_offset_text(_berlin_offset(value))}"


class Renderer:
    """Turns simple stored values into the documented attribute envelopes."""

    def __init__(self, state: PersonioState, only: set[str] | None) -> None:
        self.state = state
        self.catalogue = [a for a in state.attributes().values()
                          if a.key == "id" or (a.whitelisted and (only is None or a.key in only))]
        self.readable = {a.key: a for a in state.attributes().values() if a.whitelisted}

    def employee(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"type": "Employee",
                "attributes": {a.key: self._envelope(a, self._value(a, record.get(a.key)))
                               for a in self.catalogue}}

    @staticmethod
    def _envelope(attr: AttributeDef, value: Any) -> dict[str, Any]:
        return {"label": attr.label, "value": value, "type": attr.type,
                "universal_id": attr.universal_id}

    def _value(self, attr: AttributeDef, value: Any) -> Any:  # noqa: PLR0911 - one per shape
        key = attr.key
        if key == "cost_centers":
            names = value or []
            share = 100 if len(names) <= 1 else round(100 / len(names), 2)
            return [{"type": "CostCenter", "attributes": {
                "id": self.state.org_id(key, n), "name": n, "percentage": share}} for n in names]
        if value is None:
            return None
        if key == "supervisor":
            return self._supervisor(int(value))
        if key in ORG_KINDS:
            return {"type": ORG_KINDS[key],
                    "attributes": {"id": self.state.org_id(key, str(value)), "name": value}}
        if attr.type == "date" and isinstance(value, dt.date):
            # Custom dates come as plain dates in the OpenAPI example (dynamic_33400).
            return value.isoformat() if key.startswith("dynamic_") else render_date(value)
        if key == "weekly_working_hours":
            return str(value)  # a string in the documented example ('40')
        return value

    def _supervisor(self, employee_id: int) -> dict[str, Any] | None:
        """``ShortEmployee``: id, plus first name, last name and email when readable."""
        try:
            boss = self.state.employee(employee_id)
        except UnknownEmployeeError:
            return None
        attrs = {}
        for key in ("id", "first_name", "last_name", "email"):
            attr = self.readable.get(key)
            if attr is not None:
                attrs[key] = self._envelope(attr, boss.get(key))
        return {"type": "Employee", "attributes": attrs}

"""PersonioState invariants, without HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from personio360.emulators.personio.render import render_date
from personio360.emulators.personio.state import PersonioState, UnknownEmployeeError


def test_hire_assigns_increasing_ids_and_defaults_to_active() -> None:
    """Ids grow and are never reused; a new employee is active unless told otherwise."""
    state = PersonioState(first_employee_id=500)
    first = state.hire(first_name="Ada")
    state.remove(first)
    second = state.hire(first_name="Grace", id=900)
    assert (first, second, state.hire()) == (500, 900, 901)
    assert state.employee(second)["status"] == "active"
    with pytest.raises(ValueError, match="taken"):
        state.hire(id=900)


def test_values_are_checked_against_the_catalogue() -> None:
    """Unknown keys, statuses, supervisors and maintained fields are refused."""
    state = PersonioState()
    with pytest.raises(ValueError, match="unknown attribute"):
        state.hire(colour="red")
    with pytest.raises(ValueError, match="status"):
        state.hire(status="fired")
    with pytest.raises(ValueError, match="Supervisor with ID 3 not found"):
        state.hire(supervisor=3)
    with pytest.raises(ValueError, match="maintained"):
        state.hire(last_modified_at="2020-01-01")


def test_dates_are_stored_as_dates() -> None:
    """ISO strings of date attributes become datetime.date, custom ones included."""
    state = PersonioState()
    state.define_attribute("dynamic_7", "Probation end", "date")
    employee_id = state.hire(hire_date="2024-02-29", dynamic_7="2024-08-29T00:00:00+02:00")
    record = state.employee(employee_id)
    assert record["hire_date"] == dt.date(2024, 2, 29)
    assert record["dynamic_7"] == dt.date(2024, 8, 29)


def test_terminate_and_remove() -> None:
    """terminate makes a leaver; remove deletes and clears them as supervisor."""
    state = PersonioState(clock=lambda: dt.datetime(2025, 6, 2, 9, tzinfo=dt.UTC))
    boss = state.hire(first_name="Boss")
    worker = state.hire(first_name="Worker", supervisor=boss)
    state.terminate(boss)
    assert state.employee(boss)["status"] == "inactive"
    assert state.employee(boss)["termination_date"] == dt.date(2025, 6, 2)
    assert state.employee(worker)["supervisor"] == boss  # a supervisor who left stays
    state.remove(boss)
    assert state.employee(worker)["supervisor"] is None
    with pytest.raises(UnknownEmployeeError):
        state.employee(boss)


def test_emails_may_repeat() -> None:
    """Duplicate emails are accepted: real HR data has them and the sync must cope (R15)."""
    state = PersonioState()
    assert state.hire(email="a@x.example") != state.hire(email="a@x.example")


def test_update_tracks_changed_attributes() -> None:
    """Only real changes move last_modified_at and count for updated_since."""
    clock = [dt.datetime(2025, 1, 1, tzinfo=dt.UTC)]
    state = PersonioState(clock=lambda: clock[0])
    employee_id = state.hire(first_name="Ada", position="Dev")
    clock[0] = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    state.update(employee_id, first_name="Ada", position="Lead")
    assert state.changed_since(employee_id, dt.datetime(2025, 1, 15, tzinfo=dt.UTC)) == {
        "position", "last_modified_at"}
    assert state.employee(employee_id)["last_modified_at"] == clock[0]


def test_dates_render_with_berlin_offsets() -> None:
    """Dates render as local midnight with the CET/CEST offset of that day."""
    assert render_date(dt.date(2014, 11, 9)) == "2014-11-09T00:00:00+01:00"
    assert render_date(dt.date(1983, 9, 1)) == "1983-09-01T00:00:00+02:00"
    moment = dt.datetime(2020, 11, 18, 16, 33, 55, tzinfo=dt.UTC)
    assert render_date(moment) == "2020-11-18T17:33:55+01:00"

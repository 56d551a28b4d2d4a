"""PersonioClient reads from the Personio emulator over loopback: pages, attributes, catalogue."""

# ruff: noqa: F401, F811 - pytest fixtures are imported and then requested by parameter name

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from personio_fixtures import (
    Conformance,
    clients,
    conformance,
    emulator,
    no_waits,
    personio,
)

from personio360.domain import AttributeInfo
from personio360.emulators.personio import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PersonioEmulator
from personio360.errors import NotFound
from personio360.personio import EmployeeSource, PersonioClient


def test_reads_every_employee_across_many_pages(
    emulator: PersonioEmulator, personio: PersonioClient, conformance: Conformance
) -> None:
    """1,050 employees come back complete and in order, 100 a page (11 list calls)."""
    ids = [emulator.state.hire(first_name=f"E{n}", email=f"e{n}@example.com") for n in range(1050)]

    read = [employee.id for employee in personio.iter_employees()]

    assert read == ids
    assert emulator.stats.by_endpoint["GET /v1/company/employees"] == 11
    assert conformance.checked == 12  # one token, eleven pages


def test_pages_of_any_size_cover_everyone(
    emulator: PersonioEmulator, clients: Callable[..., PersonioClient], conformance: Conformance
) -> None:
    """A smaller page size still reads every employee exactly once (offset counts records)."""
    ids = [emulator.state.hire(first_name=f"E{n}") for n in range(23)]

    read = [e.id for e in clients(emulator.url, conformance, page_size=7).iter_employees()]

    assert read == ids
    assert emulator.stats.by_endpoint["GET /v1/company/employees"] == 4


def test_empty_company_reads_nothing(personio: PersonioClient) -> None:
    """A company without employees is an empty read, not an error."""
    assert list(personio.iter_employees()) == []


def test_normalises_objects_lists_dates_and_custom_attributes(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """Org objects become names, cost centers a tuple, dates ``date``s, tags a tuple."""
    state = emulator.state
    state.define_attribute("dynamic_1146666", "Birthday", "date", universal_id="date_of_birth")
    state.define_attribute("dynamic_24407", "Titel")
    state.define_attribute("dynamic_3", "Language Skills", "tags")
    boss = state.hire(first_name="Ada", last_name="Lovelace", email="ada@example.org")
    employee_id = state.hire(
        first_name="Zoë", last_name="Müller", email=" Zoe.Mueller@Example.com ", position="CTO",
        supervisor=boss, office="München", department="Customer Support", team="T_X",
        subcompany="CS Demo GmbH", cost_centers=["Cost center 1", "Cost center 2"],
        hire_date=dt.date(2014, 11, 9), termination_date=dt.date(2024, 7, 1),
        weekly_working_hours=40, dynamic_1146666="1983-08-18", dynamic_24407="Dr",
        dynamic_3=["English", "German"], status="leave",
    )

    employee = personio.get_employee(employee_id)

    assert (employee.id, employee.first_name, employee.last_name) == (employee_id, "Zoë", "Müller")
    assert employee.email == " Zoe.Mueller@Example.com "  # as given: the sync normalises
    assert (employee.status, employee.position, employee.supervisor_id) == ("leave", "CTO", boss)
    attributes = employee.attributes
    assert attributes["office"] == "München"
    assert attributes["department"] == "Customer Support"
    assert attributes["team"] == "T_X"
    assert attributes["subcompany"] == "CS Demo GmbH"
    assert attributes["supervisor"] == "Ada Lovelace"
    assert attributes["cost_centers"] == ("Cost center 1", "Cost center 2")
    assert attributes["hire_date"] == dt.date(2014, 11, 9)  # not shifted to UTC (Nov 8)
    assert attributes["termination_date"] == dt.date(2024, 7, 1)
    assert attributes["weekly_working_hours"] == "40"
    assert attributes["dynamic_1146666"] == dt.date(1983, 8, 18)
    assert attributes["dynamic_24407"] == "Dr"
    assert attributes["dynamic_3"] == ("English", "German")
    assert attributes["id"] == employee_id


def test_empty_values_are_none_and_supervisor_id_empty(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """Unset objects, lists, dates and strings read as None; no supervisor is ``None``."""
    emulator.state.define_attribute("dynamic_9", "Shoe size")
    employee_id = emulator.state.hire(first_name="Solo", dynamic_9="")

    [employee] = list(personio.iter_employees())

    assert employee.id == employee_id
    assert employee.supervisor_id is None
    assert employee.position is None
    for key in ("supervisor", "office", "department", "team", "cost_centers",
                "termination_date", "last_name", "dynamic_9"):
        assert key in employee.attributes
        assert employee.attributes[key] is None


def test_non_whitelisted_attribute_is_absent(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """An attribute the credentials may not read is missing from the mapping, not None."""
    emulator.state.define_attribute("dynamic_7", "Salary band", whitelisted=False)
    emulator.state.set_whitelisted("office", False)
    emulator.state.hire(first_name="Kim", office="Berlin", dynamic_7="B3")

    [employee] = list(personio.iter_employees())

    assert "office" not in employee.attributes
    assert "dynamic_7" not in employee.attributes
    assert employee.attributes["first_name"] == "Kim"


def test_only_email_readable_leaves_names_unset(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """With a minimal whitelist only ``id`` (always readable) and the allowed keys arrive."""
    for key in ("first_name", "last_name", "status", "position", "supervisor"):
        emulator.state.set_whitelisted(key, False)
    boss = emulator.state.hire(first_name="Boss")
    emulator.state.hire(first_name="Kim", email="kim@example.com", supervisor=boss)

    employees = list(personio.iter_employees())

    assert [e.email for e in employees] == [None, "kim@example.com"]
    assert all(e.first_name is None and e.status is None for e in employees)
    assert all(e.supervisor_id is None and "supervisor" not in e.attributes for e in employees)


def test_attribute_projection_is_sent(emulator: PersonioEmulator, personio: PersonioClient) -> None:
    """``attributes=`` asks for a projection: only those keys (and ``id``) come back."""
    emulator.state.hire(first_name="Kim", last_name="Lee", email="kim@example.com")

    [employee] = list(personio.iter_employees(attributes=["first_name", "email"]))

    assert set(employee.attributes) == {"id", "first_name", "email"}
    assert employee.last_name is None


def test_updated_since_selects_changed_employees(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """``updated_since`` (a date or a datetime) is sent in the documented format."""
    emulator.state.hire(first_name="Kim")
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)

    assert [e.first_name for e in personio.iter_employees(updated_since=dt.date(2000, 1, 1))] == [
        "Kim"
    ]
    assert list(personio.iter_employees(updated_since=tomorrow)) == []


def test_get_unknown_employee_raises_not_found(personio: PersonioClient) -> None:
    """An unknown id is ``NotFound`` carrying the API's own (German) message."""
    with pytest.raises(NotFound) as caught:
        personio.get_employee(424242)

    assert caught.value.status == 404
    assert caught.value.code == "404"
    assert "Es ist ein Problem aufgetreten" in str(caught.value)


def test_attribute_catalogue_lists_readable_attributes(
    emulator: PersonioEmulator, personio: PersonioClient, conformance: Conformance
) -> None:
    """The catalogue names standard and custom attributes the credentials may read, no others."""
    emulator.state.define_attribute("dynamic_3", "Language Skills", "tags", options=["English"])
    emulator.state.define_attribute("dynamic_7", "Salary band", whitelisted=False)

    catalogue = {info.key: info for info in personio.list_attributes()}

    assert catalogue["dynamic_3"] == AttributeInfo("dynamic_3", "Language Skills", "tags", None)
    assert catalogue["hire_date"].type == "date"
    assert catalogue["office"].universal_id == "office"
    assert "dynamic_7" not in catalogue
    assert ("GET", "/company/employees/attributes", 200) in conformance.data.seen


def test_client_is_an_employee_source(personio: PersonioClient) -> None:
    """The sync reads through the ``EmployeeSource`` protocol, which the v1 client satisfies."""
    assert isinstance(personio, EmployeeSource)


def test_connect_builds_its_own_client_and_accepts_the_v1_server_url(
    emulator: PersonioEmulator,
) -> None:
    """``connect`` takes the host or the OpenAPI's ``.../v1`` server URL and closes its client."""
    emulator.state.hire(first_name="Kim")
    for base_url in (emulator.url, emulator.url + "/v1/"):
        with PersonioClient.connect(
            base_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, timeout=5.0
        ) as client:
            assert [e.first_name for e in client.iter_employees()] == ["Kim"]

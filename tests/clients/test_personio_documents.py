"""PersonioClient parses the documented examples and the 2020 recordings; refuses malformed ones."""

# ruff: noqa: F401, F811 - pytest fixtures are imported and then requested by parameter name

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from personio_fixtures import (
    EMPLOYEES,
    DocumentServer,
    clients,
    document_example,
    documents,
    raw,
    recorded,
)

from personio360.errors import AuthError, MalformedResponse, NotFound
from personio360.personio import PersonioClient

Start = Callable[[dict[str, Any]], DocumentServer]
Clients = Callable[..., PersonioClient]


# --- the published examples -------------------------------------------------------------


def test_parses_the_documented_list_example(documents: Start, clients: Clients) -> None:
    """The OpenAPI's list example, every standard attribute in its documented shape, parses."""
    body = document_example("/company/employees")
    # The example's metadata (2 elements, 3 pages, 1 item) contradicts itself (research §3.2).
    body["metadata"] = {"total_elements": 1, "current_page": 0, "total_pages": 1}
    server = documents({EMPLOYEES: body})

    [employee] = list(clients(server.url).iter_employees())

    assert (employee.id, employee.first_name, employee.last_name) == (1, "Alexander", "Bergmann")
    assert employee.email == "alexander.bergmann@demo.email"
    assert (employee.status, employee.position, employee.supervisor_id) == ("active", "CTO", 2)
    attributes = employee.attributes
    assert attributes["supervisor"] is None  # a ShortEmployee with only an id has no name
    assert attributes["office"] == "Munich"
    assert attributes["subcompany"] == "CS Demo GmbH"
    assert attributes["department"] == "Customer Support"
    assert attributes["team"] == "T_X"
    assert attributes["cost_centers"] == ("Cost center 1",)
    assert attributes["absence_entitlement"] == ("Paid vacation",)
    assert attributes["holiday_calendar"] == "Deutschland (Bayern) Feiertage"
    assert attributes["hire_date"] == dt.date(2014, 11, 9)
    assert attributes["created_at"] == dt.date(2017, 5, 23)
    assert attributes["last_working_day"] is None
    assert attributes["fix_salary"] == 3000
    assert attributes["weekly_working_hours"] == "40"
    assert attributes["dynamic_33400"] == dt.date(2021, 1, 1)
    assert attributes["dynamic_21827"] == "DE98 8989 9898 0000 8989 00"


def test_parses_the_documented_get_example(documents: Start, clients: Clients) -> None:
    """The OpenAPI's get-by-id example parses, custom date attributes included."""
    server = documents({EMPLOYEES + "/1": document_example("/company/employees/{employee_id}")})

    employee = clients(server.url).get_employee(1)

    assert employee.id == 1
    assert employee.attributes["dynamic_180883"] == dt.date(1983, 8, 18)
    assert employee.attributes["preferred_name"] == "Alexander Bergmann"


def test_documented_404_example_is_not_found(documents: Start, clients: Clients) -> None:
    """The documented 404 body maps to ``NotFound`` with its own message."""
    body = document_example("/company/employees/{employee_id}", status="404")
    server = documents({EMPLOYEES + "/9": raw(json.dumps(body), 404)})

    with pytest.raises(NotFound, match="Es ist ein Problem aufgetreten"):
        clients(server.url).get_employee(9)


def test_parses_the_documented_catalogue_example(documents: Start, clients: Clients) -> None:
    """The OpenAPI's attribute catalogue example (with ``options``) parses."""
    example = document_example("/company/employees/attributes")
    server = documents({EMPLOYEES + "/attributes": example})

    catalogue = clients(server.url).list_attributes()

    last_two = [(a.key, a.type) for a in catalogue[-2:]]
    assert last_two == [("dynamic_2", "list"), ("dynamic_3", "tags")]
    assert catalogue[2].universal_id == "iban"


# --- the recorded 2020 answers ----------------------------------------------------------


def test_parses_the_recorded_2020_list(documents: Start, clients: Clients) -> None:
    """The recorded list (no type, no universal_id, no metadata) parses; a short page ends it."""
    server = documents({EMPLOYEES: recorded("get-employees.json")})

    employees = {e.id: e for e in clients(server.url).iter_employees()}

    assert sorted(employees) == [2040614, 2116365, 2116366]
    assert len(server.requests) == 2  # the token and one short page
    ada = employees[2040614]
    assert (ada.first_name, ada.email, ada.status) == ("Ada", "ada@example.org", "active")
    assert ada.attributes["department"] == "Operations"
    assert ada.attributes["hire_date"] == dt.date(1835, 2, 1)  # LMT offset +00:53, as written
    assert ada.attributes["dynamic_1146666"] == dt.date(1815, 12, 10)
    assert ada.attributes["created_at"] == dt.date(2020, 6, 18)
    assert ada.attributes["cost_centers"] is None
    assert ada.attributes["termination_type"] is None
    assert ada.attributes["work_schedule"] == (
        "Vollzeit, 40 Stunden ohne Zeiterfassung, (Mo,Di,Mi,Do,Fr) "  # trailing space as recorded
    )
    # Three encodings of one tags attribute (research §5); without a type, a comma-separated
    # string cannot be told from text and stays text.
    assert employees[2116366].attributes["dynamic_1146716"] == (
        "CI/CD", "Presentation Training", "Communication Training"
    )
    assert ada.attributes["dynamic_1146716"] == ("AT Power-Point", "CI/CD")
    assert employees[2116365].attributes["dynamic_1146716"] == "CI/CD,Presentation Training"


def test_typed_tags_in_every_encoding_become_tuples(documents: Start, clients: Clients) -> None:
    """With ``type: tags`` a list, a JSON-encoded list and a comma-separated string all parse."""
    body = recorded("get-employees.json")
    for item in body["data"]:
        item["attributes"]["dynamic_1146716"]["type"] = "tags"
    server = documents({EMPLOYEES: body})

    tags = {e.id: e.attributes["dynamic_1146716"] for e in clients(server.url).iter_employees()}

    assert tags[2116365] == ("CI/CD", "Presentation Training")
    assert tags[2040614] == ("AT Power-Point", "CI/CD")


def test_parses_the_recorded_2020_employee(documents: Start, clients: Clients) -> None:
    """The recorded get-by-id answer parses like the list."""
    server = documents({EMPLOYEES + "/2040614": recorded("get-employee-ada.json")})

    ada = clients(server.url).get_employee(2040614)

    assert (ada.id, ada.last_name, ada.position) == (2040614, "Lovelace", "first programmer ever")
    assert ada.supervisor_id is None
    assert ada.attributes["absence_entitlement"] == ("Vacation",)


def test_parses_the_recorded_catalogue(documents: Start, clients: Clients) -> None:
    """The recorded catalogue (no ``options``) parses, German labels and all."""
    server = documents({EMPLOYEES + "/attributes": recorded("get-custom-attributes.json")})

    catalogue = {a.key: a for a in clients(server.url).list_attributes()}

    assert catalogue["dynamic_1146666"].label == "Geburtstag"
    assert catalogue["dynamic_1146666"].type == "date"
    assert catalogue["dynamic_1146692"].label == "Straße und Hausnummer"


def test_catalogue_falls_back_to_the_custom_attributes_alias(
    documents: Start, clients: Clients
) -> None:
    """When ``/attributes`` answers 404 the ``/custom-attributes`` alias is read."""
    server = documents({EMPLOYEES + "/custom-attributes": recorded("get-custom-attributes.json")})

    assert len(clients(server.url).list_attributes()) == 39


# --- malformed answers ------------------------------------------------------------------


def _page(items: list[Any], *, total: int, page: int = 0, limit: int = 100) -> dict[str, Any]:
    pages = -(-total // limit)
    return {"success": True, "metadata": {"total_elements": total, "current_page": page,
            "total_pages": pages}, "offset": page * limit, "limit": limit, "data": items}


def _employee(employee_id: Any, **attributes: Any) -> dict[str, Any]:
    envelope = {key: {"label": key, "value": value} for key, value in attributes.items()}
    if employee_id is not None:
        envelope["id"] = {"label": "ID", "value": employee_id}
    return {"type": "Employee", "attributes": envelope}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (raw(b'{"success": true, "data": [', 200), "not valid JSON"),
        (raw(b"<html>maintenance</html>", 200, "text/html"), "expected JSON"),
        ({"success": True}, "data: Field required"),
        ({"success": True, "data": {"type": "Employee"}}, "data: Input should be a valid list"),
        ({"success": True, "data": [_employee(None, first_name="Kim")]}, "without the 'id'"),
        ({"success": True, "data": [_employee("abc")]}, "'id' is not an integer"),
        ({"success": True, "data": [_employee(1, supervisor="Ada")]}, "not an Employee object"),
        ({"success": False, "error": {"code": 0, "message": "Etwas ging schief"}},
         "success=false: Etwas ging schief"),
        (raw(b'{"success": false}', 302), "undocumented status 302"),
    ],
    ids=["bad-json", "html", "no-data", "data-object", "no-id", "bad-id", "bad-supervisor",
         "success-false", "status-302"],
)
def test_malformed_answers_raise_malformed_response(
    documents: Start, clients: Clients, answer: Any, expected: str
) -> None:
    """A body outside the document is ``MalformedResponse`` with a clear message."""
    server = documents({EMPLOYEES: answer})

    with pytest.raises(MalformedResponse) as caught:
        list(clients(server.url).iter_employees())

    assert expected in str(caught.value)
    assert caught.value.path == EMPLOYEES


def test_success_false_with_a_status_code_maps_to_its_error(
    documents: Start, clients: Clients
) -> None:
    """``success: false`` under a 200 is still an error, typed by the body's own code."""
    body = {"success": False, "error": {"code": 403, "message":
            "personio.core.api.exceptions.api.forbidden.http.exception"}}
    server = documents({EMPLOYEES: body})

    with pytest.raises(AuthError) as caught:
        list(clients(server.url).iter_employees())

    assert caught.value.code == "403"
    assert "whitelist" in (caught.value.hint or "")


def test_a_read_short_of_total_elements_raises(documents: Start, clients: Clients) -> None:
    """An empty page before ``total_elements`` were read is an error, never a partial list."""
    first = _page([_employee(n) for n in range(1, 101)], total=250)

    def pages(request: Any) -> Any:
        offset = int(request.query_params["offset"])
        body = first if offset == 0 else _page([], total=250, page=1)
        return raw(json.dumps(body))(request)

    server = documents({EMPLOYEES: pages})
    read: list[int] = []

    with pytest.raises(MalformedResponse, match="after 100 of 250 employees"):
        read.extend(e.id for e in clients(server.url).iter_employees())
    assert len(read) == 100


def test_a_server_ignoring_offset_is_caught(documents: Start, clients: Clients) -> None:
    """The same page again (offset ignored) is caught, not read as duplicates or a loop."""
    body = _page([_employee(n) for n in range(1, 101)], total=300)
    server = documents({EMPLOYEES: body})

    with pytest.raises(MalformedResponse, match="employee 1 came twice"):
        list(clients(server.url).iter_employees())


def test_a_total_changing_during_the_read_raises(documents: Start, clients: Clients) -> None:
    """``total_elements`` moving between pages means offsets shifted: the read is refused."""

    def pages(request: Any) -> Any:
        offset = int(request.query_params["offset"])
        total = 150 if offset == 0 else 149
        items = [_employee(n) for n in range(offset + 1, min(offset + 100, total) + 1)]
        return raw(json.dumps(_page(items, total=total, page=offset // 100)))(request)

    server = documents({EMPLOYEES: pages})

    with pytest.raises(MalformedResponse, match="number of employees changed"):
        list(clients(server.url).iter_employees())


def test_a_token_answer_without_a_token_is_malformed(documents: Start, clients: Clients) -> None:
    """An auth answer without ``data.token`` is ``MalformedResponse`` naming the auth path."""
    server = documents({"/v1/auth": {"success": True, "data": {"expires_in": 86400}}})

    with pytest.raises(MalformedResponse) as caught:
        clients(server.url).get_employee(1)

    assert caught.value.path == "/v1/auth"
    assert "data.token: Field required" in str(caught.value)


def test_validation_messages_never_quote_values(documents: Start, clients: Clients) -> None:
    """A wrongly typed token is reported by location only: the value never reaches the error."""
    leaked = "papi-should-never-be-quoted"
    body = copy.deepcopy({"success": True, "data": {"token": [leaked]}})
    server = documents({"/v1/auth": body})

    with pytest.raises(MalformedResponse) as caught:
        clients(server.url).get_employee(1)

    assert leaked not in str(caught.value)
    assert leaked not in repr(caught.value)


def test_a_401_after_renewal_is_an_auth_error(documents: Start, clients: Clients) -> None:
    """A data call refused with 401 is retried once with a fresh token, then ``AuthError``."""
    refused = {"success": False, "error": {"code": 401, "message": "Authorization is not provided"}}
    server = documents({EMPLOYEES: raw(json.dumps(refused), 401)})

    with pytest.raises(AuthError) as caught:
        list(clients(server.url).iter_employees())

    assert (caught.value.status, caught.value.path) == (401, EMPLOYEES)
    assert "PERSONIO_CLIENT_SECRET" in (caught.value.hint or "")
    paths = [url.path for url in server.requests]
    assert paths == ["/v1/auth", EMPLOYEES, "/v1/auth", EMPLOYEES]

"""The Personio emulator held to Personio's published documents, over real HTTP (STYLE §7.7).

Responses are validated with ``tests/openapi_check.py`` against
``personio-personnel-data-api-oa3.yaml`` and ``personio-auth-api.yaml``, after fixing two
defects of the document that make its own examples and Personio's recorded responses fail:

- ``Response.data`` is typed ``object`` and ``EmployeesResponse`` adds ``data`` as an array
  through ``allOf``: no list can satisfy both, not even the document's example; the ``object``
  type is dropped.
- the org and supervisor ``value`` schemas (``Office``, ``Department``, ``Team``,
  ``ShortEmployee``) are not nullable, but real responses carry ``null`` when unset
  (``recorded/personio/get-employees.json``): they are made nullable.

Error statuses the document lists for no employee endpoint (401, 403, 429) are checked
against its ``ErrorResponse`` schema directly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_schema_validator import OAS30Validator

from personio360.emulators.company import generate_company, install, learning360_state_for
from personio360.emulators.personio import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PersonioEmulator,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from openapi_check import API_DIR, OpenApiCheck

V1 = "personio-personnel-data-api-oa3.yaml"
PARTNER = {"X-Personio-Partner-ID": "PERSONIO360", "X-Personio-App-ID": "PERSONIO360_SYNC"}


def _fixed_document() -> dict[str, Any]:
    data = yaml.safe_load((API_DIR / V1).read_text(encoding="utf-8"))
    data = json.loads(json.dumps(data, default=str))  # YAML dates and int keys as strings
    data.pop("security", None)
    for item in data["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    schemas = data["components"]["schemas"]
    schemas["Response"]["properties"]["data"].pop("type")
    for name in ("Office", "Department", "Team"):
        schemas[name]["properties"]["value"]["nullable"] = True
    schemas["ShortEmployee"]["nullable"] = True
    data["servers"] = [{"url": "https://api.personio.de/v1"}]
    return data


@pytest.fixture(scope="module")
def v1() -> OpenApiCheck:
    check = OpenApiCheck(V1)
    check.api = OpenAPI.from_dict(_fixed_document(), config=Config(spec_validator_cls=None))
    return check


@pytest.fixture(scope="module")
def error_schema() -> OAS30Validator:
    return OAS30Validator(_fixed_document()["components"]["schemas"]["ErrorResponse"])


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    company = generate_company(40, seed=7)
    emulator = PersonioEmulator(rate_limits=False)
    install(company, emulator.state, learning360_state_for(company))
    with emulator, httpx.Client(base_url=emulator.url) as http:
        reply = http.post("/v1/auth", json={"client_id": DEFAULT_CLIENT_ID,
                                            "client_secret": DEFAULT_CLIENT_SECRET})
        http.headers["Authorization"] = f"Bearer {reply.json()['data']['token']}"
        yield http


def test_auth_json_and_form_bodies_conform() -> None:
    """POST /v1/auth answers both documented body types with the documented token response."""
    check = OpenApiCheck("personio-auth-api.yaml")
    credentials = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
    with PersonioEmulator() as emulator, httpx.Client(base_url=emulator.url) as http:
        for reply in (http.post("/v1/auth", json=credentials),
                      http.post("/v1/auth", data=credentials)):
            check.validate(reply.request, reply)
            assert reply.json()["data"]["token"].startswith("papi-")
            assert reply.json()["data"]["expires_in"] == 86400


def test_employee_list_pages_conform(client: httpx.Client, v1: OpenApiCheck) -> None:
    """Every page of GET /company/employees validates against EmployeesResponse."""
    for offset in (0, 15, 30):
        reply = client.get("/v1/company/employees", params={"limit": 15, "offset": offset})
        v1.validate(reply.request, reply)
        assert reply.json()["data"]


def test_employee_projection_and_filters_conform(client: httpx.Client, v1: OpenApiCheck) -> None:
    """attributes[], email and updated_since requests and answers conform."""
    requests = [
        [("attributes[]", "first_name"), ("attributes[]", "email")],
        [("email", client.get("/v1/company/employees").json()["data"][0]["attributes"]
          ["email"]["value"])],
        [("updated_since", "2022-12-24T08:15:30"), ("limit", "100")],
        [("updated_since", "2022-12-24")],
    ]
    for params in requests:
        reply = client.get("/v1/company/employees", params=params)
        v1.validate(reply.request, reply)
        assert reply.status_code == 200


def test_get_employee_and_404_conform(client: httpx.Client, v1: OpenApiCheck) -> None:
    """GET /company/employees/{id} answers EmployeeResponse, or the documented German 404."""
    found = client.get("/v1/company/employees/1001")
    v1.validate(found.request, found)
    missing = client.get("/v1/company/employees/999999")
    v1.validate(missing.request, missing)
    assert missing.json() == {"success": False,
                              "error": {"code": 404, "message": "Es ist ein Problem aufgetreten "}}


def test_attribute_catalogue_conforms(client: httpx.Client, v1: OpenApiCheck) -> None:
    """Both catalogue endpoints answer the documented list of allowed attributes."""
    for path in ("/v1/company/employees/attributes", "/v1/company/employees/custom-attributes"):
        reply = client.get(path, headers=PARTNER)
        v1.validate(reply.request, reply)
        keys = {a["key"] for a in reply.json()["data"]}
        assert {"first_name", "email", "office", "dynamic_1000001"} <= keys


def test_employee_matches_the_documented_example_shapes(client: httpx.Client) -> None:
    """Envelopes, org objects, supervisor, cost centers and dates look like the examples."""
    data = client.get("/v1/company/employees", params={"limit": 100}).json()["data"]
    example = yaml.safe_load((API_DIR / V1).read_text(encoding="utf-8"))["paths"][
        "/company/employees"]["get"]["responses"]["200"]["content"]["application/json"][
        "examples"]["response"]["value"]["data"][0]["attributes"]
    for employee in data:
        attributes = employee["attributes"]
        assert employee["type"] == "Employee"
        for key, envelope in attributes.items():
            assert set(envelope) == {"label", "value", "type", "universal_id"}, key
            if key in example:
                assert envelope["label"] == example[key]["label"], key
                assert envelope["type"] == example[key]["type"], key
        office = attributes["office"]["value"]
        assert office["type"] == "Office"
        assert set(office["attributes"]) == {"id", "name"}
        assert isinstance(attributes["cost_centers"]["value"], list)
        hire = attributes["hire_date"]["value"]
        assert hire[10:19] == "T00:00:00"
        assert hire[19:] in ("+01:00", "+02:00")
    bosses = [e["attributes"]["supervisor"]["value"] for e in data]
    assert None in bosses
    boss = next(b for b in bosses if b is not None)
    assert boss["type"] == "Employee"
    assert isinstance(boss["attributes"]["id"]["value"], int)


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer papi-unknown"}, 401),
    ({"Authorization": "Basic abc"}, 403),
])
def test_auth_errors_use_the_error_response_schema(
        client: httpx.Client, error_schema: OAS30Validator,
        headers: dict[str, str], status: int) -> None:
    """Missing, unknown and malformed authorization answer ErrorResponse bodies."""
    reply = httpx.get(f"{client.base_url}/v1/company/employees", headers=headers)
    assert reply.status_code == status
    error_schema.validate(reply.json())
    assert reply.json()["success"] is False
    assert reply.json()["error"]["code"] == status

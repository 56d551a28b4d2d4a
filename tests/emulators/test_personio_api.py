"""The Personio emulator's behaviour over real HTTP: paging, whitelist, auth, limits, faults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from personio360.emulators.faults import Fault, FaultPlan
from personio360.emulators.personio import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PersonioEmulator,
    PersonioState,
)

CREDENTIALS = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
PARTNER = {"X-Personio-Partner-ID": "PERSONIO360", "X-Personio-App-ID": "PERSONIO360_SYNC"}


def _staff(emulator: PersonioEmulator, count: int) -> list[int]:
    state = emulator.state
    boss = state.hire(first_name="Zoë", last_name="Chef", email="zoe@acme.example",
                      office="Berlin", department="Management", hire_date=dt.date(2014, 11, 9))
    return [boss] + [state.hire(first_name=f"E{i}", last_name="Worker", supervisor=boss,
                                email=f"e{i}@acme.example", office="München")
                     for i in range(count - 1)]


def _login(http: httpx.Client) -> None:
    reply = http.post("/v1/auth", json=CREDENTIALS)
    assert reply.status_code == 200, reply.text
    http.headers["Authorization"] = f"Bearer {reply.json()['data']['token']}"


@pytest.fixture
def emulator() -> Iterator[PersonioEmulator]:
    with PersonioEmulator(rate_limits=False) as running:
        yield running


@pytest.fixture
def http(emulator: PersonioEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url) as client:
        _login(client)
        yield client


def _ids(reply: httpx.Response) -> list[int]:
    return [e["attributes"]["id"]["value"] for e in reply.json()["data"]]


def test_pagination_walks_every_employee_once(emulator: PersonioEmulator,
                                              http: httpx.Client) -> None:
    """offset counts records, current_page is 0-based, total_pages = ceil(total / limit)."""
    ids = _staff(emulator, 237)
    seen: list[int] = []
    offset = 0
    while True:
        body = http.get("/v1/company/employees", params={"limit": 100, "offset": offset}).json()
        assert body["metadata"] == {"total_elements": 237, "current_page": offset // 100,
                                    "total_pages": 3}
        assert (body["offset"], body["limit"]) == (offset, 100)
        seen += [e["attributes"]["id"]["value"] for e in body["data"]]
        if body["metadata"]["current_page"] >= body["metadata"]["total_pages"] - 1:
            break
        offset += 100
    assert seen == ids
    past_the_end = http.get("/v1/company/employees", params={"offset": 500}).json()
    assert past_the_end["data"] == []
    assert past_the_end["limit"] == 50


@pytest.mark.parametrize("limit", ["101", "0", "-3", "ten"])
def test_limit_outside_1_to_100_is_refused(http: httpx.Client, limit: str) -> None:
    """limit > 100 (enforced since 2025-01-31) and non-positive limits answer 400."""
    reply = http.get("/v1/company/employees", params={"limit": limit})
    assert reply.status_code == 400
    assert reply.json() == {"success": False, "error": {
        "code": 400, "message": "The limit must be between 1 and 100."}}


def test_default_limit_is_50(emulator: PersonioEmulator, http: httpx.Client) -> None:
    """Without limit a page holds 50 employees."""
    _staff(emulator, 60)
    body = http.get("/v1/company/employees").json()
    assert (len(body["data"]), body["limit"], body["metadata"]["total_pages"]) == (50, 50, 2)


def test_non_whitelisted_attributes_are_absent(emulator: PersonioEmulator,
                                               http: httpx.Client) -> None:
    """An attribute the credentials may not read is left out of employees and the catalogue."""
    [boss] = _staff(emulator, 1)
    emulator.state.define_attribute("dynamic_42", "Salary band", whitelisted=False)
    emulator.state.update(boss, dynamic_42="L3")
    emulator.state.set_whitelisted("email", False)
    attributes = http.get(f"/v1/company/employees/{boss}").json()["data"]["attributes"]
    assert "dynamic_42" not in attributes
    assert "email" not in attributes
    assert attributes["first_name"]["value"] == "Zoë"
    catalogue = http.get("/v1/company/employees/attributes", headers=PARTNER).json()["data"]
    assert {"dynamic_42", "email", "id"}.isdisjoint(a["key"] for a in catalogue)


def test_attribute_projection_keeps_id(emulator: PersonioEmulator, http: httpx.Client) -> None:
    """attributes[] returns only the asked attributes, plus the id."""
    _staff(emulator, 2)
    reply = http.get("/v1/company/employees", params=[("attributes[]", "last_name")])
    assert all(set(e["attributes"]) == {"id", "last_name"} for e in reply.json()["data"])


def test_email_filter_is_a_list(emulator: PersonioEmulator, http: httpx.Client) -> None:
    """email= answers a one-element list, matched case-insensitively."""
    ids = _staff(emulator, 3)
    reply = http.get("/v1/company/employees", params={"email": "E1@ACME.example"})
    assert _ids(reply) == [ids[2]]
    assert reply.json()["metadata"]["total_elements"] == 1


def test_updated_since_selects_changed_attributes() -> None:
    """updated_since returns employees changed after it; with attributes[] only those keys."""
    clock = [dt.datetime(2025, 1, 1, tzinfo=dt.UTC)]
    state = PersonioState(clock=lambda: clock[0])
    with PersonioEmulator(state=state, rate_limits=False) as emulator, \
            httpx.Client(base_url=emulator.url) as http:
        _login(http)
        ids = _staff(emulator, 3)
        clock[0] = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
        state.update(ids[1], position="Lead")
        state.update(ids[2], first_name="Renamed")
        since = {"updated_since": "2025-02-01"}
        assert _ids(http.get("/v1/company/employees", params=since)) == ids[1:]
        only = [*since.items(), ("attributes[]", "position")]
        assert _ids(http.get("/v1/company/employees", params=only)) == [ids[1]]
        bad = http.get("/v1/company/employees", params={"updated_since": "last week"})
        assert bad.status_code == 400


def test_wrong_credentials_and_query_string_are_refused() -> None:
    """Wrong credentials answer 401; credentials in the query string answer 403."""
    with PersonioEmulator() as emulator, httpx.Client(base_url=emulator.url) as http:
        wrong = http.post("/v1/auth", json={**CREDENTIALS, "client_secret": "nope"})
        assert wrong.status_code == 401
        assert wrong.json() == {"success": False,
                                "error": {"code": 401, "message": "Wrong credentials"}}
        assert "nope" not in wrong.text
        query = http.post("/v1/auth", params=CREDENTIALS)
        assert query.status_code == 403
        assert query.json()["success"] is False


def test_auth_returns_the_same_token_until_it_expires() -> None:
    """Calling /v1/auth again within the TTL answers the same papi- token."""
    with PersonioEmulator() as emulator, httpx.Client(base_url=emulator.url) as http:
        first = http.post("/v1/auth", json=CREDENTIALS).json()["data"]["token"]
        second = http.post("/v1/auth", data=CREDENTIALS).json()["data"]["token"]
        assert first == second
        assert first.startswith("papi-")


def test_expired_token_answers_401_and_a_new_one_works() -> None:
    """With a zero TTL the token is refused at once; re-authenticating gives a fresh one."""
    with PersonioEmulator(token_ttl=0.0) as emulator, \
            httpx.Client(base_url=emulator.url) as http:
        first = http.post("/v1/auth", json=CREDENTIALS).json()["data"]
        assert first["expires_in"] == 0
        reply = http.get("/v1/company/employees",
                         headers={"Authorization": f"Bearer {first['token']}"})
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == 401
        assert http.post("/v1/auth", json=CREDENTIALS).json()["data"]["token"] != first["token"]


def test_control_surface_expires_tokens(http: httpx.Client) -> None:
    """POST /_emulator/tokens/expire makes the current token answer 401."""
    assert http.get("/v1/company/employees").status_code == 200
    http.post("/_emulator/tokens/expire")
    assert http.get("/v1/company/employees").status_code == 401


def test_catalogue_requires_partner_headers(http: httpx.Client) -> None:
    """Without X-Personio-Partner-ID and X-Personio-App-ID the catalogue answers 403."""
    reply = http.get("/v1/company/employees/attributes", headers={"X-Personio-App-ID": "A"})
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == 403


def test_employee_list_burst_is_rate_limited() -> None:
    """Past the burst the list answers 429 with Personio's error body and a Retry-After."""
    with PersonioEmulator(rate_limit_factor=0.01) as emulator, \
            httpx.Client(base_url=emulator.url) as http:
        _login(http)
        statuses = [http.get("/v1/company/employees").status_code for _ in range(3)]
        assert statuses[0] == 200
        assert 429 in statuses
        limited = http.get("/v1/company/employees")
        assert limited.json() == {"success": False,
                                  "error": {"code": 429, "message": "Too Many Requests"}}
        assert int(limited.headers["retry-after"]) >= 1


def test_auth_is_rate_limited_with_a_cool_down() -> None:
    """/v1/auth past its limit answers 429 and keeps refusing during the cool-down."""
    with PersonioEmulator(rate_limit_factor=0.01) as emulator, \
            httpx.Client(base_url=emulator.url) as http:
        assert http.post("/v1/auth", json=CREDENTIALS).status_code == 200
        refused = [http.post("/v1/auth", json=CREDENTIALS) for _ in range(2)]
        assert [r.status_code for r in refused] == [429, 429]
        assert int(refused[1].headers["retry-after"]) > 60


def test_faults_answer_personio_errors_and_count(emulator: PersonioEmulator,
                                                 http: httpx.Client) -> None:
    """A status fault set through /_emulator/faults answers Personio's error body once."""
    _staff(emulator, 2)
    plan = {"faults": [{"kind": "status", "status": 503, "path": "^/v1/company/employees$",
                        "count": 1}]}
    assert http.put("/_emulator/faults", json=plan).status_code == 200
    failed = http.get("/v1/company/employees")
    assert failed.status_code == 503
    assert failed.json()["success"] is False
    assert http.get("/v1/company/employees").status_code == 200
    assert http.get("/_emulator/faults").json()["injected"] == {"status_503": 1}


def test_constructor_fault_plan_drops_connections() -> None:
    """A drop fault from the constructor breaks the connection without touching state."""
    plan = FaultPlan([Fault(kind="drop", path="/v1/company/employees", count=1)])
    with PersonioEmulator(faults=plan, rate_limits=False) as emulator, \
            httpx.Client(base_url=emulator.url) as http:
        _login(http)
        with pytest.raises(httpx.HTTPError):
            http.get("/v1/company/employees").read()
        assert http.get("/v1/company/employees").status_code == 200


def test_stats_count_calls_by_kind_and_template(emulator: PersonioEmulator,
                                                http: httpx.Client) -> None:
    """CallStats counts auth and read calls by endpoint template; reset clears them."""
    [boss] = _staff(emulator, 1)
    http.get(f"/v1/company/employees/{boss}")
    http.get("/v1/company/employees/999")
    stats = http.get("/_emulator/stats").json()
    assert stats["by_kind"] == {"auth": 1, "read": 2}
    assert stats["by_endpoint"]["GET /v1/company/employees/{employee_id}"] == 2
    assert stats["by_status"] == {"200": 2, "404": 1}
    http.post("/_emulator/stats/reset")
    assert emulator.stats.count("read") == 0


def _api_employee(http: httpx.Client, employee_id: int) -> dict[str, Any]:
    reply = http.get(f"/v1/company/employees/{employee_id}")
    return reply.json()["data"]["attributes"] if reply.status_code == 200 else {}


def test_control_surface_changes_show_in_the_api(http: httpx.Client) -> None:
    """Hire, change, terminate and remove through /_emulator; the API reflects each step."""
    boss = http.post("/_emulator/employees", json={"first_name": "Ada", "last_name": "L",
                                                   "email": "ada@acme.example"}).json()["id"]
    hired = http.post("/_emulator/employees", json={
        "first_name": "Łukasz", "last_name": "Wróbel", "email": "lukasz@acme.example",
        "office": "Kraków", "supervisor": boss, "hire_date": "2024-03-01"})
    assert hired.status_code == 201
    worker = hired.json()["id"]
    attributes = _api_employee(http, worker)
    assert attributes["office"]["value"]["attributes"]["name"] == "Kraków"
    assert attributes["supervisor"]["value"]["attributes"]["id"]["value"] == boss
    assert attributes["hire_date"]["value"] == "2024-03-01T00:00:00+01:00"
    http.patch(f"/_emulator/employees/{worker}", json={"position": "SRE", "office": None})
    attributes = _api_employee(http, worker)
    assert (attributes["position"]["value"], attributes["office"]["value"]) == ("SRE", None)
    http.post(f"/_emulator/employees/{boss}/terminate", json={"on": "2025-05-31"})
    attributes = _api_employee(http, boss)
    assert attributes["status"]["value"] == "inactive"
    assert attributes["termination_date"]["value"] == "2025-05-31T00:00:00+02:00"
    assert http.delete(f"/_emulator/employees/{boss}").status_code == 204
    assert _api_employee(http, boss) == {}
    assert _api_employee(http, worker)["supervisor"]["value"] is None
    listed = http.get("/_emulator/employees").json()
    assert [e["id"] for e in listed] == [worker]
    assert listed[0]["hire_date"] == "2024-03-01"


def test_control_surface_rejects_bad_changes(http: httpx.Client) -> None:
    """Unknown attributes, statuses and supervisors answer 400; unknown employees 404."""
    assert http.post("/_emulator/employees", json={"colour": "red"}).status_code == 400
    assert http.post("/_emulator/employees", json={"status": "gone"}).status_code == 400
    assert http.post("/_emulator/employees", json={"supervisor": 77}).status_code == 400
    assert http.patch("/_emulator/employees/77", json={}).status_code == 404
    assert http.delete("/_emulator/employees/77").status_code == 404

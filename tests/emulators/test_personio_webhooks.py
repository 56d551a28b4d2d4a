"""The Personio emulator's v2 token, ``/v2/webhooks`` API and dataless deliveries (R17).

Everything goes over real HTTP: the emulator on loopback, a little receiver (``conftest``)
on another port. Retry delays are compressed (``time_scale``) and tests wait for deliveries
through ``POST /_emulator/deliveries/wait``, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from secrets import token_hex
from typing import Any

import httpx
import pytest
from conftest import Receiver

from personio360.emulators.personio import DEFAULT_CLIENT_SECRET, PersonioEmulator
from personio360.emulators.personio.webhooks import employment_id

ALL_EVENTS = ["person.created", "person.updated", "person.deleted", "employment.created",
              "employment.updated", "employment.deleted"]
TOKEN = "Bearer " + token_hex(16)  # made per run: no token is written in the repository


@pytest.fixture
def personio() -> Iterator[PersonioEmulator]:
    with PersonioEmulator(rate_limits=False, time_scale=1e6, webhook_timeout=0.3,
                          company_id="777") as emulator:
        yield emulator


@pytest.fixture
def api(personio: PersonioEmulator) -> Iterator[httpx.Client]:
    """A client holding a v2 token with every scope."""
    with httpx.Client(base_url=personio.url) as client:
        token = client.post("/v2/auth/token", data={
            "grant_type": "client_credentials", "client_id": personio.client_id,
            "client_secret": DEFAULT_CLIENT_SECRET}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def subscribe(api: httpx.Client, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body = {"url": receiver.url, "description": "personio360", "status": "ENABLED",
            "auth_type": "TOKEN", "token": TOKEN, "enabled_events": ALL_EVENTS, **extra}
    response = api.post("/v2/webhooks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def settle(api: httpx.Client) -> dict[str, Any]:
    """Wait until every queued delivery (retries included) is done."""
    state = api.post("/_emulator/deliveries/wait", params={"timeout": 10}).json()
    assert state["idle"], state
    return dict(state)


def hire(api: httpx.Client, **values: Any) -> int:
    body = {"first_name": "Zoë", "last_name": "Dubois", "email": "zoe@acme.example", **values}
    return int(api.post("/_emulator/employees", json=body).json()["id"])


# --- /v2/auth/token ------------------------------------------------------------------------


def test_v2_token_answers_the_documented_fields(personio: PersonioEmulator) -> None:
    """A form body with the v1 credentials gets access_token, token_type, expires_in, scope."""
    response = httpx.post(f"{personio.url}/v2/auth/token", data={
        "grant_type": "client_credentials", "client_id": personio.client_id,
        "client_secret": DEFAULT_CLIENT_SECRET, "scope": "personio:webhooks:read"})
    body = response.json()
    assert response.status_code == 200
    assert body["access_token"].startswith("papi-")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["scope"] == "personio:webhooks:read"


@pytest.mark.parametrize(("form", "error"), [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"scope": "personio:everything"}, "invalid_scope"),
])
def test_v2_token_refusals_are_oauth_problems(personio: PersonioEmulator, form: dict[str, str],
                                              error: str) -> None:
    """Wrong credentials, grant or scope: 400 application/problem+json with the OAuth code."""
    data = {"grant_type": "client_credentials", "client_id": personio.client_id,
            "client_secret": DEFAULT_CLIENT_SECRET, **form}
    response = httpx.post(f"{personio.url}/v2/auth/token", data=data)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error"] == error
    assert "trace_id" in response.json()


def test_v2_token_wants_a_form_body(personio: PersonioEmulator) -> None:
    """A JSON body is an invalid_request (the endpoint is form-encoded only)."""
    response = httpx.post(f"{personio.url}/v2/auth/token", json={
        "grant_type": "client_credentials", "client_id": personio.client_id,
        "client_secret": DEFAULT_CLIENT_SECRET})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- /v2/webhooks management ---------------------------------------------------------------


def test_webhooks_need_a_v2_bearer_token_with_the_scope(personio: PersonioEmulator) -> None:
    """No token or a v1 token: 401; a token without the webhooks scopes: 403."""
    base = personio.url
    assert httpx.get(f"{base}/v2/webhooks").status_code == 401
    v1 = httpx.post(f"{base}/v1/auth", json={"client_id": personio.client_id,
                                             "client_secret": DEFAULT_CLIENT_SECRET})
    v1_token = v1.json()["data"]["token"]
    assert httpx.get(f"{base}/v2/webhooks",
                     headers={"Authorization": f"Bearer {v1_token}"}).status_code == 401
    narrow = httpx.post(f"{base}/v2/auth/token", data={
        "grant_type": "client_credentials", "client_id": personio.client_id,
        "client_secret": DEFAULT_CLIENT_SECRET, "scope": "personio:persons:read"})
    headers = {"Authorization": f"Bearer {narrow.json()['access_token']}"}
    response = httpx.get(f"{base}/v2/webhooks", headers=headers)
    assert response.status_code == 403
    assert response.json()["errors"][0]["title"] == "Forbidden"


def test_create_defaults_to_disabled_token_auth_and_hides_the_token(api: httpx.Client) -> None:
    """201; status DISABLED and auth_type TOKEN by default; the token is never shown."""
    response = api.post("/v2/webhooks", json={
        "url": "https://sync.example.com/hooks/personio", "description": "sync",
        "token": TOKEN, "enabled_events": ["person.updated"]})
    hook = response.json()
    assert response.status_code == 201
    assert hook["status"] == "DISABLED"
    assert hook["auth_type"] == "TOKEN"
    assert "token" not in hook
    assert TOKEN not in response.text
    assert api.get(f"/v2/webhooks/{hook['id']}").json() == hook
    assert api.get("/v2/webhooks").json()["_data"] == [hook]


def test_same_url_conflicts(api: httpx.Client) -> None:
    """A second webhook for the same URL: 409, on create and on PATCH."""
    body = {"url": "https://a.example.com/h", "description": "a", "token": TOKEN,
            "enabled_events": ["person.updated"]}
    assert api.post("/v2/webhooks", json=body).status_code == 201
    assert api.post("/v2/webhooks", json=body).status_code == 409
    other = api.post("/v2/webhooks", json={**body, "url": "https://b.example.com/h"}).json()
    response = api.patch(f"/v2/webhooks/{other['id']}", json={"url": body["url"]})
    assert response.status_code == 409


@pytest.mark.parametrize("change", [
    {"url": "http://sync.example.com/hooks"},  # plain http off loopback
    {"url": "not a url"},
    {"description": ""},
    {"enabled_events": ["person.exploded"]},
    {"enabled_events": []},
    {"status": "ON"},
    {"auth_type": "TOKEN", "token": None},
    {"auth_type": "CUSTOM", "custom_headers": {"Content-Type": "x"}},
    {"secret_sauce": 1},
])
def test_invalid_bodies_are_422(api: httpx.Client, change: dict[str, Any]) -> None:
    """Every invalid field answers 422 in v2's ErrorResponse shape, naming the field."""
    body = {"url": "https://sync.example.com/h", "description": "d", "token": TOKEN,
            "enabled_events": ["person.updated"], **change}
    response = api.post("/v2/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["detail"]
    assert TOKEN not in response.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://localhost:9/h",
                                 "http://[::1]:9/h"])
def test_plain_http_is_allowed_on_loopback(api: httpx.Client, url: str) -> None:
    """The emulator accepts http:// for loopback hosts, where the tests' receivers live."""
    response = api.post("/v2/webhooks", json={"url": url, "description": "d", "token": TOKEN,
                                              "enabled_events": ["person.updated"]})
    assert response.status_code == 201


def test_patch_merges_and_delete_removes(api: httpx.Client, receiver: Receiver) -> None:
    """PATCH changes only the given fields; DELETE answers 204, then the webhook is 404."""
    hook = subscribe(api, receiver, status="DISABLED")
    patched = api.patch(f"/v2/webhooks/{hook['id']}", json={"status": "ENABLED"}).json()
    assert patched["status"] == "ENABLED"
    assert patched["url"] == hook["url"]
    assert patched["enabled_events"] == ALL_EVENTS
    assert api.delete(f"/v2/webhooks/{hook['id']}").status_code == 204
    for path in ("", "/activity", "/events"):
        assert api.get(f"/v2/webhooks/{hook['id']}{path}").status_code == 404
    assert api.post(f"/v2/webhooks/{hook['id']}/ping").status_code == 404


def test_malformed_json_is_400(api: httpx.Client) -> None:
    response = api.post("/v2/webhooks", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400


# --- deliveries ----------------------------------------------------------------------------


def test_a_hire_delivers_two_dataless_events_with_the_token(api: httpx.Client,
                                                            receiver: Receiver) -> None:
    """person.created and employment.created: ids only, the token byte for byte."""
    subscribe(api, receiver)
    employee_id = hire(api)
    settle(api)
    assert receiver.events() == ["person.created", "employment.created"]
    person, employment = receiver.bodies
    assert person["payload"] == {"person": {"id": str(employee_id)}}
    assert employment["payload"] == {"employment": {"id": employment_id(employee_id)},
                                     "person": {"id": str(employee_id)}}
    for body, request in zip(receiver.bodies, receiver.requests, strict=True):
        assert body["company_id"] == "777"
        assert set(body) == {"company_id", "event_name", "occurred_at", "payload", "meta"}
        assert body["occurred_at"].endswith("Z")
        assert request.headers["authorization"] == TOKEN
        assert request.headers["content-type"] == "application/json"
        assert "zoe" not in request.body.decode()


@pytest.mark.parametrize(("change", "events"), [
    ({"first_name": "Zoé"}, ["person.updated"]),
    ({"email": "zoe.dubois@acme.example"}, ["person.updated"]),
    ({"office": "Berlin"}, ["employment.updated"]),
    ({"position": "Engineer"}, ["employment.updated"]),
    ({"last_name": "Martin", "department": "Sales"}, ["person.updated", "employment.updated"]),
])
def test_edits_map_to_person_or_employment_updates(api: httpx.Client, receiver: Receiver,
                                                   change: dict[str, Any],
                                                   events: list[str]) -> None:
    """Person fields fire person.updated; employment attributes fire employment.updated."""
    employee_id = hire(api, office="Paris", department="Finance")
    subscribe(api, receiver)
    api.patch(f"/_emulator/employees/{employee_id}", json=change)
    settle(api)
    assert receiver.events() == events


def test_custom_attribute_edit_is_a_person_update(personio: PersonioEmulator,
                                                  api: httpx.Client, receiver: Receiver) -> None:
    """Any custom attribute change fires person.updated (§1.4)."""
    personio.state.define_attribute("dynamic_1000001", "T-shirt size")
    employee_id = hire(api)
    subscribe(api, receiver)
    api.patch(f"/_emulator/employees/{employee_id}", json={"dynamic_1000001": "M"})
    settle(api)
    assert receiver.events() == ["person.updated"]


def test_termination_and_deletion(api: httpx.Client, receiver: Receiver) -> None:
    """A termination is employment.updated; a deletion person.deleted + employment.deleted,
    and the reports who lose their supervisor get employment.updated."""
    lead = hire(api)
    report = hire(api, supervisor=lead, email="r@acme.example")
    subscribe(api, receiver)
    api.post(f"/_emulator/employees/{report}/terminate", json={})
    settle(api)
    assert receiver.events() == ["employment.updated"]
    api.delete(f"/_emulator/employees/{lead}")
    settle(api)
    assert receiver.events()[1:] == ["person.deleted", "employment.deleted",
                                     "employment.updated"]
    assert receiver.bodies[3]["payload"]["person"]["id"] == str(report)


def test_only_enabled_subscribed_webhooks_receive(api: httpx.Client, receiver: Receiver) -> None:
    """A DISABLED webhook and an event not subscribed to get nothing; a no-op edit neither."""
    hook = subscribe(api, receiver, status="DISABLED")
    employee_id = hire(api)
    api.patch(f"/v2/webhooks/{hook['id']}",
              json={"status": "ENABLED", "enabled_events": ["employment.updated"]})
    api.patch(f"/_emulator/employees/{employee_id}", json={"first_name": "Zoé"})
    api.patch(f"/_emulator/employees/{employee_id}", json={"first_name": "Zoé"})
    settle(api)
    assert receiver.requests == []


def test_ping_reaches_even_a_disabled_webhook(api: httpx.Client, receiver: Receiver) -> None:
    """POST /{id}/ping queues a ping event that shows in /events and /activity."""
    hook = subscribe(api, receiver, status="DISABLED")
    response = api.post(f"/v2/webhooks/{hook['id']}/ping")
    assert response.status_code == 200
    assert response.json()["_data"]["event_name"] == "ping"
    settle(api)
    assert receiver.events() == ["ping"]
    assert api.get(f"/v2/webhooks/{hook['id']}/events").json()["_data"][0]["event_name"] == "ping"


def test_5xx_is_retried_with_a_fast_second_request(api: httpx.Client,
                                                   receiver: Receiver) -> None:
    """500 then 503 then 200: the attempt's second request and the next attempt; every
    request is in the activity log, filterable by is_delivered and event_name."""
    hook = subscribe(api, receiver, enabled_events=["person.updated"])
    employee_id = hire(api)
    receiver.answers = [500, 503]
    api.patch(f"/_emulator/employees/{employee_id}", json={"first_name": "Zoé"})
    settle(api)
    assert receiver.events() == ["person.updated"] * 3
    assert len({r.body for r in receiver.requests}) == 1  # the same event each time
    rows = api.get(f"/v2/webhooks/{hook['id']}/activity").json()["_data"]
    assert [(r["attempt"], r["request"], r["status_code"]) for r in reversed(rows)] == [
        (1, 1, 500), (1, 2, 503), (2, 1, 200)]
    delivered = api.get(f"/v2/webhooks/{hook['id']}/activity",
                        params={"is_delivered": "true"}).json()["_data"]
    assert [r["status_code"] for r in delivered] == [200]
    none = api.get(f"/v2/webhooks/{hook['id']}/activity",
                   params={"event_name": "person.created"}).json()["_data"]
    assert none == []
    since = api.get(f"/v2/webhooks/{hook['id']}/activity",
                    params={"completed_at.gte": rows[0]["completed_at"]}).json()["_data"]
    assert rows[0] in since


@pytest.mark.parametrize("status", [400, 401, 404, 501, 302])
def test_4xx_501_and_redirects_are_not_retried(api: httpx.Client, receiver: Receiver,
                                               status: int) -> None:
    """One request only: 4xx, 501 and 3xx (redirects are not followed) are final."""
    subscribe(api, receiver, enabled_events=["person.created"])
    receiver.default = status
    hire(api)
    settle(api)
    assert len(receiver.requests) == 1


def test_a_timeout_is_retried(api: httpx.Client, receiver: Receiver) -> None:
    """No answer within the timeout counts as a failure and is retried."""
    hook = subscribe(api, receiver, enabled_events=["person.created"])
    receiver.answers = [("hang", 0.6)]
    hire(api)
    settle(api)
    rows = api.get(f"/v2/webhooks/{hook['id']}/activity").json()["_data"]
    assert [(r["error"], r["is_delivered"]) for r in reversed(rows)] == [
        ("timeout", False), (None, True)]


def test_persistent_failure_stops_after_fourteen_requests(personio: PersonioEmulator,
                                                          api: httpx.Client,
                                                          receiver: Receiver) -> None:
    """7 attempts (the first and 6 retries) of 2 requests: the documented 14 at most."""
    subscribe(api, receiver, enabled_events=["person.created"])
    receiver.default = 503
    hire(api)
    settle(api)
    assert len(receiver.requests) == 14
    assert personio.deliveries.counts["failed"] == 1


def test_pagination_of_events(api: httpx.Client, receiver: Receiver) -> None:
    """limit and the cursor in _meta.links.next walk the events, newest first."""
    hook = subscribe(api, receiver, enabled_events=["person.created"])
    for n in range(3):
        hire(api, email=f"p{n}@acme.example")
    first = api.get(f"/v2/webhooks/{hook['id']}/events", params={"limit": 2}).json()
    second = httpx.get(first["_meta"]["links"]["next"]["href"], headers=api.headers).json()
    assert len(first["_data"]) == 2
    assert len(second["_data"]) == 1
    assert "next" not in second["_meta"]["links"]
    assert api.get(f"/v2/webhooks/{hook['id']}/events", params={"limit": 0}).status_code == 400


# --- delivery faults -----------------------------------------------------------------------


def faults(api: httpx.Client, *rules: dict[str, Any], seed: int = 0) -> None:
    response = api.put("/_emulator/faults", json={"faults": list(rules), "seed": seed})
    assert response.status_code == 200, response.text


def test_duplicate_fault_sends_an_event_twice(api: httpx.Client, receiver: Receiver) -> None:
    subscribe(api, receiver, enabled_events=["person.created"])
    faults(api, {"kind": "delivery_duplicate", "path": r"person\.created"})
    hire(api)
    settle(api)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body


def test_drop_fault_loses_an_event(api: httpx.Client, receiver: Receiver) -> None:
    """A dropped event is listed in /events but never sent (no activity)."""
    hook = subscribe(api, receiver, enabled_events=["person.created"])
    faults(api, {"kind": "delivery_drop", "count": 1})
    hire(api)
    hire(api, email="second@acme.example")
    settle(api)
    assert len(receiver.requests) == 1
    assert len(api.get(f"/v2/webhooks/{hook['id']}/events").json()["_data"]) == 2
    assert len(api.get(f"/v2/webhooks/{hook['id']}/activity").json()["_data"]) == 1


def test_reorder_fault_sends_an_event_after_the_next(api: httpx.Client,
                                                     receiver: Receiver) -> None:
    subscribe(api, receiver, enabled_events=["person.updated", "employment.updated"])
    employee_id = hire(api)
    faults(api, {"kind": "delivery_reorder", "path": r"person\.updated"})
    api.patch(f"/_emulator/employees/{employee_id}", json={"first_name": "Zoé"})
    api.patch(f"/_emulator/employees/{employee_id}", json={"office": "Lyon"})
    settle(api)
    assert receiver.events() == ["employment.updated", "person.updated"]


def test_a_lone_reordered_event_is_still_delivered(api: httpx.Client,
                                                   receiver: Receiver) -> None:
    """Waiting releases a held event when nothing follows it: at least once holds."""
    subscribe(api, receiver, enabled_events=["person.created"])
    faults(api, {"kind": "delivery_reorder"})
    hire(api)
    settle(api)
    assert receiver.events() == ["person.created"]


def test_delay_fault_and_pause_hold_deliveries(personio: PersonioEmulator, api: httpx.Client,
                                               receiver: Receiver) -> None:
    """A delayed or paused delivery is pending until it goes out; none is lost."""
    subscribe(api, receiver, enabled_events=["person.created"])
    faults(api, {"kind": "delivery_delay", "delay": 0.2})
    api.post("/_emulator/deliveries/pause")
    hire(api)
    assert api.get("/_emulator/deliveries").json()["pending"] == 1
    api.post("/_emulator/deliveries/resume")
    settle(api)
    assert len(receiver.requests) == 1
    assert personio.deliveries.counts["delayed"] == 1


def test_probabilistic_delivery_faults_replay_under_a_seed(api: httpx.Client,
                                                           receiver: Receiver) -> None:
    """The same seed drops the same events."""
    subscribe(api, receiver, enabled_events=["person.created"])
    outcomes = []
    for _ in range(2):
        faults(api, {"kind": "delivery_drop", "probability": 0.5}, seed=3)
        before = len(receiver.requests)
        ids = [hire(api, email=f"x{n}@acme.example") for n in range(8)]
        settle(api)
        got = {int(b["payload"]["person"]["id"]) for b in receiver.bodies[before:]}
        outcomes.append([i in got for i in ids])
    assert outcomes[0] == outcomes[1]
    assert 0 < sum(outcomes[0]) < 8

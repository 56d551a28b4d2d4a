"""The 360Learning emulator held to 360Learning's published OpenAPI documents (STYLE §7.7).

Every exchange goes over real HTTP with plain httpx, and an event hook validates every
request and response against ``360learning-core-api.openapi.json`` or
``360learning-bulk-api.openapi.json`` with ``tests/openapi_check.py``. Custom field values
are checked by their ``type`` rather than by the document's ``oneOf`` of two string branches,
which no value can satisfy (360learning.md, "Quirks"). Request bodies replay the documents'
own example values (``john.smith@yopmail.com``, ``Department``, ``945628-01``...).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.learning360.routes import ROUTES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from openapi_check import API_DIR, OpenApiCheck

CORE = "360learning-core-api.openapi.json"
BULK = "360learning-bulk-api.openapi.json"
_SCHEMAS = json.loads((API_DIR / CORE).read_text(encoding="utf-8"))["components"]["schemas"]


def example(schema: str) -> dict[str, Any]:
    """The document's own ``example`` of each property of ``schema`` (ids left out)."""
    return {name: prop["example"] for name, prop in _SCHEMAS[schema]["properties"].items()
            if "example" in prop and prop.get("format") != "ObjectId"}


class Checks:
    """One checker per document, routing each exchange by path; a request is validated
    when it succeeded (the error scenarios send invalid requests on purpose)."""

    def __init__(self) -> None:
        self.core, self.bulk = OpenApiCheck(CORE), OpenApiCheck(BULK)

    def __call__(self, response: httpx.Response) -> None:
        path = response.request.url.path
        if not path.startswith("/_emulator"):
            checker = self.bulk if path.startswith("/api/v2/bulk/") else self.core
            if response.status_code < 400:
                checker.validate_request(response.request)
            checker.validate_response(response.request, response)

    @property
    def seen(self) -> set[tuple[str, str]]:
        return {(m, t) for m, t, _ in self.core.seen | self.bulk.seen}


@contextmanager
def validated_client(emu: Learning360Emulator, checks: Checks) -> Iterator[httpx.Client]:
    """An authenticated httpx client whose every exchange is validated."""
    with httpx.Client(base_url=emu.url, event_hooks={"response": [checks]}) as client:
        token = client.post("/api/v2/oauth2/token", json={
            "grant_type": "client_credentials", "client_id": emu.client_id,
            "client_secret": emu.client_secret}).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "360-api-version": "v2.0"})
        yield client


@pytest.fixture
def emu() -> Iterator[Learning360Emulator]:
    with Learning360Emulator(rate_limits=False) as emulator:
        yield emulator


@pytest.fixture
def api(emu: Learning360Emulator) -> Iterator[httpx.Client]:
    with validated_client(emu, Checks()) as client:
        yield client


def _status(response: httpx.Response, status: int, code: str | None = None) -> Any:
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
    return response.json() if response.content else None


# --- scenarios (each one is a test, and all together the coverage test) ----------------


def token_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    url = "/api/v2/oauth2/token"
    good = {"grant_type": "client_credentials", "client_id": emu.client_id,
            "client_secret": emu.client_secret}
    assert _status(api.post(url, json=good), 200)["token_type"] == "Bearer"
    assert api.post(url, json={**good, "extra": 1}).json() == {"error": "invalid_request"}
    assert api.post(url, json={**good, "grant_type": "password"}).json() == {
        "error": "unsupported_grant_type"}
    bad = api.post(url, json={**good, "client_secret": "wrong"})
    assert (bad.status_code, bad.json()) == (401, {"error": "invalid_client"})


def users_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    group = emu.state.add_group("Sales")
    body = {**example("InputUserDTO"), "membership": {"groupId": group.id, "role": "learner"}}
    body.pop("primaryGroupId", None)
    created = _status(api.post("/api/v2/users", json=body), 201)
    assert created["mail"] == "john.smith@yopmail.com"
    assert created["status"] == "invited"
    user_id = created["_id"]
    assert _status(api.get(f"/api/v2/users/{user_id}"), 200)["job"] == "Boss"
    listed = _status(api.get("/api/v2/users", params={"mail[eq]": created["mail"]}), 200)
    assert [u["_id"] for u in listed] == [user_id]
    _status(api.get("/api/v2/users", params={"status[eq]": "invited", "username[ne]": "x"}), 200)
    patched = _status(api.patch(f"/api/v2/users/{user_id}", json={
        "job": "Architect", "phone": None}), 200)
    assert patched["job"] == "Architect"
    assert "phone" not in patched
    owner_mail = emu.state.user(emu.state.owner_id).mail
    _status(api.patch(f"/api/v2/users/{user_id}", json={"mail": owner_mail}), 400,
            "mailAlreadyUsed")
    assert _status(api.put(f"/api/v2/users/{user_id}/activate"), 200)["status"] == "active"
    _status(api.delete(f"/api/v2/users/{user_id}"), 204)
    assert _status(api.get(f"/api/v2/users/{user_id}"), 200)["status"] == "deleted"
    _status(api.put(f"/api/v2/users/{user_id}/activate"), 400, "userDeleted")
    restored = _status(api.post("/api/v2/users", json=body), 200)
    assert restored["_id"] == user_id
    assert restored["status"] == "invited"
    _status(api.delete(f"/api/v2/users/{emu.state.owner_id}"), 400, "userIsCompanyOwner")
    _status(api.get("/api/v2/users/507f1f77bcf86cd799439011"), 404, "userNotFound")
    _status(api.patch("/api/v2/users/507f1f77bcf86cd799439011", json={}), 404, "userNotFound")
    _status(api.delete("/api/v2/users/507f1f77bcf86cd799439011"), 404, "userNotFound")
    _status(api.put("/api/v2/users/507f1f77bcf86cd799439011/activate"), 404, "userNotFound")
    missing = {"membership": {"groupId": "507f1f77bcf86cd799439011", "role": "learner"}}
    _status(api.post("/api/v2/users", json={**missing, "mail": "x@y.zz"}), 404, "groupNotFound")
    _status(api.post("/api/v2/users", json={"membership": body["membership"]}), 400,
            "mailAndUsernameUndefined")
    _status(api.post("/api/v2/users", json={**body, "mail": owner_mail, "username": "o"}), 400,
            "mailAlreadyUsed")


def groups_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    state = emu.state
    team = state.add_group("Team", public=True)
    user = state.add_user("ada@example.com", "Ada", "Lovelace")
    groups = _status(api.get("/api/v2/groups"), 200)
    assert [g for g in groups if "parentId" not in g] == [
        {"_id": state.root_group_id, "name": "Example Company", "public": False}]
    assert _status(api.get(f"/api/v2/groups/{team.id}"), 200)["parentId"] == state.root_group_id
    _status(api.get("/api/v2/groups/507f1f77bcf86cd799439011"), 404, "groupNotFound")
    _status(api.post(f"/api/v2/groups/{team.id}/user-admin/{user.id}"), 204)
    _status(api.post(f"/api/v2/groups/{team.id}/learner/{user.id}"), 204)
    roles = _status(api.get(f"/api/v2/groups/{team.id}/roles"), 200)
    assert roles == [{"userId": user.id, "role": "learner"},
                     {"userId": user.id, "role": "userAdmin"}]
    mine = _status(api.get(f"/api/v2/users/{user.id}/roles"), 200)
    assert {"groupId": team.id, "role": "userAdmin"} in mine
    owner_roles = _status(api.get(f"/api/v2/users/{state.owner_id}/roles"), 200)
    assert owner_roles == [{"groupId": state.root_group_id, "role": "owner"}]
    _status(api.delete(f"/api/v2/groups/{team.id}/user-admin/{user.id}"), 204)
    _status(api.delete(f"/api/v2/groups/{team.id}/admin/{user.id}"), 404, "userNotFoundInGroup")
    _status(api.get("/api/v2/groups/507f1f77bcf86cd799439011/roles"), 404, "groupNotFound")
    _status(api.get("/api/v2/users/507f1f77bcf86cd799439011/roles"), 404, "userNotFound")
    _status(api.post(f"/api/v2/groups/{team.id}/analyst/{user.id}"), 400, "analystUnavailable")
    _status(api.post(f"/api/v2/groups/507f1f77bcf86cd799439011/learner/{user.id}"), 404,
            "groupNotFound")
    state.delete_user(user.id)
    _status(api.post(f"/api/v2/groups/{team.id}/learner/{user.id}"), 400, "userDeleted")


def managers_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    state = emu.state
    boss = state.add_user("boss@example.com", "Bo", "Ss")
    worker = state.add_user("worker@example.com", "Wo", "Rker")
    _status(api.post(f"/api/v2/users/{worker.id}/managers/{boss.id}"), 204)
    assert _status(api.get(f"/api/v2/users/{worker.id}/managers"), 200) == [boss.id]
    assert _status(api.get(f"/api/v2/users/{boss.id}/subordinates"), 200) == [worker.id]
    _status(api.delete(f"/api/v2/users/{worker.id}/managers/{boss.id}"), 204)
    _status(api.delete(f"/api/v2/users/{worker.id}/managers/{boss.id}"), 400,
            "managerNotAssignedToUser")
    unknown = "507f1f77bcf86cd799439011"
    _status(api.post(f"/api/v2/users/{worker.id}/managers/{unknown}"), 404, "managerNotFound")
    _status(api.get(f"/api/v2/users/{unknown}/managers"), 404, "userNotFound")
    _status(api.get(f"/api/v2/users/{unknown}/subordinates"), 404, "userNotFound")
    state.delete_user(boss.id)
    _status(api.post(f"/api/v2/users/{worker.id}/managers/{boss.id}"), 400, "managerDeleted")


def custom_fields_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    user = emu.state.add_user("cf@example.com", "Cu", "Stom")
    body = {**example("InputCustomFieldDTO"), "targetType": "users", "type": "string"}
    department = _status(api.post("/api/v2/custom-fields", json=body), 201)
    _status(api.post("/api/v2/custom-fields", json=body), 400, "nameAlreadyTaken")
    _status(api.post("/api/v2/custom-fields", json={**body, "name": " "}), 400, "invalidName")
    hired = _status(api.post("/api/v2/custom-fields", json={
        "name": "Hire date", "targetType": "users", "type": "date"}), 201)
    listed = _status(api.get("/api/v2/custom-fields", params={"name[eq]": "Department"}), 200)
    assert listed == [department]
    _status(api.get("/api/v2/custom-fields", params={"type[ne]": "date"}), 200)
    values = [{"customFieldId": department["_id"], "type": "string", "value": "US"},
              {"customFieldId": hired["_id"], "type": "date", "value": "2025-01-27"}]
    url = f"/api/v2/users/{user.id}/custom-fields/values"
    assert _status(api.put(url, json={"customValues": values}), 200) == values
    assert _status(api.get(url), 200) == values
    wrong = [{**values[1], "value": "27/01/2025", "type": "string"}]
    _status(api.put(url, json={"customValues": wrong}), 400, "wrongTypeValue")
    twice = [values[0], {**values[0], "value": "FR"}]
    _status(api.put(url, json={"customValues": twice}), 400, "multipleValuesForSingleCustomField")
    unknown = [{**values[0], "customFieldId": "507f1f77bcf86cd799439011"}]
    _status(api.put(url, json={"customValues": unknown}), 404, "customFieldNotFound")
    _status(api.get("/api/v2/users/507f1f77bcf86cd799439011/custom-fields/values"), 404,
            "userNotFound")
    renamed = _status(api.patch(f"/api/v2/custom-fields/{department['_id']}",
                                json={"name": "Team"}), 200)
    assert renamed["name"] == "Team"
    _status(api.patch(f"/api/v2/custom-fields/{hired['_id']}", json={"name": "team"}), 400,
            "nameAlreadyTaken")
    _status(api.delete(f"/api/v2/custom-fields/{department['_id']}"), 204)
    _status(api.delete(f"/api/v2/custom-fields/{department['_id']}"), 404, "customFieldNotFound")
    _status(api.patch(f"/api/v2/custom-fields/{department['_id']}", json={"name": "X"}), 404,
            "customFieldNotFound")
    assert _status(api.get(url), 200) == values[1:]


def external_ids_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    user = emu.state.add_user("ext@example.com", "Ex", "Ternal")
    other = emu.state.add_user("ext2@example.com", "Ot", "Her")
    body = {**example("InputExternalIdDTO"), "targetType": "user", "targetId": user.id}
    created = _status(api.post("/api/v2/external-ids", json=body), 201)
    assert created["value"] == "945628-01"
    assert created["platform"] == "external catalog"
    _status(api.post("/api/v2/external-ids", json=body), 400, "mappingAlreadyExists")
    _status(api.post("/api/v2/external-ids", json={**body, "targetId": other.id}), 400,
            "valueAlreadyUsed")
    _status(api.post("/api/v2/external-ids", json={**body, "platform": "360Learning"}), 400,
            "reservedPlatformName")
    _status(api.post("/api/v2/external-ids", json={
        **body, "targetId": "507f1f77bcf86cd799439011"}), 404, "resourceNotFound")
    found = _status(api.get("/api/v2/external-ids", params={
        "platform[eq]": "external catalog", "type[eq]": "user", "value[eq]": "945628-01",
        "targetId[eq]": user.id}), 200)
    assert found == [created]
    second = _status(api.post("/api/v2/external-ids", json={
        **body, "targetId": other.id, "value": "2"}), 201)
    moved = {**body, "targetId": other.id}
    _status(api.put(f"/api/v2/external-ids/{created['_id']}", json=moved), 400,
            "targetAlreadyMapped")
    updated = _status(api.put(f"/api/v2/external-ids/{created['_id']}",
                              json={**body, "value": "3"}), 200)
    assert updated["value"] == "3"
    _status(api.delete(f"/api/v2/external-ids/{second['_id']}"), 204)
    _status(api.delete(f"/api/v2/external-ids/{second['_id']}"), 404, "mappingIdNotFound")
    _status(api.put(f"/api/v2/external-ids/{second['_id']}", json=body), 404,
            "mappingIdNotFound")


def bulk_scenario(api: httpx.Client, emu: Learning360Emulator) -> None:
    team = emu.state.add_group("Bulk team")
    user = emu.state.add_user("bulk@example.com", "Bu", "Lk")
    item = {"userId": user.id, "groupId": team.id, "role": "learner"}
    emu.bulk.pause()
    submitted = api.post("/api/v2/bulk/groups/memberships", json={"input": [item]})
    _status(submitted, 202)
    op_id = submitted.headers["location"].rsplit("/", 1)[1]
    assert _status(api.get(f"/api/v2/bulk/operations/{op_id}"), 200)["status"] == "pending"
    _status(api.get(f"/api/v2/bulk/operations/{op_id}/results"), 400, "bulkOperationNotRun")
    for _ in range(2):
        _status(api.request("DELETE", "/api/v2/bulk/groups/memberships",
                            json={"input": [item]}), 202)
    _status(api.post("/api/v2/bulk/groups/memberships", json={"input": [item]}), 429,
            "bulkOperationsConcurrencyLimitReached")
    emu.bulk.resume()
    assert emu.bulk.wait_idle()
    assert _status(api.get(f"/api/v2/bulk/operations/{op_id}"), 200)["status"] == "completed"
    results = _status(api.get(f"/api/v2/bulk/operations/{op_id}/results"), 200)
    assert results == [{"input": item, "status": "success", "resourceId": user.id}]
    listed = _status(api.get("/api/v2/bulk/operations", params={"status[eq]": "completed"}), 200)
    assert len(listed) == 3
    _status(api.post("/api/v2/bulk/groups/memberships", json={"input": item}), 400,
            "invalidInput")
    _status(api.post("/api/v2/bulk/groups/memberships", json={"input": [item] * 20_001}), 400,
            "inputTooLong")
    _status(api.get("/api/v2/bulk/operations/507f1f77bcf86cd799439011"), 404,
            "bulkOperationNotFound")
    _status(api.get("/api/v2/bulk/operations/507f1f77bcf86cd799439011/results"), 404,
            "bulkOperationNotFound")


Scenario = Callable[[httpx.Client, Learning360Emulator], None]
SCENARIOS: list[Scenario] = [token_scenario, users_scenario, groups_scenario, managers_scenario,
                             custom_fields_scenario, external_ids_scenario, bulk_scenario]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_responses_follow_the_openapi(scenario: Scenario, api: httpx.Client,
                                      emu: Learning360Emulator) -> None:
    """Every request and response of the scenario validates against 360Learning's OpenAPI."""
    scenario(api, emu)


def test_every_emulated_operation_is_validated() -> None:
    """All scenarios together validate at least one exchange of every emulated operation."""
    checks = Checks()
    for scenario in SCENARIOS:
        with Learning360Emulator(rate_limits=False) as emu, validated_client(emu, checks) as api:
            scenario(api, emu)
    expected = {(r.method, r.template) for r in ROUTES} | {("POST", "/api/v2/oauth2/token")}
    assert expected - checks.seen == set()


def test_auth_scope_and_rate_errors_follow_the_openapi() -> None:
    """401, 403 and 429 answers carry the documented bodies on a documented operation."""
    checks = Checks()
    with Learning360Emulator(scopes={"users:read"}, rate_limit_factor=0.02) as emu, \
            validated_client(emu, checks) as api:
        denied = api.get("/api/v2/groups")
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "invalid_scope"
        assert api.get("/api/v2/users").status_code == 200
        limited = api.get("/api/v2/users")
        assert (limited.status_code, limited.json()) == (429, {"error": "tooManyRequests"})
        unauthorised = api.get("/api/v2/users", headers={"Authorization": "Bearer nope"})
        assert (unauthorised.status_code, unauthorised.json()) == (
            401, {"error": "invalid_token"})

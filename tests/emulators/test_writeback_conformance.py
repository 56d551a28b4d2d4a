"""R18's emulated endpoints held to the vendors' documents, over real HTTP (STYLE §7.7).

360Learning: ``GET /paths/stats`` (2,000 a page), ``/courses/stats`` (500 a page), ``/paths``,
``/courses`` and one of each, validated against ``360learning-core-api.openapi.json``.
Personio: ``PATCH /company/employees/{employee_id}`` with a JSON and a form body and its
documented 422, validated against ``personio-personnel-data-api-oa3.yaml`` (fixed as in
``test_personio_conformance.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_core import Config, OpenAPI

from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.learning360.learning_routes import LEARNING_ROUTES
from personio360.emulators.personio import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_WRITE_CLIENT_ID,
    DEFAULT_WRITE_CLIENT_SECRET,
    PersonioEmulator,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_learning360_conformance import Checks, validated_client
from test_personio_conformance import _fixed_document

from openapi_check import OpenApiCheck


@pytest.fixture
def emu() -> Iterator[Learning360Emulator]:
    with Learning360Emulator(rate_limits=False) as emulator:
        yield emulator


def _pages(api: httpx.Client, path: str, params: dict[str, str]) -> list[httpx.Response]:
    pages = [api.get(path, params=params)]
    while "link" in pages[-1].headers:
        pages.append(api.get(pages[-1].links["next"]["url"]))
    return pages


def test_stats_pages_and_filters_follow_the_openapi(emu: Learning360Emulator) -> None:
    """Both stats endpoints answer documented pages (2,000 and 500) and filters, validated."""
    checks = Checks()
    learning = emu.state.learning
    users = [emu.state.add_user(f"u{i}@example.com", "U", str(i)) for i in range(2100)]
    path, course = learning.add_path("Data protection"), learning.add_course("Fire safety")
    for index, user in enumerate(users):
        if index % 2:
            learning.complete_path(path.id, user.id, score=80,
                                   completed_at=f"2026-03-0{1 + index % 5}T10:00:00.250Z")
        else:
            learning.enroll(path.id, user.id)
    for user in users[:501]:
        learning.complete_course(course.id, user.id, score=70)
    with validated_client(emu, checks) as api:
        paths = _pages(api, "/api/v2/paths/stats", {"pathId[eq]": path.id})
        assert [len(p.json()) for p in paths] == [2000, 100]
        courses = _pages(api, "/api/v2/courses/stats", {"courseId[eq]": course.id})
        assert [len(p.json()) for p in courses] == [500, 1]
        since = api.get("/api/v2/paths/stats", params={"completedAt[gte]": "2026-03-05T10:00:00.999Z"})
        assert {s["completedAt"][:10] for s in since.json()} == {"2026-03-05"}, "ms set to 0"
        one = api.get("/api/v2/paths/stats", params={"userId[eq]": users[1].id}).json()
        assert [(s["status"]["type"], s["score"], s["progress"]) for s in one] == [("successful", 80, 100)]
        assert api.get("/api/v2/paths/stats", params={"status[eq]": "archived"}).json() == []
        assert api.get(f"/api/v2/paths/{path.id}").json()["name"] == "Data protection"
        assert api.get(f"/api/v2/courses/{course.id}").json()["name"] == "Fire safety"
        assert api.get("/api/v2/paths").status_code == api.get("/api/v2/courses").status_code == 200
        missing = api.get("/api/v2/paths/507f1f77bcf86cd799439011")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "pathNotFound")
        missing = api.get("/api/v2/courses/507f1f77bcf86cd799439011")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "courseNotFound")
    assert {(r.method, r.template) for r in LEARNING_ROUTES} <= checks.seen


def test_control_surface_marks_a_completion(emu: Learning360Emulator) -> None:
    """/_emulator/paths/{id}/completions completes a user's session; completing again updates it."""
    user = emu.state.add_user("learner@example.com", "Lea", "Rner")
    with httpx.Client(base_url=emu.url) as control:
        path = control.post("/_emulator/paths", json={"name": "Code of conduct"}).json()
        first = control.post(f"/_emulator/paths/{path['_id']}/completions",
                             json={"userId": user.id, "completedAt": "2026-02-01T09:00:00Z"})
        again = control.post(f"/_emulator/paths/{path['_id']}/completions",
                             json={"userId": user.id, "status": "unsuccessful"})
        assert first.status_code == again.status_code == 201
        assert first.json()["completedAt"] == "2026-02-01T09:00:00.000Z"
        assert again.json()["_id"] == first.json()["_id"]
        assert again.json()["status"] == {"type": "unsuccessful", "reason": "sessionEnded"}
        unknown = control.post(f"/_emulator/paths/{path['_id']}/completions",
                               json={"userId": "507f1f77bcf86cd799439011"})
        assert unknown.status_code == 404


@pytest.fixture
def personio() -> Iterator[tuple[PersonioEmulator, OpenApiCheck]]:
    check = OpenApiCheck("personio-personnel-data-api-oa3.yaml")
    check.api = OpenAPI.from_dict(_fixed_document(), config=Config(spec_validator_cls=None))
    emulator = PersonioEmulator(rate_limits=False)
    emulator.state.define_attribute("dynamic_1000042", "Data protection done", "date")
    emulator.state.define_attribute("dynamic_1000043", "Safety status", "list",
                                    options=("successful", "unsuccessful"))
    emulator.state.define_attribute("dynamic_1", "IBAN", universal_id="iban")
    emulator.state.hire(id=7, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    with emulator:
        yield emulator, check


def _token(http: httpx.Client, client_id: str, secret: str) -> dict[str, str]:
    data = http.post("/v1/auth", json={"client_id": client_id, "client_secret": secret}).json()["data"]
    return {"Authorization": f"Bearer {data['token']}"}


def test_patch_json_and_form_bodies_follow_the_document(
        personio: tuple[PersonioEmulator, OpenApiCheck]) -> None:
    """Both documented bodies update custom attributes and answer EmployeeUpdatedResponse."""
    emulator, check = personio
    with httpx.Client(base_url=emulator.url) as http:
        headers = _token(http, DEFAULT_WRITE_CLIENT_ID, DEFAULT_WRITE_CLIENT_SECRET)
        as_json = http.patch("/v1/company/employees/7", headers=headers, json={"employee": {
            "position": "developer", "custom_attributes": {"dynamic_1000042": "2026-03-01"}}})
        check.validate(as_json.request, as_json)
        assert as_json.json() == {"success": True, "data": {"id": 7}, "meta": []}
        as_form = http.patch("/v1/company/employees/7", headers=headers, data={
            "employee[last_name]": "King", "employee[custom_attributes][dynamic_1000043]": "successful"})
        check.validate_response(as_form.request, as_form)
        assert as_form.status_code == 200
    record = emulator.state.employee(7)
    assert (record["position"], record["last_name"], record["dynamic_1000043"]) == (
        "developer", "King", "successful")
    assert record["dynamic_1000042"].isoformat() == "2026-03-01"


def test_patch_refusals_follow_the_document(personio: tuple[PersonioEmulator, OpenApiCheck]) -> None:
    """Email is ignored (meta); unknown, non-writable or ill-typed attributes are a documented 422."""
    emulator, check = personio
    before = emulator.state.employee(7)
    with httpx.Client(base_url=emulator.url) as http:
        headers = _token(http, DEFAULT_WRITE_CLIENT_ID, DEFAULT_WRITE_CLIENT_SECRET)
        ignored = http.patch("/v1/company/employees/7", headers=headers,
                             json={"employee": {"email": "other@example.com"}})
        check.validate(ignored.request, ignored)
        assert ignored.json()["meta"]
        assert emulator.state.employee(7)["email"] == "ada@example.com"
        for custom in ({"dynamic_9999": "x"}, {"dynamic_1": "DE00"}, {"dynamic_1000042": "soon"},
                       {"dynamic_1000043": "maybe"}):
            refused = http.patch("/v1/company/employees/7", headers=headers,
                                 json={"employee": {"custom_attributes": custom}})
            check.validate(refused.request, refused)
            assert refused.status_code == 422
            assert refused.json()["success"] is False
        bad_boss = http.patch("/v1/company/employees/7", headers=headers,
                              json={"employee": {"supervisor_id": 1}})
        check.validate(bad_boss.request, bad_boss)
        assert bad_boss.json()["error"] == {"code": 422, "message": "Supervisor with ID 1 not found"}
    assert emulator.state.employee(7) == before


def test_read_credential_may_not_write(personio: tuple[PersonioEmulator, OpenApiCheck]) -> None:
    """The read credential (scope employees:read) is refused with 403; the writer's scope may write."""
    emulator, _check = personio
    with httpx.Client(base_url=emulator.url) as http:
        reader = http.post("/v1/auth", json={"client_id": DEFAULT_CLIENT_ID,
                                             "client_secret": DEFAULT_CLIENT_SECRET}).json()["data"]
        writer = http.post("/v1/auth", data={"client_id": DEFAULT_WRITE_CLIENT_ID,
                                             "client_secret": DEFAULT_WRITE_CLIENT_SECRET}).json()["data"]
        assert reader["scope"] == "employees:read"
        assert "employees:write" in writer["scope"].split()
        refused = http.patch("/v1/company/employees/7", headers={
            "Authorization": f"Bearer {reader['token']}"},
            json={"employee": {"custom_attributes": {"dynamic_1000042": "2026-03-01"}}})
        assert refused.status_code == 403
        assert refused.json()["success"] is False
    assert emulator.state.employee(7).get("dynamic_1000042") is None

"""The 360Learning emulator's business rules, driven over real HTTP with plain httpx.

Each test states the documented rule (or the choice docs/emulators.md records where the
documents are silent) and asserts the outcome on the emulator's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from personio360 import domain
from personio360.emulators.learning360 import Learning360Emulator


@pytest.fixture
def emu() -> Iterator[Learning360Emulator]:
    with Learning360Emulator(rate_limits=False) as emulator:
        yield emulator


@pytest.fixture
def api(emu: Learning360Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url) as client:
        token = client.post("/api/v2/oauth2/token", json={
            "grant_type": "client_credentials", "client_id": emu.client_id,
            "client_secret": emu.client_secret}).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "360-api-version": "v2.0"})
        yield client


def _create(api: httpx.Client, group_id: str, mail: str, **extra: Any) -> httpx.Response:
    params = extra.pop("params", None)
    return api.post("/api/v2/users", params=params, json={
        "mail": mail, "membership": {"groupId": group_id, "role": "learner"}, **extra})


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_create_refuses_a_mail_in_use_whatever_its_case(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """POST /users with the mail of a live user, in another case, is 400 mailAlreadyUsed."""
    emu.state.add_user("ada@example.com", "Ada")
    answer = _create(api, emu.state.root_group_id, "ADA@Example.com")
    assert _code(answer) == (400, "mailAlreadyUsed")
    assert len(emu.state.users()) == 2


def test_patch_refuses_a_mail_held_by_another_user_even_deleted(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """PATCH with another user's mail (live or deleted) is 400 mailAlreadyUsed; own mail is fine."""
    ada = emu.state.add_user("ada@example.com")
    bob = emu.state.add_user("bob@example.com")
    gone = emu.state.add_user("gone@example.com")
    emu.state.delete_user(gone.id)
    for mail in ("BOB@example.com", "gone@example.com"):
        assert _code(api.patch(f"/api/v2/users/{ada.id}", json={"mail": mail})) == (
            400, "mailAlreadyUsed")
    assert api.patch(f"/api/v2/users/{ada.id}", json={"mail": "Ada@example.com"}).is_success
    assert emu.state.user(bob.id).mail == "bob@example.com"


def test_delete_is_soft_and_create_restores_the_account_without_its_links(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """DELETE keeps the account as deleted; POST with its mail restores it (200, same id,
    invited) with only the new membership: no old roles, managers or custom values."""
    state = emu.state
    old, new = state.add_group("Old"), state.add_group("New")
    boss = state.add_user("boss@example.com")
    ada = state.add_user("ada@example.com", "Ada", "Lovelace", job="Analyst")
    state.add_role(old.id, ada.id, "learner")
    state.add_manager(ada.id, boss.id)
    field = state.add_custom_field("Department")
    state.set_custom_values(ada.id, [domain.CustomValue(field.id, "string", "R&D")])
    mapping = state.add_external_id("personio", "user", ada.id, "42")
    assert api.delete(f"/api/v2/users/{ada.id}").status_code == 204
    shown = api.get(f"/api/v2/users/{ada.id}").json()
    assert shown["status"] == "deleted"
    assert len(shown["deletedAt"]) == 1
    assert ada.id in [u["_id"] for u in api.get("/api/v2/users").json()]
    restored = _create(api, new.id, "ada@example.com")
    assert restored.status_code == 200
    body = restored.json()
    assert (body["_id"], body["status"], body["firstName"]) == (ada.id, "invited", "Ada")
    assert len(body["reactivatedAt"]) == 1
    assert state.roles_of_user(ada.id) == [domain.GroupRole(new.id, ada.id, "learner")]
    assert state.managers_of(ada.id) == []
    assert state.custom_values(ada.id) == []
    assert state.external_ids() == [mapping]


def test_deleted_users_are_listed_unless_filtered(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """GET /users includes deleted users by default; status[ne]=deleted leaves them out."""
    gone = emu.state.add_user("gone@example.com")
    emu.state.delete_user(gone.id)
    every = {u["_id"] for u in api.get("/api/v2/users").json()}
    live = {u["_id"] for u in api.get("/api/v2/users", params={"status[ne]": "deleted"}).json()}
    assert gone.id in every
    assert gone.id not in live


def test_owner_cannot_be_deleted_through_the_api_or_the_control_surface(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """The company owner is undeletable: 400 userIsCompanyOwner."""
    owner = emu.state.owner_id
    assert _code(api.delete(f"/api/v2/users/{owner}")) == (400, "userIsCompanyOwner")
    assert _code(httpx.delete(f"{emu.url}/_emulator/users/{owner}")) == (
        400, "userIsCompanyOwner")
    assert emu.state.user(owner).status == "active"


def test_learner_removal_cascades_to_public_subgroups_down_to_the_first_private_one(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """Removing learner from A also removes it from A's public descendants, stopping at (and
    excluding) the first private group on each branch."""
    state = emu.state
    a = state.add_group("A")
    b = state.add_group("B", a.id, public=True)
    c = state.add_group("C", b.id, public=False)
    d = state.add_group("D", c.id, public=True)
    e = state.add_group("E", a.id, public=False)
    ada = state.add_user("ada@example.com")
    for group in (a, b, c, d, e):
        state.add_role(group.id, ada.id, "learner")
    state.add_role(b.id, ada.id, "coach")
    assert api.delete(f"/api/v2/groups/{a.id}/learner/{ada.id}").status_code == 204
    left = {(r.group_id, r.role) for r in state.roles_of_user(ada.id)}
    assert left == {(c.id, "learner"), (d.id, "learner"), (e.id, "learner"), (b.id, "coach")}


def test_path_roles_are_kebab_case_and_body_roles_camel_case(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """POST /groups/{id}/user-admin/{user} shows up as userAdmin in role lists."""
    ada = emu.state.add_user("ada@example.com")
    group = emu.state.add_group("G")
    assert api.post(f"/api/v2/groups/{group.id}/user-admin/{ada.id}").status_code == 204
    assert api.get(f"/api/v2/users/{ada.id}/roles").json() == [
        {"groupId": group.id, "role": "userAdmin"}]
    assert api.post(f"/api/v2/groups/{group.id}/userAdmin/{ada.id}").status_code == 400


def test_invitation_email_unless_send_invitation_email_is_false(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """A created user with a mail is invited by email unless sendInvitationEmail=false."""
    root = emu.state.root_group_id
    first = _create(api, root, "one@example.com").json()
    _create(api, root, "two@example.com", params={"sendInvitationEmail": "false"})
    _create(api, root, "three@example.com", params={"sendInvitationEmail": "true"})
    outbox = httpx.get(f"{emu.url}/_emulator/outbox").json()
    assert [m["to"] for m in outbox] == ["one@example.com", "three@example.com"]
    assert outbox[0]["user_id"] == first["_id"]
    assert _code(_create(api, root, "four@example.com",
                         params={"sendInvitationEmail": "no"})) == (400, "invalidRequest")


def test_mail_filter_is_exact_and_case_sensitive(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """mail[eq] matches the stored mail exactly; clients must compare case-insensitively."""
    ada = emu.state.add_user("Ada@Example.com")
    assert api.get("/api/v2/users", params={"mail[eq]": "ada@example.com"}).json() == []
    found = api.get("/api/v2/users", params={"mail[eq]": "Ada@Example.com"}).json()
    assert [u["_id"] for u in found] == [ada.id]


def test_in_filters_accept_indexed_and_repeated_keys(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """field[in][0]=a&field[in][1]=b and field[in]=a&field[in]=b select the same users."""
    a, b = emu.state.add_user("a@example.com"), emu.state.add_user("b@example.com")
    emu.state.add_user("c@example.com")
    indexed = api.get("/api/v2/users?mail[in][0]=a@example.com&mail[in][1]=b@example.com")
    repeated = api.get("/api/v2/users?mail[in]=a@example.com&mail[in]=b@example.com")
    assert {u["_id"] for u in indexed.json()} == {u["_id"] for u in repeated.json()} == {
        a.id, b.id}


def test_undocumented_filters_and_body_fields_are_refused(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """GET /groups has no filters (no parentId) and bodies take documented fields only."""
    query = api.get("/api/v2/groups", params={"parentId[eq]": emu.state.root_group_id})
    assert _code(query) == (400, "invalidRequest")
    body = _create(api, emu.state.root_group_id, "x@example.com", externalId="1")
    assert _code(body) == (400, "invalidRequest")


def test_custom_values_are_replaced_as_a_whole_and_checked_by_type(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """PUT replaces the list; dates must be real YYYY-MM-DD dates; at most 300 values."""
    ada = emu.state.add_user("ada@example.com")
    start = emu.state.add_custom_field("Start", "date")
    team = emu.state.add_custom_field("Team")
    url = f"/api/v2/users/{ada.id}/custom-fields/values"
    both = [{"customFieldId": start.id, "type": "date", "value": "2024-02-29"},
            {"customFieldId": team.id, "type": "string", "value": "Blue"}]
    assert api.put(url, json={"customValues": both}).status_code == 200
    assert api.put(url, json={"customValues": both[1:]}).json() == both[1:]
    for bad in ("2023-02-29", "2024-02-29T00:00:00Z"):
        answer = api.put(url, json={"customValues": [{**both[0], "value": bad}]})
        assert _code(answer) == (400, "wrongTypeValue")
    too_many = api.put(url, json={"customValues": [both[1]] * 301})
    assert too_many.status_code == 400
    assert [v.value for v in emu.state.custom_values(ada.id)] == ["Blue"]


def test_control_surface_renames_and_deletes_custom_fields(emu: Learning360Emulator) -> None:
    """/_emulator renames a field (values kept) and deletes one (values gone), as an admin would."""
    ada = emu.state.add_user("ada@example.com")
    field = emu.state.add_custom_field("Department")
    emu.state.set_custom_values(ada.id, [domain.CustomValue(field.id, "string", "R&D")])
    renamed = httpx.patch(f"{emu.url}/_emulator/custom-fields/{field.id}", json={"name": "Dept"})
    assert renamed.json()["name"] == "Dept"
    assert emu.state.custom_values(ada.id)
    assert httpx.delete(f"{emu.url}/_emulator/custom-fields/{field.id}").status_code == 204
    assert emu.state.custom_fields() == []
    assert emu.state.custom_values(ada.id) == []


def test_re_adding_a_role_or_manager_is_accepted_but_counted_as_a_write(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """Re-adding an existing role or manager answers 204 and still counts as a write (R14)."""
    boss, ada = emu.state.add_user("boss@example.com"), emu.state.add_user("ada@example.com")
    group = emu.state.add_group("G")
    emu.state.add_role(group.id, ada.id, "learner")
    emu.state.add_manager(ada.id, boss.id)
    emu.stats.reset()
    assert api.post(f"/api/v2/groups/{group.id}/learner/{ada.id}").status_code == 204
    assert api.post(f"/api/v2/users/{ada.id}/managers/{boss.id}").status_code == 204
    assert emu.stats.count("write") == 2
    assert len(emu.state.roles_of_user(ada.id)) == 1
    assert emu.state.managers_of(ada.id) == [boss.id]


def test_external_ids_one_mapping_per_platform_and_target(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """A target has one mapping per platform, but may have one on each platform."""
    ada = emu.state.add_user("ada@example.com")
    body = {"platform": "personio", "targetType": "user", "targetId": ada.id, "value": "7"}
    assert api.post("/api/v2/external-ids", json=body).status_code == 201
    assert _code(api.post("/api/v2/external-ids", json={**body, "value": "8"})) == (
        400, "mappingAlreadyExists")
    assert api.post("/api/v2/external-ids", json={**body, "platform": "hris"}).status_code == 201
    by_type = api.get("/api/v2/external-ids", params={"type[eq]": "user",
                                                      "platform[eq]": "personio"}).json()
    assert [m["value"] for m in by_type] == ["7"]
    refused = api.get("/api/v2/external-ids", params={"targetType[eq]": "user"})
    assert _code(refused) == (400, "invalidRequest")


def test_bulk_operations_apply_later_and_report_each_item(
        api: httpx.Client, emu: Learning360Emulator) -> None:
    """A bulk add is applied by the worker after the 202; failed items are reported, others land."""
    group = emu.state.add_group("G")
    ada = emu.state.add_user("ada@example.com")
    items = [{"userId": ada.id, "groupId": group.id, "role": "learner"},
             {"userId": "507f1f77bcf86cd799439011", "groupId": group.id, "role": "learner"}]
    emu.bulk.pause()
    answer = api.post("/api/v2/bulk/groups/memberships", json={"input": items})
    assert answer.status_code == 202
    assert emu.state.roles_of_user(ada.id) == []
    emu.bulk.resume()
    assert emu.bulk.wait_idle()
    results = api.get(answer.headers["location"] + "/results").json()
    assert [r["status"] for r in results] == ["success", "error"]
    assert results[1]["errorMessage"]
    assert emu.state.roles_of_user(ada.id) == [domain.GroupRole(group.id, ada.id, "learner")]
    assert emu.stats.count("bulk") == 1

"""External IDs, custom fields, groups, roles and managers against the emulator over loopback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from personio360.domain import CustomValue, GroupRole
from personio360.emulators.learning360 import Learning360Emulator
from personio360.errors import NotFound, Rejected
from personio360.learning360 import Learning360Client

# --- external ids ---------------------------------------------------------------------


def test_external_id_lifecycle(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """A mapping is created, found by value and by target, replaced, then deleted."""
    user = emulator.state.add_user("e@example.com")
    other = emulator.state.add_user("f@example.com")
    created = client.create_external_id("personio", "user", user.id, "1001")
    assert (created.platform, created.target_type, created.target_id, created.value) == (
        "personio", "user", user.id, "1001")
    assert list(client.iter_external_ids(platform="personio", value="1001")) == [created]
    assert list(client.iter_external_ids(platform="personio", target_id=user.id)) == [created]
    assert list(client.iter_external_ids(platform="other")) == []
    moved = client.update_external_id(created.id, "personio", "user", other.id, "1001")
    assert (moved.id, moved.target_id) == (created.id, other.id)
    client.delete_external_id(created.id)
    assert emulator.state.external_ids() == []


def test_external_id_twice_for_one_target_is_rejected(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A second mapping of the same target on one platform is refused by the API."""
    user = emulator.state.add_user("g@example.com")
    client.create_external_id("personio", "user", user.id, "1")
    with pytest.raises(Rejected) as caught:
        client.create_external_id("personio", "user", user.id, "2")
    assert caught.value.code == "mappingAlreadyExists"


def test_delete_unknown_external_id_is_not_found(client: Learning360Client) -> None:
    """An unknown mapping id is NotFound ``mappingIdNotFound``."""
    with pytest.raises(NotFound) as caught:
        client.delete_external_id("0123456789abcdef01234567")
    assert caught.value.code == "mappingIdNotFound"


def test_external_ids_all_read(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """Every mapping of the platform is listed."""
    for n in range(30):
        user = emulator.state.add_user(f"x{n}@example.com")
        emulator.state.add_external_id("personio", "user", user.id, str(n))
    assert sorted(int(e.value) for e in client.iter_external_ids(platform="personio")) == list(
        range(30))


# --- custom fields --------------------------------------------------------------------


def test_custom_field_lifecycle(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """A user field is created, listed, renamed and deleted."""
    field = client.create_custom_field("Department")
    assert (field.name, field.type, field.target_type) == ("Department", "string", "users")
    dated = client.create_custom_field("Hire date", type="date")
    assert dated.type == "date"
    assert {f.name for f in client.iter_custom_fields()} == {"Department", "Hire date"}
    renamed = client.update_custom_field(field.id, "Team")
    assert (renamed.id, renamed.name) == (field.id, "Team")
    client.delete_custom_field(dated.id)
    assert [f.name for f in emulator.state.custom_fields()] == ["Team"]


def test_custom_field_name_taken_is_rejected(client: Learning360Client) -> None:
    """A duplicate name is Rejected ``nameAlreadyTaken``."""
    client.create_custom_field("Office")
    with pytest.raises(Rejected) as caught:
        client.create_custom_field("Office")
    assert caught.value.code == "nameAlreadyTaken"


def test_custom_values_are_replaced_as_a_whole(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """PUT replaces every value of the user; GET reads them back."""
    user = emulator.state.add_user("cv@example.com")
    office = client.create_custom_field("Office")
    hired = client.create_custom_field("Hired", type="date")
    values = [CustomValue(office.id, "string", "Berlin"), CustomValue(hired.id, "date",
                                                                       "2024-02-01")]
    assert sorted(client.put_custom_values(user.id, values), key=str) == sorted(values, key=str)
    assert sorted(client.get_custom_values(user.id), key=str) == sorted(values, key=str)
    assert client.put_custom_values(user.id, values[:1]) == values[:1]
    assert emulator.state.custom_values(user.id) == values[:1]
    assert client.put_custom_values(user.id, []) == []


def test_custom_values_wrong_type_is_rejected(
    emulator: Learning360Emulator, make_client: Callable[..., Learning360Client]
) -> None:
    """A date value that is not ``YYYY-MM-DD`` is Rejected by the API (request not checked)."""
    client = make_client(emulator.url, check=False)
    user = emulator.state.add_user("bad@example.com")
    hired = client.create_custom_field("Hired", type="date")
    with pytest.raises(Rejected) as caught:
        client.put_custom_values(user.id, [CustomValue(hired.id, "date", "01.02.2024")])
    assert caught.value.code == "wrongTypeValue"


def test_more_than_300_custom_values_are_refused_before_sending(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """The documented maximum of 300 values is enforced without a call."""
    values = [CustomValue("0123456789abcdef01234567", "string", str(n)) for n in range(301)]
    with pytest.raises(ValueError, match="300"):
        client.put_custom_values(emulator.state.owner_id, values)
    assert emulator.stats.count("write") == 0


# --- groups and roles -----------------------------------------------------------------


def test_groups_and_their_tree(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """Groups come back with their parent; ``parent_id`` selects children; the root has none."""
    root = emulator.state.root_group_id
    sales = emulator.state.add_group("Sales")
    emea = emulator.state.add_group("EMEA", parent_id=sales.id, public=False)
    groups = {g.id: g for g in client.iter_groups()}
    assert groups[root].parent_id is None
    assert groups[emea.id].parent_id == sales.id
    assert groups[emea.id].public is False
    assert [g.id for g in client.iter_groups(parent_id=sales.id)] == [emea.id]
    assert client.get_group(sales.id) == sales


def test_get_unknown_group_is_not_found(client: Learning360Client) -> None:
    """An unknown group is NotFound ``groupNotFound``."""
    with pytest.raises(NotFound) as caught:
        client.get_group("0123456789abcdef01234567")
    assert caught.value.code == "groupNotFound"


def test_roles_added_listed_and_removed(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Roles use the body spelling (``userAdmin``); the client converts it for the path."""
    group = emulator.state.add_group("Ops")
    user = emulator.state.add_user("r@example.com")
    client.add_group_role(group.id, "learner", user.id)
    client.add_group_role(group.id, "userAdmin", user.id)
    expected = {GroupRole(group.id, user.id, "learner"), GroupRole(group.id, user.id, "userAdmin")}
    assert set(client.iter_group_roles(group.id)) == expected
    assert set(client.iter_user_roles(user.id)) == expected
    client.remove_group_role(group.id, "userAdmin", user.id)
    assert list(client.iter_user_roles(user.id)) == [GroupRole(group.id, user.id, "learner")]


def test_owner_role_is_listed_on_the_root_group(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """The platform owner shows as ``owner`` of the root group."""
    roles = list(client.iter_user_roles(emulator.state.owner_id))
    assert GroupRole(emulator.state.root_group_id, emulator.state.owner_id, "owner") in roles


def test_remove_missing_role_is_not_found(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Removing a role the user does not have is NotFound ``userNotFoundInGroup``."""
    group = emulator.state.add_group("Empty")
    user = emulator.state.add_user("nr@example.com")
    with pytest.raises(NotFound) as caught:
        client.remove_group_role(group.id, "learner", user.id)
    assert caught.value.code == "userNotFoundInGroup"


def test_group_roles_across_pages(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """A group with more than 1,000 memberships is read across pages."""
    group = emulator.state.add_group("Big")
    for n in range(1_100):
        user = emulator.state.add_user(f"m{n}@example.com")
        emulator.state.add_role(group.id, user.id, "learner")
    assert len(list(client.iter_group_roles(group.id))) == 1_100


# --- managers -------------------------------------------------------------------------


def test_managers_and_subordinates(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A manager link is added, seen from both sides, and removed."""
    boss = emulator.state.add_user("boss@example.com")
    worker = emulator.state.add_user("worker@example.com")
    client.add_manager(worker.id, boss.id)
    assert list(client.iter_managers(worker.id)) == [boss.id]
    assert list(client.iter_subordinates(boss.id)) == [worker.id]
    assert emulator.state.managers_of(worker.id) == [boss.id]
    client.remove_manager(worker.id, boss.id)
    assert list(client.iter_managers(worker.id)) == []


def test_remove_unassigned_manager_is_rejected(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Removing a manager that is not assigned is Rejected ``managerNotAssignedToUser``."""
    boss = emulator.state.add_user("b2@example.com")
    worker = emulator.state.add_user("w2@example.com")
    with pytest.raises(Rejected) as caught:
        client.remove_manager(worker.id, boss.id)
    assert caught.value.code == "managerNotAssignedToUser"

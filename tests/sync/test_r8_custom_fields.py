"""R8 end to end: synced custom values rendered as text, restored after hand edits, deleted and
renamed fields, fields the connector does not sync, empty values, date fields."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from personio360.domain import CustomValue

from .world import field_named, plain_ids, values_by_name

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

TSHIRT, PROBATION, LANGUAGES = "dynamic_1000001", "dynamic_1000003", "dynamic_1000005"
FIELDS = {
    "department": "Department",  # an object: its name
    "office": "Office",
    "supervisor": "Supervisor",  # an employee object: the full name
    TSHIRT: "T-shirt size",  # a list attribute, sometimes empty
    PROBATION: "Probation end",  # a date attribute
    LANGUAGES: "Languages",  # tags: a list joined with ", "
}


@pytest.fixture
def world(make_env: MakeEnv) -> SyncEnv:
    return make_env(size=40, seed=3, custom_fields=FIELDS)


def expected_values(env: SyncEnv, employee_id: int) -> dict[str, str]:
    """R8 restated from the Personio record: objects by name, lists joined, dates YYYY-MM-DD."""
    employee = env.personio.employee(employee_id)
    out: dict[str, Any] = {
        "Department": employee["department"],
        "Office": employee["office"],
        "T-shirt size": employee[TSHIRT],
    }
    if employee.get("supervisor") is not None:
        boss = env.personio.employee(employee["supervisor"])
        out["Supervisor"] = f"{boss['first_name']} {boss['last_name']}"
    if isinstance(employee.get(PROBATION), dt.date):
        out["Probation end"] = employee[PROBATION].isoformat()
    if employee.get(LANGUAGES):
        out["Languages"] = ", ".join(employee[LANGUAGES])
    return {name: value for name, value in out.items() if value}


def one_field(env: SyncEnv, name: str) -> str:
    found = field_named(env, name)
    assert len(found) == 1, found
    return str(found[0].id)


def test_r8_values_land_rendered_as_text(world: SyncEnv) -> None:
    """Every synced user carries the configured fields: names of objects, joined lists, dates."""
    world.sync()

    assert {f.name: f.type for f in world.lms.custom_fields()} == {
        "Department": "string", "Office": "string", "Supervisor": "string",
        "T-shirt size": "string", "Probation end": "date", "Languages": "string"}
    several_languages = 0
    for employee_id in world.clean_ids():
        values = values_by_name(world, world.user_id_of(employee_id))
        assert values == expected_values(world, employee_id), employee_id
        several_languages += ", " in values.get("Languages", "")
    assert several_languages  # the company has employees with more than one language
    assert any(world.personio.employee(i)[TSHIRT] is None for i in world.clean_ids())


def test_r8_a_value_removed_or_edited_by_hand_is_set_again(world: SyncEnv) -> None:
    """Hand edits to synced values in 360Learning do not survive the next sync."""
    world.sync()
    removed, edited = (world.user_id_of(i) for i in plain_ids(world)[:2])
    department = one_field(world, "Department")
    kept = [v for v in world.lms.custom_values(removed) if v.custom_field_id != department]
    world.lms.set_custom_values(removed, kept)
    world.lms.set_custom_values(edited, [
        v if v.custom_field_id != department else CustomValue(department, "string", "Hacked")
        for v in world.lms.custom_values(edited)])

    world.sync()

    for employee_id in plain_ids(world)[:2]:
        user_id = world.user_id_of(employee_id)
        assert values_by_name(world, user_id) == expected_values(world, employee_id)


def test_r8_a_deleted_field_is_recreated_and_refilled(world: SyncEnv) -> None:
    """Deleting a synced field in 360Learning: a new field with the configured name, values again."""
    world.sync()
    old = one_field(world, "Department")
    world.lms.delete_custom_field(old)

    report = world.sync()

    assert report.applied.get("create_custom_field") == 1
    new = one_field(world, "Department")
    assert new != old
    for employee_id in world.clean_ids():
        values = values_by_name(world, world.user_id_of(employee_id))
        assert values == expected_values(world, employee_id), employee_id
    assert world.sync().applied == {}


def test_r8_a_renamed_field_stays_but_loses_its_values_on_synced_users(world: SyncEnv) -> None:
    """Renamed in 360Learning: a new field with the configured name is created and filled; the
    renamed one stays, empty on synced users, untouched on an unmanaged user."""
    world.sync()
    old = one_field(world, "Department")
    guest = world.installed.user_ids[f"guest.intern@{world.sb.company.domain}"]
    world.lms.set_custom_values(guest, [CustomValue(old, "string", "Interns")])
    world.lms.rename_custom_field(old, "Department (2019)")

    world.sync()

    assert [f.id for f in field_named(world, "Department (2019)")] == [old]
    new = one_field(world, "Department")
    assert new != old
    for employee_id in world.clean_ids():
        user_id = world.user_id_of(employee_id)
        assert old not in {v.custom_field_id for v in world.lms.custom_values(user_id)}
        assert values_by_name(world, user_id) == expected_values(world, employee_id), employee_id
    assert [(v.custom_field_id, v.value) for v in world.lms.custom_values(guest)] == [(old, "Interns")]
    assert world.sync().applied == {}


def test_r8_fields_the_connector_does_not_sync_keep_their_values(world: SyncEnv) -> None:
    """A hand-made field's value on a synced user survives a sync that rewrites its synced values."""
    world.sync()
    employee_id = plain_ids(world)[0]
    user_id = world.user_id_of(employee_id)
    badge = world.lms.add_custom_field("Badge")
    world.lms.set_custom_values(user_id, [*world.lms.custom_values(user_id),
                                          CustomValue(badge.id, "string", "gold")])
    world.personio.update(employee_id, department="Sales", **{LANGUAGES: ["Polish"]})

    report = world.sync()

    assert report.applied.get("set_custom_values") == 1
    values = values_by_name(world, user_id)
    assert values["Badge"] == "gold"
    assert (values["Department"], values["Languages"]) == ("Sales", "Polish")


def test_r8_an_empty_personio_value_clears_the_field(world: SyncEnv) -> None:
    """Emptied in Personio (a value, a list): the synced field disappears from the user."""
    world.sync()
    employee_id = next(i for i in plain_ids(world) if world.personio.employee(i)[TSHIRT])
    user_id = world.user_id_of(employee_id)
    assert {"T-shirt size", "Languages"} <= set(values_by_name(world, user_id))
    world.personio.update(employee_id, **{TSHIRT: None, LANGUAGES: []})

    world.sync()

    values = values_by_name(world, user_id)
    assert "T-shirt size" not in values
    assert "Languages" not in values
    assert values == expected_values(world, employee_id)


def test_r8_a_date_attribute_fills_a_date_field_with_iso_days(world: SyncEnv) -> None:
    """`Probation end` is a `date` field holding YYYY-MM-DD; a changed date follows Personio."""
    world.sync()
    field = field_named(world, "Probation end")[0]
    assert field.type == "date"
    employee_id = plain_ids(world)[0]
    world.personio.update(employee_id, **{PROBATION: dt.date(2031, 2, 3)})

    world.sync()

    user_id = world.user_id_of(employee_id)
    dated = [v for v in world.lms.custom_values(user_id) if v.custom_field_id == field.id]
    assert [(v.type, v.value) for v in dated] == [("date", "2031-02-03")]


def test_r8_an_existing_field_with_the_configured_name_is_reused(make_env: MakeEnv) -> None:
    """A field made by hand before the first sync (any case) is filled, not duplicated."""
    env = make_env(size=40, seed=3, custom_fields={"department": "Department"})
    existing = env.lms.add_custom_field("department")

    env.sync()

    assert [f.id for f in env.lms.custom_fields()] == [existing.id]
    employee_id = next(i for i in plain_ids(env) if env.personio.employee(i)["department"])
    values = env.lms.custom_values(env.user_id_of(employee_id))
    assert [(v.custom_field_id, v.value) for v in values] == [
        (existing.id, env.personio.employee(employee_id)["department"])]


def test_r8_adoption_keeps_the_values_of_fields_the_connector_does_not_sync(world: SyncEnv) -> None:
    """An adopted user's hand-made custom value survives the adoption's first sync."""
    badge = world.lms.add_custom_field("Badge")
    spec = next(s for s in world.sb.company.lms.users if s.kind == "adoptable")
    user_id = world.installed.user_ids[spec.mail]
    world.lms.set_custom_values(user_id, [CustomValue(badge.id, "string", "gold")])

    world.sync()

    assert world.user_id_of(spec.employee_id or 0) == user_id
    assert values_by_name(world, user_id).get("Badge") == "gold"

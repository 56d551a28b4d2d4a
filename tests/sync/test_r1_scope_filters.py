"""R1 end to end: ``where`` filters on synced groups (one value, a list, a number), two enabled
groups at once, and employees who stop matching (R5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from personio360.domain import LEARNER

from .world import configure, expected_target, group, learner_in, platform_state, where

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

#: 60 employees, seed 3: offices Berlin, London (each with a group) and Kraków (none).
WORLD = {"size": 60, "seed": 3}


@pytest.fixture
def world(make_env: MakeEnv) -> SyncEnv:
    return make_env(**WORLD)


def syncable(env: SyncEnv, offices: set[str]) -> set[int]:
    """In-scope employees of ``offices`` with a usable email, unique among them (R15: a duplicate
    outside the filter is no duplicate)."""
    chosen = {i for i in env.in_scope_ids() if env.personio.employee(i)["office"] in offices}
    bad = set(env.edge("missing_email")) | set(env.edge("invalid_email"))
    twins = set(env.edge("duplicate_email")) & chosen
    return chosen - bad - (twins if len(twins) > 1 else set())


def linked_offices(env: SyncEnv) -> set[str]:
    return {env.personio.employee(i)["office"] for i in env.links()}


def test_r1_a_filter_on_one_value_syncs_only_matching_employees(world: SyncEnv) -> None:
    """`where = { office = "Berlin" }`: Berlin employees are users, nobody else is created or adopted."""
    configure(world, groups=[group(world.synced_group, where={"office": "Berlin"})])
    outsiders = [i for i in world.in_scope_ids() if world.personio.employee(i)["office"] != "Berlin"]
    adoptable_outside = [world.installed.user_ids[s.mail] for s in world.sb.company.lms.users
                         if s.kind == "adoptable" and s.employee_id in outsiders]
    untouched = platform_state(world)["users"]

    world.sync()

    berliners = syncable(world, {"Berlin"})
    assert set(world.links()) == berliners
    for employee_id in berliners:
        target = expected_target(world, world.personio.employee(employee_id))
        assert learner_in(world, world.user_id_of(employee_id)) == {target}
    taken = {(world.user_of(i).mail or "").lower() for i in berliners}  # a twin's shared email
    for employee_id in outsiders:
        mail = (world.personio.employee(employee_id)["email"] or "").strip()
        if mail and employee_id not in world.edge("adoptable") and mail.lower() not in taken:
            assert world.lms.user_by_mail(mail) is None, employee_id
    for user_id in adoptable_outside:  # existing users of outsiders: not adopted, not touched
        assert world.full_state(user_id) == untouched[user_id]


def test_r1_a_filter_lists_several_accepted_values(world: SyncEnv) -> None:
    """`where = { office = ["Berlin", "Kraków"] }` takes both offices and leaves London out."""
    configure(world, groups=[group(world.synced_group, where={"office": ["Berlin", "Kraków"]})])

    world.sync()

    assert linked_offices(world) == {"Berlin", "Kraków"}
    assert set(world.links()) == syncable(world, {"Berlin", "Kraków"})


def test_r1_a_filter_on_a_number_matches_its_text(world: SyncEnv) -> None:
    """`where = { weekly_working_hours = 40 }` (a TOML integer) selects the 40-hour employees."""
    configure(world, groups=[group(world.synced_group, where={"weekly_working_hours": 40})])

    world.sync()

    full_time = {i for i in world.clean_ids()
                 if world.personio.employee(i)["weekly_working_hours"] == 40}
    assert full_time
    assert len(full_time) < len(world.clean_ids())
    assert set(world.links()) == full_time


def test_r1_r7_an_employee_matching_two_groups_is_a_learner_in_each(world: SyncEnv) -> None:
    """Berlin office in "All employees", Engineering in a guild: Berlin engineers learn in both,
    London engineers only in the guild, London marketers nowhere."""
    guild = world.lms.add_group("Engineering guild").id
    configure(world, groups=[group(world.synced_group, where={"office": "Berlin"}),
                             group(guild, where={"department": "Engineering"})])

    world.sync()

    for employee_id in where(world, office="Berlin", department="Engineering"):
        user_id = world.user_id_of(employee_id)
        target = expected_target(world, world.personio.employee(employee_id))
        assert learner_in(world, user_id) == {target}
        assert learner_in(world, user_id, guild) == {guild}
    for employee_id in where(world, office="London", department="Engineering"):
        user_id = world.user_id_of(employee_id)
        assert learner_in(world, user_id) == set()
        assert learner_in(world, user_id, guild) == {guild}
    for employee_id in where(world, office="London", department="Marketing"):
        assert employee_id not in world.links()
    assert {r.user_id for r in world.lms.roles_of_group(guild) if r.role == LEARNER} == {
        world.user_id_of(i) for i in world.links()
        if world.personio.employee(i)["department"] == "Engineering"}


def test_r1_r5_a_managed_user_who_stops_matching_every_group_is_deleted(world: SyncEnv) -> None:
    """Moving out of the filtered office makes the employee a leaver: the user is deleted."""
    configure(world, groups=[group(world.synced_group, where={"office": "Berlin"})])
    world.sync()
    leaver, stayer = where(world, office="Berlin")[:2]
    user_id = world.user_id_of(leaver)
    world.personio.update(leaver, office="London")

    report = world.sync()

    assert report.applied.get("delete_user") == 1
    assert world.lms.user(user_id).status == "deleted"
    assert leaver not in world.links()
    assert world.ctx.store.links.history(leaver)[-1].closed_at is not None
    assert world.lms.user(world.user_id_of(stayer)).status != "deleted"


def test_r1_r7_leaving_one_of_two_groups_only_ends_that_membership(world: SyncEnv) -> None:
    """A Berlin engineer who moves to London stays a user and a guild learner, and leaves the
    "All employees" hierarchy."""
    guild = world.lms.add_group("Engineering guild").id
    configure(world, groups=[group(world.synced_group, where={"office": "Berlin"}),
                             group(guild, where={"department": "Engineering"})])
    world.sync()
    mover = where(world, office="Berlin", department="Engineering")[0]
    user_id = world.user_id_of(mover)
    world.personio.update(mover, office="London")

    report = world.sync()

    assert "delete_user" not in report.applied
    assert world.user_id_of(mover) == user_id
    assert learner_in(world, user_id) == set()
    assert learner_in(world, user_id, guild) == {guild}


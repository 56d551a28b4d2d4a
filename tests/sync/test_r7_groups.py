"""R7 end to end: target groups (full, partial, no match, odd names), movers (one by one and in
bulk), roles and groups the connector must leave alone, disabled synced groups."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from personio360.domain import LEARNER
from personio360.errors import ConfigError
from personio360.sync.report import Outcome

from .world import (
    configure,
    expected_target,
    gid,
    group,
    groups_snapshot,
    learner_in,
    plain_ids,
    roles_of,
    roles_snapshot,
    subtree,
    where,
)

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

#: 60 employees, seed 3: "All employees" > Berlin (Engineering, Sales), "  london " ("MARKETING "),
#: a private "Leadership circle"; Kraków has no group; "External partners" sits outside.
WORLD = {"size": 60, "seed": 3}
BULK_WORLD = {"size": 130, "seed": 3}


@pytest.fixture
def world(make_env: MakeEnv) -> SyncEnv:
    env = make_env(**WORLD)
    assert env.lms.group(gid(env, "office:London")).name == "  london "
    assert env.lms.group(gid(env, "office:London/Marketing")).name == "MARKETING "
    assert "office:Kraków" not in env.installed.group_ids
    return env


def test_r7_full_partial_and_no_match_targets(world: SyncEnv) -> None:
    """Office then department when both groups exist; the deepest reached otherwise; the top if none."""
    before = groups_snapshot(world)

    world.sync()

    cases = {
        ("Berlin", "Engineering"): gid(world, "office:Berlin/Engineering"),  # full match
        ("Berlin", "Marketing"): gid(world, "office:Berlin"),  # partial: no department group
        ("London", "Marketing"): gid(world, "office:London/Marketing"),  # "  london " > "MARKETING "
        ("London", "Engineering"): gid(world, "office:London"),  # partial, trimmed, any case
        ("Kraków", "Engineering"): world.synced_group,  # no office group: the synced group
    }
    for (office, department), target in cases.items():
        people = where(world, office=office, department=department)
        assert people, (office, department)
        for employee_id in people:
            assert learner_in(world, world.user_id_of(employee_id)) == {target}, employee_id
    ceo = world.personio.employee(1001)
    assert (ceo["office"], ceo["department"]) == ("Berlin", None)
    assert learner_in(world, world.user_id_of(1001)) == {gid(world, "office:Berlin")}
    for employee_id in world.clean_ids():
        target = expected_target(world, world.personio.employee(employee_id))
        assert learner_in(world, world.user_id_of(employee_id)) == {target}, employee_id
    assert groups_snapshot(world) == before  # the connector never creates a group


def test_r7_each_level_is_matched_against_its_own_attribute(world: SyncEnv) -> None:
    """A group named like a department directly under the synced group is no office: Kraków
    engineers stay in the synced group (the first level without a match ends the descent)."""
    decoy = world.lms.add_group("Engineering", world.synced_group).id

    world.sync()

    engineers = where(world, office="Kraków", department="Engineering")
    assert engineers
    for employee_id in engineers:
        assert learner_in(world, world.user_id_of(employee_id)) == {world.synced_group}
    assert not any(r.role == LEARNER for r in world.lms.roles_of_group(decoy))


def test_r7_movers_join_the_new_target_and_lose_only_the_old_learner_role(world: SyncEnv) -> None:
    """Office/department changes move the learner role; coach/admin roles in the hierarchy, the
    private subgroup's members and memberships outside it stay; no group is created."""
    world.sync()
    moves = {  # from (office, department) to (office, department)
        ("Berlin", "Engineering"): ("London", "Marketing"),  # full -> full elsewhere
        ("Berlin", "Marketing"): ("Berlin", "Sales"),  # partial -> full below it
        ("Berlin", "Sales"): ("Kraków", "Sales"),  # full -> no match
        ("Kraków", "Sales"): ("Berlin", "Engineering"),  # no match -> full
        ("London", "Marketing"): ("london ", "Engineering"),  # full -> partial (odd spelling)
    }
    movers = {where(world, office=src[0], department=src[1])[0]: dst for src, dst in moves.items()}
    keeper = next(iter(movers))
    keeper_user = world.user_id_of(keeper)
    old_target = gid(world, "office:Berlin/Engineering")
    extra = {
        (old_target, "coach"),  # a non-learner role in the old target
        (gid(world, "office:Berlin"), "admin"),  # ... and above it, in the hierarchy
        (gid(world, "external"), LEARNER),  # a membership outside the synced hierarchy
        (gid(world, "leadership"), "coach"),
    }
    for group_id, role in extra:
        world.lms.add_role(group_id, keeper_user, role)
    outside = roles_snapshot(world, [gid(world, "external"), gid(world, "leadership"),
                                     world.installed.root_group_id])
    before = groups_snapshot(world)
    for employee_id, (office, department) in movers.items():
        world.personio.update(employee_id, office=office, department=department)

    report = world.sync()

    assert report.applied.get("move_user") == len(movers)
    for employee_id in movers:
        target = expected_target(world, world.personio.employee(employee_id))
        assert learner_in(world, world.user_id_of(employee_id)) == {target}, employee_id
    assert learner_in(world, keeper_user) == {gid(world, "office:London/Marketing")}
    assert extra <= roles_of(world, keeper_user)
    assert roles_snapshot(world, [gid(world, "external"), gid(world, "leadership"),
                                  world.installed.root_group_id]) == outside
    assert groups_snapshot(world) == before


def test_r7_extra_learner_roles_higher_in_the_hierarchy_are_removed(world: SyncEnv) -> None:
    """A managed user made a learner of the target's parents by hand learns in the target only."""
    world.sync()
    employee_id = where(world, office="Berlin", department="Engineering")[0]
    user_id = world.user_id_of(employee_id)
    for key in ("office:Berlin", "all"):
        world.lms.add_role(gid(world, key), user_id, LEARNER)

    report = world.sync()

    assert report.outcome in (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS)
    assert not [e for e in report.errors if e.employee_id == employee_id]
    assert learner_in(world, user_id) == {gid(world, "office:Berlin/Engineering")}


def _swap_offices(env: SyncEnv) -> dict[int, str]:
    """Berlin <-> London, every other office -> Berlin: every target changes. Returns old targets."""
    old = {}
    for employee_id in env.clean_ids():
        employee = env.personio.employee(employee_id)
        old[employee_id] = expected_target(env, employee)
        office = {"Berlin": "London", "London": "Berlin"}.get(employee["office"], "Berlin")
        env.personio.update(employee_id, office=office)
    return old


def test_r7_a_hundred_movers_go_through_the_bulk_api(make_env: MakeEnv) -> None:
    """Over 100 movers (whole offices swapped) are moved with bulk membership operations, with the
    same outcome as one by one (a learner of a group and its public subgroup included: the
    cascade's removal is no failure); other roles and groups stay."""
    env = make_env(**BULK_WORLD)
    env.sync()
    double = env.user_id_of(where(env, office="Berlin", department="Engineering")[0])
    env.lms.add_role(gid(env, "office:Berlin"), double, LEARNER)  # its removal cascades to the child
    coach = plain_ids(env)[0]
    coach_user = env.user_id_of(coach)
    coach_roles = {(expected_target(env, env.personio.employee(coach)), "coach"),
                   (gid(env, "external"), LEARNER)}
    for group_id, role in coach_roles:
        env.lms.add_role(group_id, coach_user, role)
    before = groups_snapshot(env)
    old = _swap_offices(env)
    bulk_before = env.sb.lms.stats.count("bulk")

    report = env.sync()

    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS  # the company's planted bad emails only
    assert {e.code for e in report.errors} <= {"missing_email", "invalid_email", "duplicate_email"}
    assert report.applied.get("move_user", 0) >= 100
    assert env.sb.lms.stats.count("bulk") - bulk_before >= 2  # removals, then additions
    for employee_id in env.clean_ids():
        target = expected_target(env, env.personio.employee(employee_id))
        assert target != old[employee_id]
        assert learner_in(env, env.user_id_of(employee_id)) == {target}, employee_id
    assert coach_roles <= roles_of(env, coach_user)
    assert groups_snapshot(env) == before
    assert env.sync().applied == {}  # converged


def test_r7_a_disabled_synced_group_is_left_alone(world: SyncEnv) -> None:
    """Once disabled, a synced group's learners stay as they are: none added, none removed."""
    academy = world.lms.add_group("London academy").id
    configure(world, groups=[group(world.synced_group),
                             group(academy, where={"office": "London"})])
    world.sync()
    londoners = where(world, office="London")
    assert {world.user_id_of(i) for i in londoners} <= world.learners(academy)
    mover = londoners[0]
    hand_made = world.user_id_of(where(world, office="Berlin")[0])
    world.lms.add_role(academy, hand_made, LEARNER)
    configure(world, groups=[group(world.synced_group),
                             group(academy, enabled=False, where={"office": "London"})])
    world.personio.update(mover, office="Berlin")
    newcomer = world.personio.hire(first_name="Noor", last_name="Haddad", email="noor@newco.example",
                                   office="London", department="Sales")
    roles = roles_snapshot(world, [academy])

    report = world.sync()

    assert report.applied.get("create_user") == 1
    assert roles_snapshot(world, [academy]) == roles
    assert world.user_id_of(newcomer) not in world.learners(academy)
    target = expected_target(world, world.personio.employee(mover))
    assert learner_in(world, world.user_id_of(mover)) == {target}  # the enabled group still moves


def test_r7_a_disabled_group_that_no_longer_exists_does_not_stop_the_run(world: SyncEnv) -> None:
    """Only enabled groups must exist in 360Learning; a disabled stale id is ignored."""
    configure(world, groups=[group(world.synced_group),
                             group("0123456789abcdef01234567", enabled=False)])

    report = world.sync()

    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS  # the planted bad emails only
    assert len(world.links()) == len(world.clean_ids())
    assert subtree(world, world.synced_group)


def test_r7_r14_nested_synced_groups_are_refused_or_converge(make_env: MakeEnv) -> None:
    """A synced group nested in another's hierarchy never makes the syncs oscillate."""
    world = make_env(size=40, seed=3)
    try:
        configure(world, groups=[group(world.synced_group),
                                 group(gid(world, "office:Berlin"), where={"office": "Berlin"})])
    except ConfigError:
        return  # refusing the config is a fix too
    world.sync()
    writes = world.writes()

    world.sync()

    assert world.writes() == writes

"""`sync --employee ID` end to end: exactly one person is created, updated, moved or removed,
nothing else changes, and the run is recorded under its own command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from personio360.sync.report import Outcome

from .world import expected_target, learner_in, platform_state, values_by_name, where

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

WORLD = {"size": 40, "seed": 3}


@pytest.fixture
def world(make_env: MakeEnv) -> SyncEnv:
    """The default company, fully synced once."""
    env = make_env(**WORLD)
    env.sync()
    return env


def last_command(env: SyncEnv) -> str:
    return env.ctx.store.runs.recent(1)[0].command


def unchanged_but(env: SyncEnv, before: dict[str, Any], *user_ids: str) -> None:
    """Everything 360Learning holds is as in ``before``, except the given users."""
    after = platform_state(env, skip=user_ids)
    skipped = set(user_ids)
    assert {k: v for k, v in before["users"].items() if k not in skipped} == after["users"]
    assert (before["groups"], before["fields"]) == (after["groups"], after["fields"])


def test_sync_employee_creates_only_that_new_hire(world: SyncEnv) -> None:
    """Two hires and an edit in Personio: only the named hire becomes a user, complete."""
    boss = where(world, office="Berlin", department="Engineering")[0]
    hires = [world.personio.hire(first_name=first, last_name="Lind", email=f"{first.lower()}@newco.example",
                                 office="Berlin", department="Engineering", position="Engineer",
                                 supervisor=boss, **{"dynamic_1000001": "M"})
             for first in ("Ada", "Bo")]
    edited = where(world, office="London")[0]
    world.personio.update(edited, position="Changed in Personio")
    before = platform_state(world)

    report = world.sync(employee_id=hires[0])

    assert report.outcome is Outcome.COMPLETED
    assert report.applied.get("create_user") == 1
    assert last_command(world) == f"sync --employee {hires[0]}"
    user = world.user_of(hires[0])
    assert (user.first_name, user.last_name, user.job) == ("Ada", "Lind", "Engineer")
    assert world.external_value(user.id) == str(hires[0])
    target = expected_target(world, world.personio.employee(hires[0]))
    assert learner_in(world, user.id) == {target}
    boss_user = world.user_id_of(boss)
    assert world.lms.managers_of(user.id) == [boss_user]
    assert values_by_name(world, user.id) == {"Department": "Engineering", "T-shirt size": "M"}
    assert hires[1] not in world.links()
    assert world.lms.user_by_mail("bo@newco.example") is None
    unchanged_but(world, before, boss_user, user.id)
    assert world.lms.subordinates_of(boss_user) == sorted(
        [*before["users"][boss_user]["subordinates"], user.id])


def test_sync_employee_updates_and_moves_only_that_person(world: SyncEnv) -> None:
    """Position, office and department changes of two people: only the named one follows."""
    chosen, other = where(world, office="Berlin", department="Engineering")[:2]
    for employee_id in (chosen, other):
        world.personio.update(employee_id, position="Staff Engineer", office="London",
                              department="Marketing")
    user_id = world.user_id_of(chosen)
    before = platform_state(world)

    report = world.sync(employee_id=chosen)

    assert report.outcome is Outcome.COMPLETED
    assert last_command(world) == f"sync --employee {chosen}"
    assert world.lms.user(user_id).job == "Staff Engineer"
    assert learner_in(world, user_id) == {expected_target(world, world.personio.employee(chosen))}
    assert values_by_name(world, user_id)["Department"] == "Marketing"
    unchanged_but(world, before, user_id)  # the other mover included


@pytest.mark.parametrize("leaving", ["terminate", "remove"])
def test_sync_employee_removes_only_that_leaver(world: SyncEnv, leaving: str) -> None:
    """Two leavers (terminated, or gone from Personio): only the named one's user is deleted."""
    supervisors = {e.get("supervisor") for e in world.personio.employees()}
    chosen, other = [i for i in where(world) if i not in supervisors][:2]
    for employee_id in (chosen, other):
        getattr(world.personio, leaving)(employee_id)
    user_id = world.user_id_of(chosen)
    (manager,) = world.lms.managers_of(user_id)
    before = platform_state(world)

    report = world.sync(employee_id=chosen)

    assert report.applied.get("delete_user") == 1
    assert world.lms.user(user_id).status == "deleted"
    assert chosen not in world.links()
    assert other in world.links()
    unchanged_but(world, before, user_id, manager)
    manager_state = {**before["users"][manager], "subordinates": [
        u for u in before["users"][manager]["subordinates"] if u != user_id]}  # 360Learning's own unlink
    assert world.full_state(manager) == manager_state
    assert last_command(world) == f"sync --employee {chosen}"


def test_sync_employee_with_an_unknown_id_changes_nothing(world: SyncEnv) -> None:
    """An id neither in Personio nor linked stops the run, recorded, with nothing changed."""
    before = platform_state(world)

    report = world.sync(employee_id=987654)

    assert report.outcome is Outcome.STOPPED
    assert last_command(world) == "sync --employee 987654"
    assert platform_state(world) == before


def test_sync_employee_as_the_first_run_creates_the_synced_fields(make_env: MakeEnv) -> None:
    """On a fresh platform, `sync --employee` creates the missing synced fields and fills them."""
    env = make_env(**WORLD)
    employee_id = where(env, office="Berlin", department="Engineering")[0]

    report = env.sync(employee_id=employee_id)

    assert "custom_field_missing" not in {e.code for e in report.errors}
    values = values_by_name(env, env.user_id_of(employee_id))
    assert values.get("Department") == "Engineering"


def test_sync_employee_with_an_unsynced_supervisor_completes_without_manager(world: SyncEnv) -> None:
    """A hire whose supervisor is another, not yet synced hire: no manager, and no error."""
    boss = world.personio.hire(first_name="Cleo", last_name="Marr", email="cleo@newco.example",
                               office="Berlin", department="Sales")
    hire = world.personio.hire(first_name="Dag", last_name="Holm", email="dag@newco.example",
                               office="Berlin", department="Sales", supervisor=boss)

    report = world.sync(employee_id=hire)

    assert report.outcome is Outcome.COMPLETED, report.errors
    assert world.lms.managers_of(world.user_id_of(hire)) == []
    assert boss not in world.links()

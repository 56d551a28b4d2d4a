"""R9 end to end: the Personio supervisor becomes the 360Learning manager through its link."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv


def reports_of(env: SyncEnv, boss: int) -> list[int]:
    clean = set(env.clean_ids())
    return [e["id"] for e in env.personio.employees()
            if e.get("supervisor") == boss and e["id"] in clean]


def test_r9_a_supervisor_hired_in_the_same_run_becomes_the_manager(flat_env: SyncEnv) -> None:
    """A new supervisor and their new report, created in one run: the report's manager resolves."""
    env = flat_env
    env.sync()
    boss = env.personio.hire(first_name="Maëlle", last_name="Brun",
                             email="maelle.brun@newco.example", position="Head of Research")
    report = env.personio.hire(first_name="Tomás", last_name="Ruiz",
                               email="tomas.ruiz@newco.example", position="Researcher",
                               supervisor=boss)

    outcome = env.sync()

    assert outcome.applied.get("create_user") == 2
    assert env.lms.managers_of(env.user_id_of(report)) == [env.user_id_of(boss)]
    assert env.lms.managers_of(env.user_id_of(boss)) == []


def test_r9_a_supervisor_change_replaces_the_manager(flat_env: SyncEnv) -> None:
    """A new supervisor in Personio: the old manager is removed, the new one set, and only that."""
    env = flat_env
    env.sync()
    report = next(i for i in env.clean_ids()
                  if env.personio.employee(i).get("supervisor") in env.links())
    old = env.personio.employee(report)["supervisor"]
    new = next(i for i in env.clean_ids() if i not in (report, old))
    env.personio.update(report, supervisor=new)

    env.sync()

    assert env.lms.managers_of(env.user_id_of(report)) == [env.user_id_of(new)]


def test_r9_a_manager_added_by_hand_is_replaced_by_the_supervisor(flat_env: SyncEnv) -> None:
    """Extra managers set by hand on a managed user give way to exactly the supervisor's user."""
    env = flat_env
    env.sync()
    report = next(i for i in env.clean_ids()
                  if env.personio.employee(i).get("supervisor") in env.links())
    user_id = env.user_id_of(report)
    intruder = env.installed.user_ids["trainer@partner-academy.example"]
    env.lms.add_manager(user_id, intruder)

    env.sync()

    supervisor = env.personio.employee(report)["supervisor"]
    assert env.lms.managers_of(user_id) == [env.user_id_of(supervisor)]


def test_r9_a_supervisor_out_of_scope_clears_the_manager(make_env: MakeEnv) -> None:
    """A supervisor who left the scope is no manager, even with the account kept (deactivate)."""
    env = make_env(levels=(), custom_fields={},
                   extra_toml='\n[safety]\nleavers = "deactivate"\n')
    env.sync()
    boss = next(i for i in env.clean_ids() if reports_of(env, i))
    boss_user = env.user_id_of(boss)
    reports = reports_of(env, boss)
    env.personio.terminate(boss)

    env.sync()

    assert env.lms.user(boss_user).status != "deleted"  # deactivation scheduled, account kept
    for report in reports:
        assert env.lms.managers_of(env.user_id_of(report)) == [], report


def test_r9_the_seed_supervisor_who_left_is_nobody_s_manager(env: SyncEnv) -> None:
    """The company's inactive supervisor (edge case `supervisor_left`) never becomes a manager."""
    env.sync()
    boss = env.edge("supervisor_left")[0]
    for report in reports_of(env, boss):
        assert env.lms.managers_of(env.user_id_of(report)) == [], report

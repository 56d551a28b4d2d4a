"""Identity end to end: adoption by email (R2), email changes (R4), unmanaged users (R6),
rehires (R5) and users deleted by hand (R4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from personio360.domain import LEARNER
from personio360.sync.run import run_sync

if TYPE_CHECKING:
    from .conftest import SyncEnv


def users_with_mail(env: SyncEnv, mail: str) -> list[str]:
    return [u.id for u in env.lms.users() if (u.mail or "").strip().lower() == mail.strip().lower()]


def a_leaf(env: SyncEnv, *, skip: int = 0) -> int:
    supervisors = {e.get("supervisor") for e in env.personio.employees()}
    adoptable = set(env.edge("adoptable"))
    return [i for i in env.clean_ids() if i not in supervisors and i not in adoptable][skip]


def a_supervisor(env: SyncEnv) -> tuple[int, list[int]]:
    """A clean, linked-to-be employee with clean reports."""
    clean = set(env.clean_ids())
    for boss in clean:
        reports = [e["id"] for e in env.personio.employees()
                   if e.get("supervisor") == boss and e["id"] in clean]
        if reports:
            return boss, reports
    raise AssertionError("the company has no supervisor with clean reports")


def test_r2_adopts_existing_users_by_email_whatever_the_case(env: SyncEnv) -> None:
    """Users holding an employee's email (one in upper case) are linked and updated, not copied."""
    adoptable = env.edge("adoptable")
    specs = {s.employee_id: s for s in env.sb.company.lms.users if s.kind == "adoptable"}
    assert any(specs[i].mail != specs[i].mail.lower() for i in adoptable)
    for employee_id in adoptable:  # edits made by hand in 360Learning: Personio wins (R4)
        env.lms.update_user(env.installed.user_ids[specs[employee_id].mail], {"job": "hand-made"})

    env.sync()

    links = env.links()
    for employee_id in adoptable:
        user_id = env.installed.user_ids[specs[employee_id].mail]
        assert links[employee_id].user_id == user_id
        assert links[employee_id].origin == "adopted"
        assert users_with_mail(env, specs[employee_id].mail) == [user_id]
        assert env.external_value(user_id) == str(employee_id)
        position = (env.personio.employee(employee_id).get("position") or "").strip() or None
        assert env.lms.user(user_id).job == position


def test_r2_r7_adoption_keeps_memberships_outside_the_synced_hierarchy(env: SyncEnv) -> None:
    """An adopted user's learner role on the root group (outside the synced group) stays."""
    root = env.installed.root_group_id
    adopted = [env.installed.user_ids[s.mail] for s in env.sb.company.lms.users
               if s.kind == "adoptable" and ("root", LEARNER) in s.roles]
    assert adopted

    env.sync()

    for user_id in adopted:
        assert root in env.learner_groups(user_id)


def test_r2_a_link_recorded_by_external_id_alone_is_found_again(flat_env: SyncEnv) -> None:
    """With the store lost, the `personio` external-ID mappings relink every user (R2(1))."""
    env = flat_env
    env.sync()
    before = {i: link.user_id for i, link in env.links().items()}
    users_before = len(env.lms.users())
    settings = env.settings_with_fresh_store()
    with env.open(settings=settings) as ctx:
        run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        after = {i: link.user_id for i, link in ctx.store.links.active().items()}
    assert after == before
    assert len(env.lms.users()) == users_before


def test_r4_an_email_change_keeps_the_same_user(flat_env: SyncEnv) -> None:
    """A new email in Personio changes the user's mail; no user is created or deleted."""
    env = flat_env
    env.sync()
    employee_id = a_leaf(env)
    user_id = env.user_id_of(employee_id)
    count = len(env.lms.users())
    env.personio.update(employee_id, email="Brand.New@Example.org")

    report = env.sync()

    assert env.user_id_of(employee_id) == user_id
    assert env.lms.user(user_id).mail == "Brand.New@Example.org"
    assert env.lms.user(user_id).status != "deleted"
    assert len(env.lms.users()) == count
    assert "create_user" not in report.applied
    assert "delete_user" not in report.applied


def test_r6_unmanaged_users_are_never_touched(env: SyncEnv) -> None:
    """Users never linked keep their whole state, whatever their group, mail or external id."""
    lms, group = env.lms, env.synced_group
    inactive = next(e["id"] for e in env.personio.employees() if e["status"] == "inactive")
    lookalike = lms.add_user("ghost@lumora.example", "Ghost", "Lookalike", job="Contractor")
    lms.add_role(group, lookalike.id, LEARNER)
    lms.add_external_id("personio", "user", lookalike.id, "999999")  # no such employee
    former = lms.add_user("former@elsewhere.example", "Former", "Staff")
    lms.add_role(group, former.id, LEARNER)
    lms.add_external_id("personio", "user", former.id, str(inactive))  # an out-of-scope employee
    other_platform = lms.add_user("hris@elsewhere.example", "Other", "Platform")
    lms.add_external_id("workday", "user", other_platform.id, str(env.clean_ids()[0]))
    lms.add_manager(lookalike.id, former.id)
    unmanaged = [u.id for u in lms.users()]  # everyone before the first sync, adoptable aside
    unmanaged = [u for u in unmanaged
                 if u not in {env.installed.user_ids[s.mail] for s in env.sb.company.lms.users
                              if s.kind == "adoptable"}]
    before = {u: env.full_state(u) for u in unmanaged}

    env.sync()
    leaver = a_leaf(env)
    env.personio.terminate(leaver)
    env.personio.update(a_leaf(env, skip=1), position="Moved On")
    env.sync()

    assert {u: env.full_state(u) for u in unmanaged} == before
    assert not set(unmanaged) & {link.user_id for link in env.links().values()}


def test_r5_a_rehire_gets_the_old_account_back(flat_env: SyncEnv) -> None:
    """Terminate, sync, reactivate, sync: the same user, not deleted, membership and manager back."""
    env = flat_env
    env.sync()
    employee_id = next(i for i in env.clean_ids()
                       if env.personio.employee(i).get("supervisor") in env.links()
                       and i not in env.edge("adoptable"))
    user_id = env.user_id_of(employee_id)
    groups, managers = env.learner_groups(user_id), env.lms.managers_of(user_id)
    assert groups
    assert managers
    env.personio.terminate(employee_id)
    env.sync()
    assert env.lms.user(user_id).status == "deleted"

    env.personio.update(employee_id, status="active", termination_date=None)
    env.sync()

    assert env.user_id_of(employee_id) == user_id
    assert env.lms.user(user_id).status != "deleted"
    assert env.learner_groups(user_id) == groups
    assert env.lms.managers_of(user_id) == managers
    assert env.external_value(user_id) == str(employee_id)
    assert len(users_with_mail(env, env.lms.user(user_id).mail or "")) == 1


def test_r4_a_user_deleted_by_hand_is_restored_with_membership_manager_and_values(env: SyncEnv) -> None:
    """A supervisor deleted by hand comes back: same id, groups, manager, values, reports."""
    env.sync()
    boss, reports = a_supervisor(env)
    user_id = env.user_id_of(boss)
    before = env.full_state(user_id)
    report_managers = {r: env.lms.managers_of(env.user_id_of(r)) for r in reports}
    env.lms.delete_user(user_id)
    assert env.lms.user(user_id).status == "deleted"

    env.sync()

    assert env.user_id_of(boss) == user_id
    after = env.full_state(user_id)
    assert after["record"][0] != "deleted"
    for key in ("roles", "managers", "values", "external_ids"):
        assert after[key] == before[key], key
    assert {r: env.lms.managers_of(env.user_id_of(r)) for r in reports} == report_managers


RESTORE_BUG = (
    "BUG: a deleted linked user is 'restored' by CreateUser with the employee's CURRENT email "
    "(planner._plan_employee, match.how == 'restore'); when that email differs from the deleted "
    "user's, 360Learning creates a NEW user instead of restoring, and SetExternalId then fails "
    "with valueAlreadyUsed on every run (the old mapping still holds the employee id; "
    "executor._external_id only looks up mappings by target). Fix: restore with the deleted "
    "user's mail, then UpdateUser the mail; or re-target the existing mapping")


def test_r4_a_user_deleted_by_hand_whose_email_changed_is_restored(flat_env: SyncEnv) -> None:
    """Deleted by hand while the employee's email changed: the same account comes back, with the new mail."""
    env = flat_env
    env.sync()
    employee_id = a_leaf(env)
    user_id = env.user_id_of(employee_id)
    env.lms.delete_user(user_id)
    env.personio.update(employee_id, email="married.name@newco.example")

    env.sync()

    assert env.user_id_of(employee_id) == user_id
    assert env.lms.user(user_id).status != "deleted"
    assert env.lms.user(user_id).mail == "married.name@newco.example"


def test_r5_r14_a_rehire_with_a_new_email_converges(flat_env: SyncEnv) -> None:
    """A leaver rehired under a new email: the old account (found by its external id) returns, then quiet."""
    env = flat_env
    env.sync()
    employee_id = a_leaf(env)
    user_id = env.user_id_of(employee_id)
    env.personio.terminate(employee_id)
    env.sync()
    env.personio.update(employee_id, status="active", termination_date=None,
                        email="back.again@newco.example")

    env.sync()

    assert env.user_id_of(employee_id) == user_id
    assert env.external_value(user_id) == str(employee_id)
    env.sb.lms.stats.reset()
    quiet = env.sync()
    assert employee_id not in {e.employee_id for e in quiet.errors}
    assert env.writes() == 0

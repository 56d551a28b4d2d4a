"""The seed's scenarios end to end: first sync (R1, R3, R4, R7, R9), edits, hires, leavers (R5)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from personio360.sync.report import Outcome

if TYPE_CHECKING:
    from .conftest import SyncEnv


def expected_target(env: SyncEnv, employee: dict[str, Any]) -> str:
    """R7 restated: descend by office then department, names trimmed and case-insensitive."""
    current = env.synced_group
    for level in env.settings.group_structure.levels:
        value = (employee.get(level) or "").strip().casefold()
        child = next((g.id for g in env.lms.groups() if g.parent_id == current
                      and value and g.name.strip().casefold() == value), None)
        if child is None:
            break
        current = child
    return current


def hierarchy(env: SyncEnv) -> set[str]:
    """The synced group and every group below it."""
    ids, frontier = {env.synced_group}, [env.synced_group]
    while frontier:
        parent = frontier.pop()
        for group in env.lms.groups():
            if group.parent_id == parent:
                ids.add(group.id)
                frontier.append(group.id)
    return ids


def leaf_employees(env: SyncEnv) -> list[int]:
    """Clean, in-scope employees who supervise nobody and were not pre-created in 360Learning."""
    supervisors = {e.get("supervisor") for e in env.personio.employees()}
    adoptable = set(env.edge("adoptable"))
    return [i for i in env.clean_ids() if i not in supervisors and i not in adoptable]


def test_r1_r3_r7_every_in_scope_employee_is_a_learner_of_their_target_group(env: SyncEnv) -> None:
    """After the first sync each in-scope employee's user learns in exactly their R7 target."""
    report = env.sync()

    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS  # the company's planted bad emails
    links = env.links()
    synced = hierarchy(env)
    for employee_id in env.clean_ids():
        user_id = links[employee_id].user_id
        assert env.lms.user(user_id).status != "deleted"
        employee = env.personio.employee(employee_id)
        assert env.learner_groups(user_id) & synced == {expected_target(env, employee)}, employee_id
    in_scope = set(env.in_scope_ids())
    for employee in env.personio.employees():
        if employee["id"] not in in_scope:
            assert employee["id"] not in links
            assert env.lms.user_by_mail(employee["email"]) is None, employee["id"]
    targets = {expected_target(env, env.personio.employee(i)) for i in env.clean_ids()}
    assert len(targets) > 2  # the company spreads over several subgroups


def test_r3_r7_without_group_structure_the_synced_group_is_the_target(flat_env: SyncEnv) -> None:
    """Without levels every user learns in the synced group itself; `test` sends no email."""
    flat_env.sync()

    learners = flat_env.learners(flat_env.synced_group)
    users = {flat_env.user_id_of(i) for i in flat_env.clean_ids()}
    assert users <= learners
    assert len(users) == len(flat_env.clean_ids())
    assert flat_env.lms.outbox == []  # R3/R12: the test environment asks for no welcome email


def test_r3_r12_production_sends_the_welcome_email_to_created_users(make_env: Any) -> None:
    """In production every created user gets 360Learning's invitation; adopted users get none."""
    env = make_env(environment="production", levels=(), custom_fields={})
    env.sync()

    invited = {mail["to"].strip().lower() for mail in env.lms.outbox}
    created = {i for i, link in env.links().items() if link.origin == "created"}
    assert {env.user_of(i).mail.lower() for i in created} == invited
    adopted = {env.user_of(i).mail.lower() for i in env.edge("adoptable")}
    assert not adopted & invited


def test_r4_r9_default_fields_land_in_the_right_360learning_fields(env: SyncEnv) -> None:
    """Names, mail, job, the `personio` external id (the employee id), the supervisor's user."""
    env.sync()

    links = env.links()
    for employee_id in env.clean_ids():
        employee = env.personio.employee(employee_id)
        user = env.user_of(employee_id)
        assert user.first_name == employee["first_name"].strip()
        assert user.last_name == employee["last_name"].strip()
        assert (user.mail or "").lower() == employee["email"].strip().lower()
        assert user.job == ((employee.get("position") or "").strip() or None), employee_id
        mappings = [(m.platform, m.value) for m in env.external_ids(user.id)]
        assert mappings == [("personio", str(employee_id))]
        supervisor = employee.get("supervisor")
        wanted = [links[supervisor].user_id] if supervisor in links else []
        assert env.lms.managers_of(user.id) == wanted, employee_id
    padded = env.edge("padded_email")[0]
    assert env.user_of(padded).mail == env.personio.employee(padded)["email"].strip()
    non_ascii = env.edge("non_ascii_names")
    assert {env.user_of(i).first_name for i in non_ascii if i in links} >= {"Zoë", "Łukasz"} \
        or {env.user_of(i).last_name for i in non_ascii if i in links} & {"Núñez", "Öztürk", "李"}


def test_r4_a_personio_edit_shows_after_the_next_sync(env: SyncEnv) -> None:
    """Changed names, position and email overwrite the user's fields; the user stays the same."""
    env.sync()
    employee_id = leaf_employees(env)[0]
    user_id = env.user_id_of(employee_id)
    env.personio.update(employee_id, first_name="Renée", last_name="Okonkwo-Ström",
                        position="Staff Engineer", email="renee.okonkwo@elsewhere.example")

    report = env.sync()

    assert report.applied.get("update_user") == 1
    assert env.user_id_of(employee_id) == user_id
    user = env.lms.user(user_id)
    assert (user.first_name, user.last_name, user.job, user.mail) == (
        "Renée", "Okonkwo-Ström", "Staff Engineer", "renee.okonkwo@elsewhere.example")


def test_r4_fields_the_connector_does_not_sync_are_never_changed(env: SyncEnv) -> None:
    """A username and organization set by hand on a managed user survive the next syncs."""
    env.sync()
    employee_id = leaf_employees(env)[0]
    user_id = env.user_id_of(employee_id)
    by_hand = {"username": "handle-42", "organization": "Guild", "phone": "+49 30 1"}
    env.lms.update_user(user_id, by_hand)
    env.personio.update(employee_id, position="Principal Engineer")

    env.sync()

    profile = env.lms.user_record(user_id).profile
    assert {key: profile[key] for key in by_hand} == by_hand
    assert profile["job"] == "Principal Engineer"


def test_r7_a_mover_joins_the_new_target_and_leaves_the_old_one(env: SyncEnv) -> None:
    """An office change moves the learner role to the new target group, and only there."""
    env.sync()
    synced = hierarchy(env)
    mover = next(i for i in leaf_employees(env)
                 if expected_target(env, env.personio.employee(i)) != env.synced_group)
    user_id = env.user_id_of(mover)
    old = expected_target(env, env.personio.employee(mover))
    env.personio.update(mover, office="Atlantis", department="Nowhere")

    env.sync()

    assert env.learner_groups(user_id) & synced == {env.synced_group} != {old}


def test_r3_r4_a_new_hire_shows_after_the_next_sync(env: SyncEnv) -> None:
    """A hire becomes a user with the default fields, the external id, a target group, a manager."""
    env.sync()
    supervisor = env.clean_ids()[0]
    office = env.personio.employee(env.clean_ids()[1])
    new_id = env.personio.hire(
        first_name="Ida", last_name="Nyström", email="ida.nystrom@newco.example",
        position="Data Analyst", supervisor=supervisor, office=office["office"],
        department=office["department"], status="onboarding")

    report = env.sync()

    assert report.applied.get("create_user") == 1
    user = env.user_of(new_id)
    assert (user.first_name, user.last_name, user.mail, user.job) == (
        "Ida", "Nyström", "ida.nystrom@newco.example", "Data Analyst")
    assert env.external_value(user.id) == str(new_id)
    target = expected_target(env, env.personio.employee(new_id))
    assert env.learner_groups(user.id) & hierarchy(env) == {target}
    assert env.lms.managers_of(user.id) == [env.user_id_of(supervisor)]


def test_r5_a_termination_deletes_the_user_at_the_next_sync(env: SyncEnv) -> None:
    """Status inactive: the user is soft-deleted (status `deleted`) and the link closes."""
    env.sync()
    leaver = leaf_employees(env)[0]
    user_id = env.user_id_of(leaver)
    env.personio.terminate(leaver)

    report = env.sync()

    assert report.applied.get("delete_user") == 1
    assert env.lms.user(user_id).status == "deleted"
    assert leaver not in env.links()
    assert env.ctx.store.links.history(leaver)[-1].closed_at is not None


def test_r5_an_employee_removed_from_personio_is_deleted_too(env: SyncEnv) -> None:
    """An employee absent from Personio altogether is a leaver like a terminated one."""
    env.sync()
    leaver = leaf_employees(env)[1]
    user_id = env.user_id_of(leaver)
    env.personio.remove(leaver)

    env.sync()

    assert env.lms.user(user_id).status == "deleted"
    assert leaver not in env.links()


def test_r5_leavers_deactivate_schedules_deactivation_and_keeps_the_account(env: SyncEnv) -> None:
    """leavers = "deactivate": a future toBeDeactivatedAt, the account stays, the link closes."""
    env.reconfigure(extra_toml='\n[safety]\nleavers = "deactivate"\n')
    env.sync()
    leaver = leaf_employees(env)[0]
    user_id = env.user_id_of(leaver)
    groups_before = env.learner_groups(user_id)
    env.personio.terminate(leaver)

    report = env.sync()

    assert report.applied.get("deactivate_user") == 1
    user = env.lms.user(user_id)
    assert user.status != "deleted"
    assert user.to_be_deactivated_at is not None
    when = dt.datetime.fromisoformat(user.to_be_deactivated_at.replace("Z", "+00:00"))
    assert when > dt.datetime.now(dt.UTC)
    assert env.learner_groups(user_id) == groups_before
    assert leaver not in env.links()

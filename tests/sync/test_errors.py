"""R15 end to end: one employee's problem is recorded and skipped; everyone else is synced."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from personio360.sync.report import Outcome

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv


@pytest.fixture
def env(flat_env: SyncEnv) -> SyncEnv:
    """These rules do not depend on group structure or custom fields: the lighter company."""
    return flat_env


def test_r15_bad_emails_are_per_employee_errors_and_the_others_proceed(env: SyncEnv) -> None:
    """Missing, invalid and duplicate emails: recorded with a reason, skipped, exit 1; all others synced."""
    report = env.sync()

    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS
    assert report.exit_code == 1
    expected = {(i, case) for case in ("missing_email", "invalid_email", "duplicate_email")
                for i in env.edge(case)}
    assert {(e.employee_id, e.code) for e in report.errors} == expected
    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    assert {(e.employee_id, e.code) for e in detail.errors} == expected
    assert all(e.message for e in detail.errors)
    links = env.links()
    assert not {i for i, _ in expected} & set(links)
    assert set(env.clean_ids()) <= set(links)
    duplicate = env.personio.employee(env.edge("duplicate_email")[0])["email"]
    assert env.lms.user_by_mail(duplicate) is None


def test_r15_a_fixed_email_is_synced_at_the_next_run(env: SyncEnv) -> None:
    """Once Personio holds a valid, unique email, the skipped employee gets a user."""
    env.sync()
    missing = env.edge("missing_email")[0]
    env.personio.update(missing, email="now.reachable@newco.example")

    report = env.sync()

    assert missing not in {e.employee_id for e in report.errors}
    assert env.user_of(missing).mail == "now.reachable@newco.example"


def test_r15_an_email_of_a_user_linked_to_another_employee_is_never_linked(env: SyncEnv) -> None:
    """A hire with the email another employee's user still holds is refused, not linked to that user."""
    env.sync()
    holder = next(i for i in env.clean_ids() if i not in env.edge("adoptable"))
    user_id = env.user_id_of(holder)
    old_mail = env.lms.user(user_id).mail or ""
    env.personio.update(holder, email="holder.renamed@newco.example")
    newcomer = env.personio.hire(first_name="Same", last_name="Mail", email=old_mail.upper())

    report = env.sync()

    assert (newcomer, "email_in_use") in {(e.employee_id, e.code) for e in report.errors}
    assert report.exit_code == 1
    assert env.user_id_of(holder) == user_id
    assert env.lms.user(user_id).mail == "holder.renamed@newco.example"
    assert newcomer not in env.links()
    assert env.external_value(user_id) == str(holder)

    env.sync()  # the holder's user no longer has the email: the newcomer gets their own user

    assert env.user_id_of(newcomer) != user_id
    assert env.user_id_of(holder) == user_id


def test_r15_a_value_360learning_rejects_skips_only_that_change(env: SyncEnv) -> None:
    """An email already held by an unmanaged user is refused by 360Learning; other changes land."""
    env.sync()
    first, second = [i for i in env.clean_ids() if i not in env.edge("adoptable")][:2]
    trainer = env.installed.user_ids["trainer@partner-academy.example"]
    trainer_before = env.full_state(trainer)
    env.personio.update(first, email="trainer@partner-academy.example")
    env.personio.update(second, position="Quality Lead")

    report = env.sync()

    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS
    assert first in {e.employee_id for e in report.errors}
    assert env.user_of(second).job == "Quality Lead"
    assert env.full_state(trainer) == trainer_before
    assert env.user_of(first).mail != "trainer@partner-academy.example"


def test_r4_two_employees_swapping_emails_converge(env: SyncEnv) -> None:
    """Two linked employees exchange emails: after one sync each user has the other's (R4, R14)."""
    env.sync()
    first, second = [i for i in env.clean_ids() if i not in env.edge("adoptable")][:2]
    mail_1, mail_2 = env.user_of(first).mail, env.user_of(second).mail
    env.personio.update(first, email=mail_2)
    env.personio.update(second, email=mail_1)

    env.sync()

    assert (env.user_of(first).mail, env.user_of(second).mail) == (mail_2, mail_1)
    env.sb.lms.stats.reset()
    assert env.sync().applied == {}
    assert env.writes() == 0


def test_r15_a_new_duplicate_of_a_linked_employee_s_email_deletes_and_moves_nothing(env: SyncEnv) -> None:
    """A hire sharing a linked employee's email: both are skipped, the linked user stays as it was."""
    env.sync()
    holder = next(i for i in env.clean_ids() if i not in env.edge("adoptable"))
    user_id = env.user_id_of(holder)
    before = env.full_state(user_id)
    twin = env.personio.hire(first_name="Twin", last_name="Mail", email=env.lms.user(user_id).mail)

    report = env.sync()

    assert {(holder, "duplicate_email"), (twin, "duplicate_email")} <= \
        {(e.employee_id, e.code) for e in report.errors}
    assert env.user_id_of(holder) == user_id
    assert twin not in env.links()
    assert env.full_state(user_id) == before


def test_r5_r15_the_connector_admin_is_never_deleted_as_a_leaver(make_env: MakeEnv) -> None:
    """An employee holding the connector admin's email is adopted; when they leave, the admin stays."""
    env = make_env(levels=(), custom_fields={})
    admin_mail = env.installed.connector_admin_email
    admin = env.installed.user_ids[admin_mail]
    employee_id = env.personio.hire(first_name="LMS", last_name="Admin", email=admin_mail)
    env.sync()
    assert env.user_id_of(employee_id) == admin
    env.personio.terminate(employee_id)

    report = env.sync()

    assert (employee_id, "protected_user") in {(e.employee_id, e.code) for e in report.errors}
    assert env.lms.user(admin).status != "deleted"
    assert env.sync().exit_code == 1  # R10 still holds: the admin is still a platform admin

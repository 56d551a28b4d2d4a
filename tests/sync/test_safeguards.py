"""R13 end to end: a bad Personio read stops the run before any change (a), deletions over
the threshold are held back (b), and ``plan`` is exactly what ``sync`` applies, changing nothing (c)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from personio360.emulators.faults import Fault
from personio360.sync.operations import DeleteUser
from personio360.sync.report import Outcome, RunReport

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

EMPLOYEES = r"^/v1/company/employees$"


def leaves(env: SyncEnv) -> list[int]:
    supervisors = {e.get("supervisor") for e in env.personio.employees()}
    return [i for i in env.clean_ids() if i not in supervisors and i not in env.edge("adoptable")]


def changes_upstream(env: SyncEnv) -> None:
    """Personio moves on: a leaver, an edit and a hire (each would write if the run went on)."""
    leaver, edited = leaves(env)[:2]
    env.personio.terminate(leaver)
    env.personio.update(edited, position="Chief Everything Officer")
    env.personio.hire(first_name="Neu", last_name="Zugang", email="neu.zugang@newco.example")


def assert_stopped_before_any_change(env: SyncEnv, report: RunReport, before: dict[str, object]) -> None:
    """R13a: stopped (exit 3), not one write, the same links and platform, no operation recorded."""
    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert env.writes() == 0
    assert {i: link.user_id for i, link in env.links().items()} == before["links"]
    assert env.platform_by_mail() == before["platform"]
    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    assert detail.run.outcome == "stopped"
    assert detail.operations == []


def state_of(env: SyncEnv) -> dict[str, object]:
    """What R13a must leave exactly as it was."""
    return {"links": {i: link.user_id for i, link in env.links().items()},
            "platform": env.platform_by_mail()}


def test_r13a_personio_failing_stops_the_run_before_any_change(flat_env: SyncEnv) -> None:
    """A 500 on every employee read: outcome stopped, exit 3, not one write to 360Learning."""
    env = flat_env
    env.sync()
    changes_upstream(env)
    env.sb.personio.faults.replace([Fault(kind="status", status=500, path=EMPLOYEES)])
    before = state_of(env)
    env.sb.lms.stats.reset()

    report = env.sync()

    assert_stopped_before_any_change(env, report, before)
    assert report.message
    assert "nothing was changed" in report.message


def test_r13a_personio_failing_on_the_first_run_creates_nobody(flat_env: SyncEnv) -> None:
    """Even with nothing managed yet, a failed read creates no user."""
    env = flat_env
    env.sb.personio.faults.replace([Fault(kind="status", status=503, path=EMPLOYEES)])
    before = state_of(env)

    report = env.sync()

    assert_stopped_before_any_change(env, report, before)


def test_r13a_personio_failing_halfway_through_the_pages_stops_the_run(make_env: MakeEnv) -> None:
    """The first page arrives, the next one's connection drops: a partial list never becomes deletions."""
    env = make_env(size=130, levels=(), custom_fields={})
    env.sync()
    assert len(env.personio.employees()) > 100  # more than one page of 100
    env.sb.personio.faults.replace([Fault(kind="drop", path=EMPLOYEES, after=1)])
    before = state_of(env)
    env.sb.lms.stats.reset()

    report = env.sync()

    assert_stopped_before_any_change(env, report, before)


def test_r13a_no_in_scope_employee_while_users_are_managed_stops_the_run(flat_env: SyncEnv) -> None:
    """Personio answers but no employee is in scope (status no longer readable): stop, delete nobody."""
    env = flat_env
    env.sync()
    env.personio.set_whitelisted("status", False)
    before = state_of(env)
    env.sb.lms.stats.reset()

    report = env.sync()

    assert_stopped_before_any_change(env, report, before)
    assert "no in-scope employee" in (report.message or "")


def test_r13a_everyone_terminated_stops_the_run(flat_env: SyncEnv) -> None:
    """Every employee inactive at once reads as a bad day upstream: the run stops."""
    env = flat_env
    env.sync()
    for employee in env.personio.employees():
        env.personio.terminate(employee["id"])
    before = state_of(env)
    env.sb.lms.stats.reset()

    report = env.sync()

    assert_stopped_before_any_change(env, report, before)


def test_r13b_holds_back_deletions_over_threshold(make_env: MakeEnv) -> None:
    """Three leavers over max_deletions = 2: the rest applies, deletions wait, exit 1; then allowed."""
    env = make_env(levels=(), custom_fields={}, extra_toml="\n[safety]\nmax_deletions = 2\n")
    env.sync()
    leavers = leaves(env)[:3]
    edited = leaves(env)[3]
    users = {i: env.user_id_of(i) for i in leavers}
    for leaver in leavers:
        env.personio.terminate(leaver)
    env.personio.update(edited, position="Head of Quality")

    report = env.sync()

    assert report.outcome is Outcome.HELD_BACK
    assert report.exit_code == 1
    assert sorted(op.employee_id for op in report.held_back) == sorted(leavers)
    assert all(isinstance(op, DeleteUser) for op in report.held_back)
    assert env.user_of(edited).job == "Head of Quality"
    for leaver, user_id in users.items():
        assert env.lms.user(user_id).status != "deleted"
        assert env.links()[leaver].user_id == user_id

    allowed = env.sync(allow_deletions=True)

    assert allowed.outcome is not Outcome.HELD_BACK
    assert allowed.held_back == ()
    assert allowed.applied.get("delete_user") == 3
    for leaver, user_id in users.items():
        assert env.lms.user(user_id).status == "deleted"
        assert leaver not in env.links()


def test_r13b_default_threshold_is_ten_users_for_a_small_company(flat_env: SyncEnv) -> None:
    """With no setting, 11 leavers of a small company are held back and 10 go through."""
    env = flat_env
    env.sync()
    leavers = leaves(env)[:11]
    assert len(leavers) == 11
    for leaver in leavers:
        env.personio.terminate(leaver)

    held = env.sync()
    assert held.outcome is Outcome.HELD_BACK
    assert len(held.held_back) == 11

    env.personio.update(leavers[0], status="active", termination_date=None)
    applied = env.sync()

    assert applied.held_back == ()
    assert applied.applied.get("delete_user") == 10


def planned_vs_applied(env: SyncEnv) -> None:
    plan = env.plan()
    again = env.plan()
    assert env.writes() == 0
    assert plan == again  # deterministic

    report = env.sync()

    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    planned = Counter((op.kind, op.employee_id) for op in plan.operations)
    applied = Counter((row.kind, row.employee_id) for row in detail.operations)
    assert applied == planned
    assert report.applied == plan.counts()
    assert sorted((e.employee_id, e.code) for e in report.errors) == \
        sorted((e.employee_id, e.code) for e in plan.errors)


def test_r13c_plan_changes_nothing_and_equals_what_sync_applies(env: SyncEnv) -> None:
    """On the first run and after upstream changes, plan writes nothing and sync applies exactly it."""
    runs = env.ctx.store.runs.count()
    plan = env.plan()
    assert plan.operations
    assert env.writes() == 0
    assert env.links() == {}
    assert env.ctx.store.runs.count() == runs
    planned_vs_applied(env)

    changes_upstream(env)
    env.lms.delete_user(env.user_id_of(leaves(env)[5]))  # drift on the 360Learning side too
    env.sb.lms.stats.reset()
    planned_vs_applied(env)


def test_r13a_360learning_unreadable_stops_the_run_before_any_change(flat_env: SyncEnv) -> None:
    """A 503 on every user list read: stop (exit 3) with a hint, nothing written, nothing deleted."""
    env = flat_env
    env.sync()
    changes_upstream(env)
    env.sb.lms.faults.replace([Fault(kind="status", status=503, method="GET", path=r"^/api/v2/users$")])
    before = state_of(env)
    env.sb.lms.stats.reset()

    report = env.sync()

    env.sb.lms.faults.replace([])
    assert_stopped_before_any_change(env, report, before)
    assert report.hint


def test_r13a_a_failed_per_user_read_removes_no_one_and_the_next_run_converges(flat_env: SyncEnv) -> None:
    """The managers reads fail part-way (after the lists): what the lists decided may land, but
    no leaver is removed; the run stops saying reading failed, and the next run finishes the job."""
    env = flat_env
    env.sync()
    leaver = leaves(env)[0]  # the one changes_upstream terminates
    leaver_user = env.user_id_of(leaver)
    changes_upstream(env)
    env.sb.lms.faults.replace([Fault(kind="status", status=503, method="GET",
                                     path=r"^/api/v2/users/[^/]+/managers$", after=5)])

    report = env.sync()

    env.sb.lms.faults.replace([])
    assert report.outcome is Outcome.STOPPED
    assert report.exit_code == 3
    assert (report.message or "").startswith("reading failed")
    assert "delete_user" not in report.applied
    assert env.lms.user(leaver_user).status != "deleted"
    assert env.links()[leaver].user_id == leaver_user
    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    assert len(detail.operations) == sum(report.applied.values())

    again = env.sync()

    assert again.outcome in (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS)  # the edge cases' R15 errors
    assert env.lms.user(leaver_user).status == "deleted"
    assert "neu.zugang@newco.example" in env.platform_by_mail()
    assert env.sync().applied == {}

"""R17 changes runs end to end, over real HTTP against both emulators: each kind of HR change
reaches 360Learning through ``sync --changes`` with the result a full sync gives (a full sync
after it finds nothing to do), at a cost that follows the changes, not the company.

Personio's clock runs a few seconds behind ours here, as a real service's may: its
``last_modified_at`` is then always before the reads that follow an edit, so "re-listed by the
cursor's overlap, unchanged" is told apart from "edited again within the same second".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from personio360.emulators.faults import Fault
from personio360.emulators.personio.state import PersonioState
from personio360.errors import RunStopped
from personio360.sync.report import Outcome, RunReport
from personio360.sync.run_changes import prepare_changes, run_changes

from .world import expected_target, learner_in, where

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

DONE = (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS)


def _behind() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)


def fed_env(make_env: MakeEnv, **options: Any) -> SyncEnv:
    env = make_env(personio_options={"state": PersonioState(clock=_behind)}, **options)
    assert env.sync().outcome in DONE
    return env


@pytest.fixture
def fed(make_env: MakeEnv) -> SyncEnv:
    """The default company, fully synced once: the changes runs' starting point."""
    return fed_env(make_env)


def changes(env: SyncEnv, **options: Any) -> RunReport:
    return run_changes(env.settings, env.ctx.personio, env.ctx.lms, env.ctx.store,
                       bulk_poll_interval=0.01, **options)


class Calls:
    """The calls both emulators answered since it was made."""

    def __init__(self, env: SyncEnv) -> None:
        self.env = env
        self.start = self._now()

    def _now(self) -> tuple[int, int, int]:
        sb = self.env.sb
        return (sb.personio.stats.count("read"), sb.lms.stats.count("read"), self.env.writes())

    @property
    def delta(self) -> tuple[int, int, int]:
        now = self._now()
        return (now[0] - self.start[0], now[1] - self.start[1], now[2] - self.start[2])


def converged(env: SyncEnv) -> None:
    """A full sync would change nothing: the changes run reached what a full sync gives."""
    assert [op.to_dict() for op in env.plan().operations] == []


def leaf(env: SyncEnv, **wanted: Any) -> int:
    """A clean employee nobody reports to."""
    bosses = {e.get("supervisor") for e in env.personio.employees()}
    return next(i for i in where(env, **wanted) if i not in bosses)


# --- nothing to do ------------------------------------------------------------------------


def test_nothing_to_do_is_one_personio_call_and_no_run(fed: SyncEnv) -> None:
    """An idle poll: one Personio list call, no 360Learning call, nothing recorded but the cursor."""
    runs, cursor = fed.ctx.store.runs.count(), fed.ctx.store.feed.cursor()
    calls = Calls(fed)
    report = changes(fed)
    assert (report.run_id, report.outcome, report.covered) == (None, Outcome.COMPLETED, 0)
    assert calls.delta == (1, 0, 0)
    assert fed.ctx.store.runs.count() == runs
    assert cursor is not None
    assert fed.ctx.store.feed.cursor() > cursor


def test_a_changes_run_needs_a_full_sync_first(make_env: MakeEnv) -> None:
    env = make_env()
    with pytest.raises(RunStopped, match="no full sync has completed") as stop:
        changes(env)
    assert stop.value.hint == "run personio360 sync once; changes runs take over from there"
    assert env.writes() == 0
    assert env.ctx.store.runs.count() == 0


# --- each kind of change ------------------------------------------------------------------

Change = Callable[["SyncEnv"], Callable[[], None]]


def _hire(env: SyncEnv) -> Callable[[], None]:
    boss = where(env, office="Berlin", department="Engineering")[0]
    new = env.personio.hire(first_name="Ada", last_name="Lind", email="ada.lind@newco.example",
                            office="Berlin", department="Engineering", position="Engineer", supervisor=boss)

    def check() -> None:
        user = env.user_of(new)
        assert (user.first_name, user.job) == ("Ada", "Engineer")
        assert env.lms.managers_of(user.id) == [env.user_id_of(boss)]
        assert learner_in(env, user.id) == {expected_target(env, env.personio.employee(new))}
    return check


def _edit(env: SyncEnv) -> Callable[[], None]:
    emp = leaf(env, office="London")
    env.personio.update(emp, position="Head of Tea", last_name="Ngata-Smith")

    def check() -> None:
        user = env.user_of(emp)
        assert (user.job, user.last_name) == ("Head of Tea", "Ngata-Smith")
    return check


def _email(env: SyncEnv) -> Callable[[], None]:
    emp = leaf(env)
    before = env.user_id_of(emp)
    env.personio.update(emp, email="renamed.person@newdomain.example")

    def check() -> None:
        assert env.user_id_of(emp) == before  # the same user, a new mail (R4)
        assert env.user_of(emp).mail == "renamed.person@newdomain.example"
    return check


def _mover(env: SyncEnv) -> Callable[[], None]:
    emp = leaf(env, office="Berlin")
    env.personio.update(emp, office="London")

    def check() -> None:
        assert learner_in(env, env.user_id_of(emp)) == {expected_target(env, env.personio.employee(emp))}
    return check


def _new_supervisor(env: SyncEnv) -> Callable[[], None]:
    emp = leaf(env, office="London")
    boss = next(i for i in where(env, office="Berlin") if i != emp)
    env.personio.update(emp, supervisor=boss)

    def check() -> None:
        assert env.lms.managers_of(env.user_id_of(emp)) == [env.user_id_of(boss)]
    return check


def _termination(env: SyncEnv) -> Callable[[], None]:
    emp = leaf(env)
    user = env.user_id_of(emp)
    env.personio.terminate(emp)

    def check() -> None:
        assert emp not in env.links()
        assert env.lms.user_record(user).status == "deleted"
    return check


CHANGES: dict[str, Change] = {"hire": _hire, "edit": _edit, "email change": _email, "mover": _mover,
                              "supervisor change": _new_supervisor, "termination": _termination}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_each_change_reaches_360learning_as_a_full_sync_would(fed: SyncEnv, change: Change) -> None:
    """Only the changed person is read and synced, and a full sync finds nothing left to do."""
    check = change(fed)
    calls = Calls(fed)
    report = changes(fed)
    assert report.outcome is Outcome.COMPLETED, report
    assert report.covered == 1
    check()
    personio_reads, lms_reads, _writes = calls.delta
    assert personio_reads == 1  # the poll lists them: no further Personio read
    assert lms_reads <= 4 + 5  # four for the person (R2/R4/R7/R8/R9) and a few fixed (R10, groups, fields)
    converged(fed)
    assert changes(fed).run_id is None  # and the next poll finds nothing new
    assert fed.ctx.store.runs.recent(1)[0].kind == "changes"


def test_a_rehire_gets_the_same_account_back(fed: SyncEnv) -> None:
    """R5: terminated then rehired, one changes run each: the same user, membership, manager."""
    emp = next(i for i in where(fed) if fed.personio.employee(i).get("supervisor") in fed.links()
               and i not in {e.get("supervisor") for e in fed.personio.employees()})
    user = fed.user_id_of(emp)
    groups, managers = fed.learner_groups(user), fed.lms.managers_of(user)
    fed.personio.terminate(emp)
    assert changes(fed).outcome is Outcome.COMPLETED
    assert fed.lms.user(user).status == "deleted"
    fed.personio.update(emp, status="active", termination_date=None)
    report = changes(fed)
    assert report.outcome is Outcome.COMPLETED
    assert fed.user_id_of(emp) == user
    assert fed.lms.user(user).status != "deleted"
    assert (fed.learner_groups(user), fed.lms.managers_of(user)) == (groups, managers)
    converged(fed)


def test_a_supervisor_who_leaves_clears_the_reports_managers_in_the_same_run(fed: SyncEnv) -> None:
    """R9: the reports are affected though their own records did not change."""
    reports_of: dict[int, list[int]] = {}
    for e in fed.personio.employees():
        if e.get("supervisor") in fed.links() and e["id"] in fed.links():
            reports_of.setdefault(e["supervisor"], []).append(e["id"])
    boss, reports = max(reports_of.items(), key=lambda item: len(item[1]))
    everyone = [e["id"] for e in fed.personio.employees() if e.get("supervisor") == boss]
    fed.personio.terminate(boss)
    report = changes(fed)
    assert report.outcome in DONE  # a report with a shared email is skipped, as a full sync does (R15)
    assert {e.code for e in report.errors} <= {"duplicate_email", "missing_email", "invalid_email"}
    assert report.covered == 1 + len(everyone)  # the boss and every report, linked or not
    for emp in reports:
        assert fed.lms.managers_of(fed.user_id_of(emp)) == []
    converged(fed)


# --- events, safety, failures ---------------------------------------------------------------


def test_an_event_names_whom_to_reread_and_is_answered_once(fed: SyncEnv) -> None:
    """A person deleted in Personio is not listed by the poll: the delivery names them, they are
    re-read (404: absent, R5) and removed; a managed user deleted by hand is restored (R4)."""
    gone = leaf(fed, office="London")
    gone_user = fed.user_id_of(gone)
    fed.personio.remove(gone)
    restored = leaf(fed, office="Berlin")
    restored_user = fed.user_id_of(restored)
    fed.lms.delete_user(restored_user)
    feed = fed.ctx.store.feed
    assert feed.record("personio", "k1", "person.deleted", employee_id=gone)
    assert not feed.record("personio", "k1", "person.deleted", employee_id=gone)  # a duplicate
    assert feed.record("360learning", "msg_1", "user.deleted", user_id=restored_user)
    assert feed.record("360learning", "msg_2", "user.updated", user_id="0" * 24)  # not ours (R6)
    report = changes(fed)
    assert report.outcome is Outcome.COMPLETED, report
    assert report.covered == 2
    assert fed.lms.user_record(gone_user).status == "deleted"
    assert gone not in fed.links()
    assert fed.lms.user(restored_user).status != "deleted"
    assert fed.user_id_of(restored) == restored_user
    assert feed.pending() == []
    converged(fed)


def test_a_trickle_of_terminations_is_held_back_once_the_window_budget_is_spent(make_env: MakeEnv) -> None:
    """R13b across runs: max_deletions = 2 per 24h; three terminations, one run each."""
    env = fed_env(make_env, extra_toml='\n[safety]\nmax_deletions = 2\ndeletion_window = "24h"\n')
    leavers = [i for i in where(env) if i not in {e.get("supervisor") for e in env.personio.employees()}][:3]
    outcomes = []
    for emp in leavers:
        env.personio.terminate(emp)
        outcomes.append(changes(env))
    assert [r.outcome for r in outcomes] == [Outcome.COMPLETED, Outcome.COMPLETED, Outcome.HELD_BACK]
    assert outcomes[-1].exit_code == 1
    assert "after 2 already removed in the last 24h" in (outcomes[-1].message or "")
    assert leavers[2] in env.links()  # still linked, still in 360Learning
    assert changes(env).run_id is None  # held back, not retried at every poll
    approved = changes(env, allow_deletions=True)  # approved the same way
    assert approved.outcome is Outcome.COMPLETED
    assert leavers[2] not in env.links()


def test_a_failed_read_keeps_the_cursor_and_the_events_and_the_next_run_converges(fed: SyncEnv) -> None:
    """R13a: a changes run that cannot read changes nothing and skips nothing."""
    emp = leaf(fed)
    fed.personio.update(emp, position="Changed while Personio failed")
    feed = fed.ctx.store.feed
    feed.record("personio", "k-fail", "person.updated", employee_id=emp)
    cursor = feed.cursor()
    fed.sb.personio.faults.replace([Fault(kind="status", status=500, method="GET",
                                          path=r"^/v1/company/employees$")])
    calls = Calls(fed)
    stopped = changes(fed)
    assert stopped.outcome is Outcome.STOPPED
    assert stopped.exit_code == 3
    assert "reading failed, nothing was changed" in (stopped.message or "")
    assert calls.delta[1:] == (0, 0)
    assert feed.cursor() == cursor
    assert [e.employee_id for e in feed.pending()] == [emp]
    fed.sb.personio.faults.replace([])
    assert changes(fed).outcome is Outcome.COMPLETED
    assert fed.user_of(emp).job == "Changed while Personio failed"
    assert feed.pending() == []


def test_a_write_failure_mid_run_applies_nothing_twice_when_run_again(fed: SyncEnv) -> None:
    """R14: a changes run stopped part-way leaves cursor and events; the rerun converges."""
    edits = [leaf(fed, office="London"), leaf(fed, office="Berlin")]
    for i, emp in enumerate(edits):
        fed.personio.update(emp, position=f"Edited {i}")
    cursor = fed.ctx.store.feed.cursor()
    fed.sb.lms.faults.replace([Fault(kind="status", status=503, method="WRITE", after=1)])
    stopped = changes(fed)
    assert stopped.outcome is Outcome.STOPPED
    assert fed.ctx.store.feed.cursor() == cursor
    fed.sb.lms.faults.replace([])
    assert changes(fed).outcome is Outcome.COMPLETED
    assert [fed.user_of(e).job for e in edits] == ["Edited 0", "Edited 1"]
    converged(fed)


def test_plan_changes_shows_the_run_and_changes_nothing(fed: SyncEnv) -> None:
    emp = leaf(fed)
    fed.personio.update(emp, position="Planned only")
    cursor, writes = fed.ctx.store.feed.cursor(), fed.writes()
    prepared = prepare_changes(fed.settings, fed.ctx.personio, fed.ctx.lms, fed.ctx.store)
    assert [(op.kind, op.employee_id) for op in prepared.plan.operations] == [("update_user", emp)]
    assert (fed.writes(), fed.ctx.store.feed.cursor()) == (writes, cursor)
    report = changes(fed)
    assert report.applied == {"update_user": 1}


def test_a_hire_cut_short_before_its_external_id_gets_it_from_the_next_changes_run(fed: SyncEnv) -> None:
    """R14/R2: the user was created and linked, the mapping failed, the run stopped; no
    completed run synced them, so the next changes run reads the mapping and sets it."""
    boss = where(fed, office="Berlin")[0]
    new = fed.personio.hire(first_name="Ada", last_name="Lind", email="ada.lind@newco.example",
                            office="Berlin", department="Engineering", supervisor=boss)
    mapping_fails = Fault(kind="status", status=503, method="POST", path=r"^/api/v2/external-ids$")
    fed.sb.lms.faults.replace([mapping_fails])
    assert changes(fed).outcome is Outcome.STOPPED
    assert new in fed.links()
    assert fed.external_value(fed.user_id_of(new)) is None
    fed.sb.lms.faults.replace([])
    assert changes(fed).outcome is Outcome.COMPLETED
    assert fed.external_value(fed.user_id_of(new)) == str(new)
    converged(fed)


def test_duplicate_emails_hold_across_the_people_a_changes_run_does_not_cover(fed: SyncEnv) -> None:
    """R15 as a full sync sees it: editing one of two employees who share an email creates no
    user; once the other's email changes, the first is unique and synced in the same run."""
    first, second = sorted(fed.edge("duplicate_email"))[:2]
    fed.personio.update(first, position="Still a duplicate")
    report = changes(fed)
    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS
    assert [(e.employee_id, e.code) for e in report.errors] == [(first, "duplicate_email")]
    assert str(second) in report.errors[0].message
    assert first not in fed.links()
    converged(fed)
    fed.personio.update(second, email="now.unique@newco.example")
    report = changes(fed)
    assert report.outcome is Outcome.COMPLETED, report
    assert {first, second} <= fed.links().keys()
    converged(fed)

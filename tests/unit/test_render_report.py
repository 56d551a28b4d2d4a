"""The CLI's text output (cli/render.py) and the run report's outcome and exit code (SPEC §2)."""

from __future__ import annotations

import datetime as dt

import pytest
from rich.console import Console

from personio360.cli.render import Names, render_plan, render_report
from personio360.sync.operations import (
    DeleteUser,
    EmployeeError,
    FieldChange,
    MoveUser,
    Plan,
    UpdateUser,
)
from personio360.sync.planner import plan
from personio360.sync.report import Outcome, RunReport
from personio360.sync.safety import hold_back_deletions
from strategies import BERLIN_SALES, PARIS_SALES, TOP, employee, hierarchy, settings, snapshot

START = dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC)


def text_of(draw: object, *args: object, **kwargs: object) -> str:
    console = Console(record=True, width=200, highlight=False, color_system=None)
    draw(console, *args, **kwargs)  # type: ignore[operator]
    return console.export_text()


@pytest.mark.parametrize(("outcome", "code"), [
    (Outcome.COMPLETED, 0), (Outcome.COMPLETED_WITH_ERRORS, 1), (Outcome.HELD_BACK, 1),
    (Outcome.STOPPED, 3),
])
def test_outcomes_map_to_the_documented_exit_codes(outcome: Outcome, code: int) -> None:
    """SPEC §2: 0 success; 1 per-user errors or held-back deletions; 3 stopped before any change."""
    report = RunReport(run_id=1, outcome=outcome, started_at=START, ended_at=START)
    assert report.exit_code == code


def test_the_report_serialises_with_its_duration() -> None:
    """``sync --json``: outcome text, duration in seconds, errors and held-back operations."""
    report = RunReport(
        run_id=7, outcome=Outcome.HELD_BACK, started_at=START,
        ended_at=START + dt.timedelta(seconds=2.5), applied={"create_user": 2},
        errors=(EmployeeError(3, "missing_email", "no email"),),
        held_back=(DeleteUser(employee_id=4, user_id="u4", reason="left"),), planned=3)
    data = report.to_dict()
    assert data["outcome"] == "completed, deletions held back"
    assert data["duration_s"] == 2.5
    assert data["errors"] == [{"employee_id": 3, "code": "missing_email", "message": "no email"}]
    assert data["held_back"][0]["kind"] == "delete_user"


def test_an_empty_plan_says_everything_is_in_step() -> None:
    """``plan`` with nothing to do says so in one line."""
    out = text_of(render_plan, Plan(in_scope=3, managed=3, deletion_limit=10))
    assert "In scope: 3 employees; managed users: 3; deletion limit: 10" in out
    assert "Nothing to change: 360Learning is in step with Personio." in out


def test_a_plan_names_people_and_groups() -> None:
    """Per-person lines use employee names and group names, not ids; values are shown before → after."""
    snap = snapshot([employee(1, first_name="Anna", last_name="Becker", office="Paris",
                              department="Sales")], hierarchies=[hierarchy()])
    planned = plan(snap, settings())
    out = text_of(render_plan, planned, names=Names.of(snap))
    assert "Anna Becker (1): create user: mail: ∅ → e1@acme.example" in out
    assert "learner of: ∅ → Sales" in out
    assert "(R3)" in out
    assert PARIS_SALES not in out


def test_held_back_deletions_and_errors_are_shown_with_the_note() -> None:
    """R13b and R15 in the text: a held-back row, the held-back people, the errors and the note."""
    ops = (UpdateUser(employee_id=1, user_id="u1", fields_changed=(FieldChange("job", "a", "b"),)),
           *(DeleteUser(employee_id=i, user_id=f"u{i}", reason="left") for i in (2, 3)))
    guarded = hold_back_deletions(
        Plan(operations=ops, errors=(EmployeeError(9, "missing_email", "no email; skipped"),),
             deletion_limit=1), allow_deletions=False)
    out = text_of(render_plan, guarded)
    assert "delete user (held back)" in out
    assert "Held back (R13b)" in out
    assert "employee 9: no email; skipped" in out
    assert "note: 2 users would be removed, more than the limit of 1 per 24h" in out


def test_the_detail_limit_says_how_many_more() -> None:
    """Long plans print the first lines and point to ``plan --json``."""
    ops = tuple(MoveUser(employee_id=i, user_id=f"u{i}", add=(BERLIN_SALES,), remove=(TOP,))
                for i in range(1, 6))
    out = text_of(render_plan, Plan(operations=ops), detail_limit=2)
    assert "… and 3 more (plan --json lists everything)" in out


def test_a_report_lists_what_was_applied() -> None:
    """``sync``: the outcome, the applied counts by label, errors pointing to ``runs show``."""
    report = RunReport(run_id=4, outcome=Outcome.COMPLETED_WITH_ERRORS, started_at=START,
                       ended_at=START + dt.timedelta(seconds=1), applied={"create_user": 2},
                       errors=(EmployeeError(1, "x", "y"),))
    out = text_of(render_report, report)
    assert "Run 4: completed with errors in 1.0 s" in out
    assert "applied: create user: 2" in out
    assert "errors: 1 (personio360 runs show 4)" in out
    nothing = text_of(render_report, RunReport(run_id=5, outcome=Outcome.COMPLETED,
                                               started_at=START, ended_at=START))
    assert "applied: nothing (already in step)" in nothing

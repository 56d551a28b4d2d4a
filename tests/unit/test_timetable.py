"""The production timetable (R17): the first full sync at once, then changes runs on deliveries,
a burst coalesced into one run, polls on their interval; a stop ends it (no clock, no sleeps)."""

from __future__ import annotations

import datetime as dt

from personio360.errors import RunLocked
from personio360.scheduler import Timetable
from personio360.sync.report import Outcome, RunReport

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
REPORT = RunReport(run_id=1, outcome=Outcome.COMPLETED, started_at=NOW, ended_at=NOW)


def test_a_burst_of_deliveries_is_one_changes_run_after_the_first_full_sync() -> None:
    ran: list[str] = []

    def full() -> RunReport:
        ran.append("full")
        for _ in range(500):
            table.arrived()  # 500 deliveries while the full sync runs
        return REPORT

    def changes() -> RunReport:
        ran.append("changes")
        table.halt()
        return REPORT

    table = Timetable(run_full=full, run_changes=changes, full_every=3600, poll_every=None, coalesce=0)
    table.run_forever()
    assert ran == ["full", "changes"]


def test_polls_follow_their_interval_and_a_locked_store_is_a_problem_not_a_crash() -> None:
    ran: list[str] = []
    problems: list[str] = []
    clock = [0.0]

    def full() -> RunReport:
        ran.append("full")
        return REPORT

    def changes() -> RunReport:
        ran.append("changes")
        clock[0] += 60
        if len(ran) == 3:
            raise RunLocked("held")
        if len(ran) == 4:
            table.halt()
        return REPORT

    table = Timetable(run_full=full, run_changes=changes, full_every=3600, poll_every=0, coalesce=0,
                      clock=lambda: clock[0], on_problem=problems.append)
    table.run_forever()
    assert ran == ["full", "changes", "changes", "changes"]
    assert problems == ["another run holds the state store's lock: this run waits for the next tick"]

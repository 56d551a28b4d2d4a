"""The schedule loop (R12): interval, one run at a time, failures survived, clean stop."""

from __future__ import annotations

import datetime as dt

import pytest

from personio360.config import Settings
from personio360.errors import ApiUnavailable, ConfigError, RunLocked
from personio360.scheduler import Schedule, refuse_unless_production
from personio360.sync.report import Outcome, RunReport

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _report() -> RunReport:
    return RunReport(run_id=1, outcome=Outcome.COMPLETED, started_at=NOW, ended_at=NOW)


def _settings(environment: str) -> Settings:
    return Settings.model_validate({
        "environment": environment,
        "learning360": {"connector_admin_email": "admin@example.com"},
        "groups": [{"id": "a" * 24}],
    })


class _Clock:
    """A wait() that records the delays asked for and ends the loop after ``ticks`` waits."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks
        self.delays: list[float] = []

    def __call__(self, delay: float) -> bool:
        self.delays.append(delay)
        return len(self.delays) >= self.ticks


def test_r12_runs_on_the_interval_until_stopped() -> None:
    """Each tick runs once, then waits the configured interval."""
    clock = _Clock(ticks=3)
    reports: list[RunReport] = []
    schedule = Schedule(run_once=_report, interval=3600.0, on_report=reports.append, wait=clock)
    schedule.run_forever()
    assert schedule.runs == 3
    assert len(reports) == 3
    assert clock.delays == [3600.0, 3600.0, 3600.0]


def test_r12_a_failed_run_does_not_stop_the_schedule() -> None:
    """An API failure, a crash and a held lock are reported, and the next tick runs again."""
    outcomes = iter([
        ApiUnavailable("down", service="360learning", method="GET", path="/api/v2/users"),
        RuntimeError("bug"),
        RunLocked("another run"),
        None,
    ])
    problems: list[str] = []
    reports: list[RunReport] = []

    def run_once() -> RunReport:
        failure = next(outcomes)
        if failure is not None:
            raise failure
        return _report()

    schedule = Schedule(run_once=run_once, interval=60.0, on_report=reports.append,
                        on_problem=problems.append, wait=_Clock(ticks=4))
    schedule.run_forever()
    assert schedule.runs == 4
    assert len(reports) == 1
    assert problems[0].startswith("the run failed: 360learning GET /api/v2/users")
    assert problems[1] == "the run crashed: RuntimeError: bug"
    assert problems[2] == "another run holds the state store's lock: this tick is skipped"


def test_r12_stop_before_start_runs_nothing() -> None:
    """A stop requested before the loop starts (SIGTERM at start-up) runs nothing."""
    schedule = Schedule(run_once=_report, interval=60.0, wait=_Clock(ticks=1))
    schedule.stop.set()
    schedule.run_forever()
    assert schedule.runs == 0


def test_r12_jitter_only_lengthens_the_interval() -> None:
    """Jitter spreads ticks by at most its fraction of the interval, never shortens them."""
    clock = _Clock(ticks=20)
    Schedule(run_once=_report, interval=100.0, jitter=0.1, wait=clock).run_forever()
    assert all(100.0 <= d <= 110.0 for d in clock.delays)


def test_r12_test_environment_refuses_the_schedule() -> None:
    """The test environment never runs on a schedule: a clear config error names R12."""
    with pytest.raises(ConfigError, match=r'runs only with environment = "production"'):
        refuse_unless_production(_settings("test"))
    refuse_unless_production(_settings("production"))

"""Personio's per-IP limit as one budget per deployment (issue 15), shared through PostgreSQL.

Each test scales the limit down to a handful of calls a minute and counts admissions
(``try_acquire`` never waits), so what is shown is the sharing itself, never a duration.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from personio360.config import load_config
from personio360.emulators.sandbox import Sandbox
from personio360.http.ratelimit import PERSONIO_LIMITS, RateLimiter
from personio360.service.database import SHARED_SCHEMA, Database
from personio360.service.database import database_url as parse_url
from personio360.service.limits import BUDGET_TABLE, DeploymentLimit
from personio360.wiring import open_context, personio_budget, share_personio_budget

from .helpers import cli, finished, queue, wait_until, workers

#: five calls a minute: far more than the few milliseconds a test takes
TINY = [(5, 60.0)]


class _Counted:
    """A shared pacer that counts the calls it admits (a fake, not a mock)."""

    def __init__(self) -> None:
        self.calls = 0

    def acquire(self) -> None:
        self.calls += 1


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The session's PostgreSQL, as a deployment sees it."""
    db = Database(parse_url(database_url))
    yield db
    db.close()


def _budget(db: Database, rates: list[tuple[int, float]] = TINY, name: str = "tiny") -> DeploymentLimit:
    return DeploymentLimit(db, rates=rates, name=name)


def _drain(budget: DeploymentLimit, most: int = 50) -> int:
    """How many calls the budget admits right now (``most`` at the very most): up to its first
    refusal, since a full window stays full for the rest of the minute."""
    return sum(1 for _ in itertools.takewhile(lambda _: budget.try_acquire(), range(most)))


def test_every_call_of_every_kind_also_waits_for_the_shared_pacer() -> None:
    """A limiter given a shared pacer counts each call against it once, whatever its kind
    (Personio's per-IP limit covers every v1 endpoint, the token endpoint included)."""
    shared = _Counted()
    limiter = RateLimiter(PERSONIO_LIMITS, shared=shared)
    for kind in ("read", "read", "auth", "write"):
        limiter.acquire(kind)
    assert shared.calls == 4


def test_single_company_mode_installs_no_deployment_budget() -> None:
    """Without a worker, no budget is installed: single-company mode paces in-process only."""
    assert personio_budget() is None


def test_two_budgets_over_one_database_admit_one_limit_between_them(database: Database) -> None:
    """Two limiter users, each with its own connections, take turns: together they get exactly
    the five calls of the minute, no more."""
    first, second = _budget(database), _budget(database)
    try:
        taken = [(first if n % 2 == 0 else second).try_acquire() for n in range(12)]
    finally:
        first.close()
        second.close()
    assert taken[:5] == [True] * 5
    assert sum(taken) == 5


def test_another_process_sees_the_calls_of_this_one(database: Database, database_url: str) -> None:
    """Two calls taken here leave the other three of the minute to a second process."""
    here = _budget(database)
    try:
        assert _drain(here, most=2) == 2
        code = ("import itertools, sys\n"
                "from personio360.service.database import Database, database_url\n"
                "from personio360.service.limits import DeploymentLimit\n"
                "db = Database(database_url(sys.argv[1]))\n"
                "budget = DeploymentLimit(db, rates=[(5, 60.0)], name='tiny')\n"
                "print(sum(1 for _ in itertools.takewhile(lambda _: budget.try_acquire(), range(50))))\n"
                "budget.close(); db.close()\n")
        done = subprocess.run([sys.executable, "-c", code, database_url], capture_output=True, text=True,
                              timeout=60, check=True)
        assert done.stdout.strip() == "3"
        assert _drain(here) == 0
    finally:
        here.close()


def test_a_personio_client_under_the_installed_budget_counts_its_every_call(
        database: Database, tmp_path: Path) -> None:
    """Clients ``open_context`` builds while a budget is installed spend it: the token and every
    page the emulator answered, so a second user of the budget gets only what is left."""
    installed = _budget(database, rates=[(40, 60.0)], name="clients")
    other = _budget(database, rates=[(40, 60.0)], name="clients")
    share_personio_budget(installed)
    try:
        with Sandbox(tmp_path, size=250, rate_limits=False) as sb:
            settings = load_config(sb.config_path)
            with open_context(settings, environ=sb.environ, rate_limit_factor=1000) as ctx:
                assert len(list(ctx.personio.iter_employees())) == len(sb.personio.state)
            answered = sum(sb.personio.stats.snapshot()["by_endpoint"].values())
        assert answered >= 4  # the token and three pages of 100
        assert _drain(other) == 40 - answered
    finally:
        share_personio_budget(None)
        installed.close()
        other.close()


@pytest.mark.slow
def test_a_worker_counts_its_jobs_personio_calls_against_the_deployment(
        make_company, deployment_env, database_url, tmp_path) -> None:
    """``personio360 worker`` installs the deployment's budget: after one company's full sync on
    a worker, the budget's table holds one row per Personio call the company's emulator answered."""
    acme = make_company("acme", size=12, seed=31)  # the worker paces at the published limits
    assert cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets)).code == 0
    with workers(deployment_env, 1, tmp_path), queue(database_url) as app:
        assert "Queued" in cli(deployment_env, "companies", "sync", "acme").out
        wait_until(lambda: finished(app, "acme"), 120, "the full sync")
    answered = sum(acme.sandbox.personio.stats.snapshot()["by_endpoint"].values())
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        rows = conn.execute(f'SELECT count(*) FROM "{SHARED_SCHEMA}"."ratelimit___{BUDGET_TABLE}"').fetchone()
    assert rows is not None
    assert answered >= 2  # the token and the one page
    assert rows[0] == answered

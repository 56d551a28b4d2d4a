"""Three companies, two worker processes, one PostgreSQL (issue 15), over real HTTP.

Each company has its own emulators. Outcomes are compared with the same company synced alone
in single-company mode; the queue is read through procrastinate as ``companies jobs`` reads it.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from personio360.config import load_config
from personio360.emulators.sandbox import Sandbox
from personio360.sync.run import prepare_plan, run_sync
from personio360.wiring import load_target, open_context

from .helpers import cli, finished, jobs, outcome, queue, wait_until, workers

SIZE = 12


def synced_alone(directory: Path, size: int = SIZE, **options: object) -> list[tuple[object, ...]]:
    """The same company synced by itself, in single-company mode (a config file, SQLite)."""
    with Sandbox(directory, size=size, rate_limits=False, **options) as sb:  # type: ignore[arg-type]
        settings = load_config(sb.config_path)
        with open_context(settings, environ=sb.environ, rate_limit_factor=1000) as ctx:
            run_sync(settings, ctx.personio, ctx.lms, ctx.store)
        return outcome(sb.lms.state)


def converged(company: str, database_url: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
              *, rate_limit_factor: float = 1000) -> bool:
    """A fresh plan of ``company`` has nothing left to do (R14); paced as its emulators allow
    (``rate_limit_factor`` 1.0 where they enforce the published limits)."""
    monkeypatch.setenv("PERSONIO360_SECRET_KEY", env["PERSONIO360_SECRET_KEY"])
    target = load_target(None, company=company, database=database_url)
    with open_context(target.settings, environ=target.environ, rate_limit_factor=rate_limit_factor) as ctx:
        return prepare_plan(target.settings, ctx.personio, ctx.lms, ctx.store).plan.empty


@pytest.mark.slow
def test_three_companies_on_two_workers_end_as_if_synced_alone(
        make_company, deployment_env, database_url, tmp_path, monkeypatch) -> None:
    """Three companies (one in production, whose first full sync the periodic tick defers by itself)
    synced by two workers: each company's 360Learning ends exactly as when synced alone."""
    seeds = {"acme": 11, "beta": 12, "gamma": 13}
    files = {name: make_company(name, size=SIZE, seed=seed,
                                environment="production" if name == "gamma" else "test")
             for name, seed in seeds.items()}
    for name, company in files.items():
        assert cli(deployment_env, "companies", "add", str(company.config), "--secrets",
                   str(company.secrets)).code == 0, name
    with workers(deployment_env, 2, tmp_path), queue(database_url) as app:
        for name in ("acme", "beta"):
            queued = cli(deployment_env, "companies", "sync", name)
            assert "Queued a full sync of" in queued.out
        wait_until(lambda: all(finished(app, n) for n in seeds), 180, "the three full syncs")
        for name in seeds:
            assert [j["status"] for j in jobs(app, name)] == ["succeeded"], name
    for name, seed in seeds.items():
        alone = synced_alone(tmp_path / f"alone-{name}", seed=seed)
        assert outcome(files[name].sandbox.lms.state) == alone, name
        assert converged(name, database_url, monkeypatch, deployment_env), name
    listed = cli(deployment_env, "companies", "jobs", "gamma")
    assert "full" in listed.out
    assert "succeeded" in listed.out


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_it_to_another_that_converges(
        make_company, deployment_env, database_url, tmp_path, monkeypatch) -> None:
    """SIGKILL of the worker running a full sync: after its heartbeat stops, the other worker runs
    the job again to the same end as a sync alone, no user created twice (R14)."""
    acme = make_company("acme", size=30, seed=21, rate_limits=True)  # paced: the sync takes seconds
    assert cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets)).code == 0
    state = acme.sandbox.lms.state
    before = len(state.users())
    with workers(deployment_env, 1, tmp_path, stalled_after=4) as (start, started), \
            queue(database_url) as app:
        assert "Queued" in cli(deployment_env, "companies", "sync", "acme").out
        wait_until(lambda: len(state.users()) >= before + 3, 120, "the sync to be creating users")
        assert [j["status"] for j in jobs(app, "acme")] == ["doing"]
        started[0].send_signal(signal.SIGKILL)
        started[0].wait()
        killed_at = len(state.users())
        start()
        wait_until(lambda: finished(app, "acme"), 180, "the job retried by the other worker")
        job = jobs(app, "acme")[0]
        assert job["status"] == "succeeded"
        assert job["attempts"] >= 2
    mails = [u.mail for u in state.users() if u.mail]
    assert len(mails) == len(set(mails)), "no user created twice"
    assert killed_at < len(state.users())
    assert outcome(state) == synced_alone(tmp_path / "alone", size=30, seed=21)
    assert converged("acme", database_url, monkeypatch, deployment_env, rate_limit_factor=1.0)


@pytest.mark.slow
def test_a_burst_of_500_changes_queues_at_most_a_few_runs(make_company, deployment_env, database_url,
                                                         tmp_path) -> None:
    """500 changes runs asked for at once (a burst of deliveries) queue as at most a few jobs: the
    queueing lock keeps one waiting while another may run."""
    acme = make_company("acme", size=6)
    assert cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets)).code == 0
    from personio360.service.tasks import defer

    with workers(deployment_env, 2, tmp_path), queue(database_url) as app:
        defer(app, "acme", "full")  # a changes run builds on a completed full sync (R17)
        wait_until(lambda: finished(app, "acme"), 120, "the first full sync")
        new = sum(defer(app, "acme", "changes")[1] for _ in range(500))
        assert new <= 3
        wait_until(lambda: finished(app, "acme"), 120, "the changes runs")
        ran = [j for j in jobs(app, "acme") if j["kind"] == "changes"]
    assert 1 <= len(ran) <= 3
    assert {j["status"] for j in ran} == {"succeeded"}

# ruff: noqa: F401, F811 - the deployment fixture is imported and then requested by parameter name
"""Previews as queue jobs (issue 15): a deployment's Preview and Run now, over real HTTP.

A ``preview`` job stores the plan document in the company's own store; the company's Overview
shows it; Run now queues an ``apply`` job of exactly that document, refused (nothing written)
when an input moved. Jobs run on an in-process worker that stops when the queue is empty.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from click.testing import CliRunner

from personio360.cli.main import cli as personio360
from personio360.emulators.faults import Fault

from .helpers import Result
from .test_companies_admin import Deployment, csrf_of, deployment, signed_in

OVERVIEW = "/companies/acme/"


def writes(files: Any) -> int:
    """Calls that changed a company's 360Learning: plain writes and bulk submissions."""
    stats = files.sandbox.lms.stats
    return int(stats.count("write") + stats.count("bulk"))


def post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    """A form of the company's Overview, sent with the session's CSRF token."""
    return client.post(path, data={"csrf": csrf_of(client.get(OVERVIEW).text), **data})


def queued_id(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/companies/acme/\?queued=(\d+)#jobs", response.headers["location"])
    assert found is not None, response.headers["location"]
    return int(found.group(1))


def test_a_preview_job_stores_the_plan_the_page_shows_and_run_now_applies_it(deployment: Deployment) -> None:
    """Preview queues a job (its id on the page, nothing run in the server); the worker stores
    the plan and the Overview shows it; Run now queues an apply of that preview, which the worker
    applies; a new preview then has nothing to do, and beta was never touched."""
    acme = deployment.companies["acme"]
    with signed_in(deployment) as client:
        job = queued_id(post(client, "/companies/acme/preview"))
        waiting = client.get(f"{OVERVIEW}?queued={job}")
        assert f"Queued: job {job}." in waiting.text
        listed = [(j["id"], j["kind"], j["status"]) for j in deployment.jobs("acme")]
        assert listed == [(job, "preview", "todo")]
        assert 'name="preview"' not in waiting.text, "no Run now before a preview exists"
        deployment.work()
        shown = client.get(OVERVIEW).text
        assert f"Preview 1 (job {job})" in shown
        assert "Changes by kind" in shown
        assert '<input type="hidden" name="preview" value="1">' in shown
        every = client.get("/companies/acme/preview")
        assert "Per-person changes" in every.text
        assert writes(acme) == 0, "a preview changes nothing"
        apply = queued_id(post(client, "/companies/acme/run", preview="1"))
        assert deployment.jobs("acme")[0]["detail"] == "preview 1"
        assert writes(acme) == 0, "Run now only queued a job"
        deployment.work()
        used = client.get(OVERVIEW).text
        assert 'Run now used it: <a href="/companies/acme/runs/1">run 1</a>' in used
        assert "completed" in used
        assert 'name="preview"' not in used, "a used preview is not applied twice"
        assert writes(acme) > 0
        queued_id(post(client, "/companies/acme/preview"))
        deployment.work()
        again = client.get(OVERVIEW).text
    assert "Preview 2" in again
    assert "Per-person changes" not in again, "the sync converged: nothing left to change (R14)"
    assert "Skipped employees (R15)" in again, "only the planted email problems remain"
    assert [j["status"] for j in deployment.jobs("acme")] == ["succeeded"] * 3
    assert apply in [j["id"] for j in deployment.jobs("acme")]
    assert writes(deployment.companies["beta"]) == 0
    assert deployment.jobs("beta") == []


def test_run_now_refuses_a_preview_whose_inputs_moved(deployment: Deployment) -> None:
    """An HR edit after the preview: the apply job stops naming what moved, writes nothing,
    and the Overview says so."""
    acme = deployment.companies["acme"]
    with signed_in(deployment) as client:
        post(client, "/companies/acme/preview")
        deployment.work()
        every = client.get("/companies/acme/preview").text
        people = re.findall(r'href="/companies/acme/people\?q=(\d+)"', every)
        assert people
        acme.sandbox.personio.state.update(int(people[0]), position="Moved after the preview")
        post(client, "/companies/acme/run", preview="1")
        deployment.work()
        shown = client.get(OVERVIEW).text
    assert writes(acme) == 0
    assert "stopped" in shown
    assert "was refused, its inputs changed since it was made" in shown
    assert f"employee {people[0]}" in shown


def test_run_now_needs_the_latest_unused_preview(deployment: Deployment) -> None:
    """Run now without a preview, or of a preview that is not the latest, is refused (409) in
    words, and queues nothing."""
    with signed_in(deployment) as client:
        none = post(client, "/companies/acme/run")
        post(client, "/companies/acme/preview")
        deployment.work()
        post(client, "/companies/acme/preview")
        deployment.work()
        stale = post(client, "/companies/acme/run", preview="1")
    assert none.status_code == 409
    assert "there is no preview to apply" in none.text
    assert stale.status_code == 409
    assert "preview 1 is no longer the latest: preview 2 was made since" in stale.text
    assert [j["kind"] for j in deployment.jobs("acme")] == ["preview", "preview"]


def test_a_preview_that_cannot_read_says_why(deployment: Deployment) -> None:
    """Personio failing: the preview job keeps why, the Overview shows it with the fix, and
    offers no Run now."""
    acme = deployment.companies["acme"]
    acme.sandbox.personio.faults.replace([Fault(kind="status", status=500, method="GET")])
    with signed_in(deployment) as client:
        post(client, "/companies/acme/preview")
        deployment.work()
        shown = client.get(OVERVIEW).text
    assert "stopped: reading failed, nothing was changed" in shown
    assert "Fix:" in shown
    assert 'name="preview"' not in shown


def test_companies_preview_queues_one_and_jobs_and_show_list_it(deployment: Deployment,
                                                                 deployment_env: dict[str, str]) -> None:
    """``companies preview NAME`` says its job id (a second is the one waiting); ``companies
    jobs`` lists it; once run, ``companies show`` names the latest preview; an unknown company
    is a clear error."""
    def cli(env: dict[str, str], *args: str) -> Result:
        """The command in this process (as ``helpers.cli`` runs it in a subprocess, only faster)."""
        done = CliRunner(env={**env, "COLUMNS": "250"}).invoke(personio360, list(args))
        return Result(done.exit_code, done.stdout, done.stderr)

    first = cli(deployment_env, "companies", "preview", "acme")
    second = cli(deployment_env, "companies", "preview", "acme")
    job = re.search(r"Queued a preview of acme: job (\d+)", first.out)
    assert job is not None, first.out + first.err
    assert f"A preview of acme is already waiting: job {job.group(1)}" in second.out
    approved = cli(deployment_env, "companies", "preview", "acme", "--allow-deletions")
    assert "Queued a preview of acme" in approved.out, "approving deletions is not the plain preview waiting"
    listed = cli(deployment_env, "companies", "jobs", "acme").out
    assert "preview (deletions allowed)" in listed
    assert listed.count("preview") == 2
    deployment.work()
    shown = cli(deployment_env, "companies", "show", "acme").out
    assert re.search(r"last preview\s+2 at .* \(job \d+\): .*Run now applies it", shown), shown
    unknown = cli(deployment_env, "companies", "preview", "nobody")
    assert unknown.code == 2
    assert "no company named 'nobody'" in unknown.err
    assert "Traceback" not in unknown.err

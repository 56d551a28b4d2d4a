"""The admin page of a deployment (issue 15), over real HTTP against each company's emulators.

The deployment's server (``web/companies_admin.py``, what ``serve --companies`` runs) is served
on 127.0.0.1; its jobs are run by a procrastinate worker in this process that stops when the
queue is empty (``Deployment.work``), so no test waits on a clock.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import procrastinate
import pytest

from personio360.emulators.server import serve_in_thread
from personio360.service import tasks
from personio360.service.companies import Registry
from personio360.service.database import Database
from personio360.service.database import database_url as deployment_url
from personio360.service.sealing import Sealer
from personio360.web.auth import Throttle
from personio360.web.companies_admin import CompanyPages, create_deployment_app
from personio360.web.company_hooks import CompanyHooks
from personio360.web.site import Gate

from .helpers import cli, wait_until

PASSWORD = "a deployment passphrase"
#: two companies, each with its own emulators and generated people (different seeds)
SEEDS = {"acme": 41, "beta": 42}


@dataclass
class Deployment:
    """The served deployment and what stands behind it."""

    url: str
    registry: Registry
    sealer: Sealer
    queue: procrastinate.App
    companies: dict[str, Any]

    def defer(self, company: str, kind: str, **arguments: int | bool) -> int:
        job_id, _new = tasks.defer(self.queue, company, kind, **arguments)
        return job_id

    def work(self) -> None:
        """Run every queued job to its end, as ``personio360 worker`` does, then stop."""
        worker = tasks.make_app(self.registry.database)
        worker.run_worker(wait=False, queues=["default"], install_signal_handlers=False,
                          additional_context={"deployment": tasks.Deployment(self.registry, self.sealer)})

    def jobs(self, company: str) -> list[dict[str, Any]]:
        return tasks.jobs_of(self.queue, company)

    def emails(self, company: str) -> set[str]:
        return {u.mail for u in self.companies[company].sandbox.lms.state.users() if u.mail}


@pytest.fixture
def deployment(make_company: Any, database_url: str, secret_key: str) -> Iterator[Deployment]:
    """Two registered companies and the deployment's server over them (signed in with PASSWORD)."""
    sealer = Sealer.from_environ({"PERSONIO360_SECRET_KEY": secret_key})
    database = Database(deployment_url(database_url))
    registry = Registry(database)
    companies = {name: make_company(name, size=6, seed=seed) for name, seed in SEEDS.items()}
    for files in companies.values():
        registry.add(files.config, files.secrets, sealer)
    with contextlib.ExitStack() as stack:
        stack.callback(database.close)
        queue = stack.enter_context(tasks.opened(database))

        def queue_changes(company: str) -> None:
            tasks.defer(queue, company, "changes")

        hooks = CompanyHooks(registry, sealer, queue_changes)
        stack.callback(hooks.close)
        pages = CompanyPages(registry, sealer, queue, Gate(PASSWORD, throttle=Throttle()))
        stack.callback(pages.close)
        server = serve_in_thread(create_deployment_app(hooks, pages))
        stack.callback(server.stop)
        yield Deployment(server.url, registry, sealer, queue, companies)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has a form"
    return found.group(1)


@contextlib.contextmanager
def signed_in(deployment: Deployment) -> Iterator[httpx.Client]:
    """A client whose session is the signed-in administrator's."""
    with httpx.Client(base_url=deployment.url, timeout=60) as client:
        form = client.get("/signin")
        done = client.post("/signin", data={"csrf": csrf_of(form.text), "password": PASSWORD, "next": "/"})
        assert done.status_code == 303
        yield client


def run_links(html: str) -> set[str]:
    return set(re.findall(r'href="(/companies/[a-z_]+/runs/\d+)"', html))


def test_companies_page_lists_each_company_with_its_status(deployment: Deployment) -> None:
    """The list shows both companies: acme after a full sync (its run, ok), beta never synced;
    each leads to its own pages."""
    deployment.defer("acme", "full")
    deployment.work()
    with signed_in(deployment) as client:
        page = client.get("/")
    assert page.status_code == 200
    rows = dict(re.findall(r'<th scope="row"><a href="/companies/([a-z]+)/">[a-z]+</a></th>(.*?)</tr>',
                           page.text, flags=re.S))
    assert set(rows) == {"acme", "beta"}
    assert 'href="/companies/acme/runs/1"' in rows["acme"]
    assert "completed" in rows["acme"]
    assert "never synced" in rows["beta"]
    assert "on demand (test, R12)" in rows["beta"]


def test_a_companys_pages_never_show_another_companys_runs(deployment: Deployment) -> None:
    """acme has two runs, beta one: beta's pages list only its run, its people and none of
    acme's, and acme's run 2 does not exist at beta's address."""
    deployment.defer("acme", "full")
    deployment.work()
    deployment.defer("acme", "full")
    deployment.defer("beta", "full")
    deployment.work()
    both = deployment.emails("acme") & deployment.emails("beta")  # the emulators' unmanaged auditor
    acme, beta = deployment.emails("acme") - both, deployment.emails("beta") - both
    assert acme
    assert beta
    with signed_in(deployment) as client:
        beta_runs = client.get("/companies/beta/runs")
        acme_runs = client.get("/companies/acme/runs")
        beta_run = client.get("/companies/beta/runs/1")
        acme_run = client.get("/companies/acme/runs/1")
        beta_two = client.get("/companies/beta/runs/2")
        beta_csv = client.get("/companies/beta/runs/1.csv")
    assert run_links(beta_runs.text) == {"/companies/beta/runs/1"}
    assert run_links(acme_runs.text) == {"/companies/acme/runs/1", "/companies/acme/runs/2"}
    assert beta_two.status_code == 404
    assert any(mail in beta_run.text for mail in beta)
    for page in (beta_run.text, beta_csv.text, beta_runs.text):
        assert not any(mail in page for mail in acme), "no row of acme on beta's pages"
    assert not any(mail in acme_run.text for mail in beta), "no row of beta on acme's pages"
    assert 'href="/companies/beta/people' in beta_run.text, "its links stay under its own address"


def test_signed_out_visitors_go_to_sign_in_and_unknown_companies_are_404(deployment: Deployment) -> None:
    """Without a session every page (an unknown company's too) leads to sign-in and back;
    signed in, an unknown company is a 404 page naming it, and its receivers stay open to
    deliveries only (404 there too, nothing recorded)."""
    with httpx.Client(base_url=deployment.url) as anonymous:
        for path in ("/", "/companies/acme/", "/companies/acme/runs?kind=full", "/companies/nobody/runs"):
            response = anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/signin?next=/"), path
        posted = anonymous.post("/companies/acme/preview", data={"csrf": "x"})
        assert posted.status_code == 303
        assert not deployment.jobs("acme"), "nothing was queued"
        hooks = anonymous.post("/companies/nobody/hooks/personio", content=b"{}")
        assert hooks.status_code == 404
        assert hooks.json() == {"error": "unknown company"}
    with signed_in(deployment) as client:
        unknown = client.get("/companies/nobody/runs")
        back = client.get("/signin?next=/companies/acme/runs")
    assert unknown.status_code == 404
    assert "There is no company named &#39;nobody&#39; in this deployment." in unknown.text
    assert "Traceback" not in unknown.text
    assert back.status_code == 303
    assert back.headers["location"] == "/companies/acme/runs"


def test_a_company_removed_while_its_pages_are_open_is_404_at_the_next_visit(deployment: Deployment) -> None:
    """``companies remove`` while the server runs: the company's next page is the 404, and the
    list no longer shows it."""
    with signed_in(deployment) as client:
        assert client.get("/companies/beta/runs").status_code == 200
        deployment.registry.remove("beta")
        gone = client.get("/companies/beta/runs")
        listed = client.get("/")
    assert gone.status_code == 404
    assert 'href="/companies/beta/"' not in listed.text
    assert 'href="/companies/acme/"' in listed.text


def test_a_forged_form_on_a_company_page_queues_nothing(deployment: Deployment) -> None:
    """A signed-in session's POST without its CSRF token is refused (403) and queues no job."""
    with signed_in(deployment) as client:
        forged = client.post("/companies/acme/preview", data={"csrf": "not the session's"})
    assert forged.status_code == 403
    assert deployment.jobs("acme") == []


@pytest.mark.slow
def test_serve_companies_serves_the_admin_page_with_the_deployment_password(
        deployment: Deployment, deployment_env: dict[str, str], tmp_path: Path) -> None:
    """``serve --companies`` with PERSONIO360_ADMIN_PASSWORD: sign-in, then the companies; a
    password under 12 characters is refused at start (exit 2, no traceback)."""
    short = cli({**deployment_env, "PERSONIO360_ADMIN_PASSWORD": "short"}, "serve", "--companies")
    assert short.code == 2
    assert "shorter than 12 characters" in short.err
    assert "Traceback" not in short.err
    port = _port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "personio360", "serve", "--companies", "--port",
                               str(port)], env={**deployment_env, "PERSONIO360_ADMIN_PASSWORD": PASSWORD},
                              stdout=log, stderr=log)
    try:
        wait_until(lambda: _up(f"http://127.0.0.1:{port}"), 30, "serve --companies")
        served = Deployment(f"http://127.0.0.1:{port}", deployment.registry, deployment.sealer,
                            deployment.queue, deployment.companies)
        with signed_in(served) as client:
            listed = client.get("/")
            overview = client.get("/companies/beta/")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert 'href="/companies/acme/"' in listed.text
    assert 'href="/companies/beta/"' in listed.text
    assert overview.status_code == 200
    assert "Jobs on the queue" in overview.text
    assert "<strong>beta</strong>" in overview.text


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.HTTPError:
        return False

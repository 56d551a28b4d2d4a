"""The admin page of a multi-company deployment (issue 15): ``personio360 serve --companies``.

- ``/signin``, ``/signout``: the single-company sign-in (``web/auth.py``, ``routes.signin_routes``),
  with the same ``PERSONIO360_ADMIN_PASSWORD``: one password for the deployment.
- ``/``: every company the administrator may see, with its status, last run, next run, change
  lag and what needs attention (``service/status.py``), each leading to its pages.
- ``/companies/<name>/...``: that company's pages, the single-company admin's own
  (``app.company_pages``), over an ``Admin`` opened on that company's settings, whose store URL
  is scoped to its schema alone by the registry (``service.database.company_state_url``), so no
  page of company A can read a row of company B. Preview and Run now become jobs on the queue
  (``CompanyQueue``): the page says the job's id, a worker runs it.
- ``/companies/<name>/hooks/...``: the company's webhook receivers (``web/company_hooks.py``),
  authenticated by their own tokens and signatures, never by the session.

Every company page passes ``_CompanyRoutes``, the one place that checks the session and that its
administrator may see that company (``may_see``); an unknown company, or one they may not see,
is the same 404, so names of other customers do not leak.
"""

from __future__ import annotations

__all__ = ["CompanyPages", "CompanyQueue", "create_deployment_app", "may_see"]

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Sequence

import procrastinate
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from personio360.errors import ConfigError, Personio360Error
from personio360.http.redact import redact
from personio360.service import tasks
from personio360.service.companies import Registry
from personio360.service.database import company_state_url
from personio360.service.sealing import Sealer
from personio360.service.status import CompanyStatus, company_statuses
from personio360.store import Store, open_store
from personio360.web.admin import Admin
from personio360.web.app import STATIC, SecurityHeaders, company_pages
from personio360.web.auth import Session
from personio360.web.company_hooks import CompanyHooks, deliver
from personio360.web.queued import Queued, QueuedJob
from personio360.web.routes import signed_in, signin_routes
from personio360.web.site import Gate
from personio360.wiring import open_context

log = logging.getLogger("personio360.web")
#: jobs listed on a company's Overview
JOBS_SHOWN = 10


def may_see(session: Session, company: str) -> bool:
    """Whether the signed-in administrator may see ``company``'s pages. One deployment password
    opens every company for now; per-company roles will be decided here, from the session."""
    del company  # not yet: every administrator sees every company
    return session.admin


class CompanyQueue:
    """The queue as one company's pages see it (``queued.JobQueue``): its jobs only."""

    def __init__(self, app: procrastinate.App, registry: Registry, company: str) -> None:
        self._app = app
        self._registry = registry
        self.company = company

    def defer(self, kind: str, **arguments: int | bool) -> Queued:
        job_id, new = tasks.defer(self._app, self.company, kind, **arguments)
        log.info("company %s: %s job %s %s from the admin page", self.company, kind, job_id,
                 "queued" if new else "already waiting")
        return Queued(job_id, kind, new)

    def jobs(self, limit: int = JOBS_SHOWN) -> Sequence[QueuedJob]:
        rows = tasks.jobs_of(self._app, self.company)[:limit]
        return [QueuedJob(int(r["id"] or 0), str(r["kind"]), str(r["status"]), str(r["detail"]),
                          r["scheduled"] if isinstance(r["scheduled"], dt.datetime) else None) for r in rows]

    def next_run(self) -> dt.datetime | None:
        """By the deployment's timetable (``tasks.tick``): production companies only (R12)."""
        return CompanyStatus(self._registry.get(self.company)).next_run


class CompanyPages:
    """Each company's pages, opened on its first visit (its credentials, clients and store) and
    kept; a company removed from the registry is closed and gone at its next visit, and one added
    again (a new config) is opened again."""

    def __init__(self, registry: Registry, sealer: Sealer, queue: procrastinate.App, gate: Gate) -> None:
        self.registry = registry
        self.sealer = sealer
        self.queue = queue
        self.gate = gate
        self._open: dict[str, tuple[dt.datetime, contextlib.ExitStack, Starlette]] = {}
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    def app_of(self, name: str) -> Starlette | None:
        """Company ``name``'s pages; None when there is no such company (any more)."""
        with self._lock:
            added = self._added_at(name)
            if added is None or (name in self._open and self._open[name][0] != added):
                self._forget(name)
            if added is None:
                return None
            if name not in self._open:
                self._open[name] = (added, *self._opened(name))
            return self._open[name][2]

    def _opened(self, name: str) -> tuple[contextlib.ExitStack, Starlette]:
        target = self.registry.target(name, self.sealer)
        # the registry scopes the store; checked here too, as no page of A may read B's rows
        assert target.settings.state_url == company_state_url(self.registry.database.url, name)
        stack = contextlib.ExitStack()
        try:
            ctx = stack.enter_context(open_context(target.settings, environ=target.environ))
            admin = Admin(target.settings, ctx, environ=target.environ,
                          queue=CompanyQueue(self.queue, self.registry, name))
            stack.callback(admin.close)
        except BaseException:
            stack.close()
            raise
        return stack, company_pages(admin, self.gate, name)

    def store_of(self, name: str) -> Store:
        """The company's store alone (the list of companies needs no credentials), kept open."""
        with self._lock:
            if name not in self._stores:
                self._stores[name] = open_store(company_state_url(self.registry.database.url, name))
            return self._stores[name]

    def statuses(self, session: Session) -> list[CompanyStatus]:
        """The companies this administrator may see, each at a glance."""
        return [s for s in company_statuses(self.registry, store_of=self.store_of)
                if may_see(session, s.company.name)]

    def _added_at(self, name: str) -> dt.datetime | None:
        """When the company was registered; None: there is no such company."""
        try:
            return self.registry.get(name).added_at
        except ConfigError:
            return None

    def _forget(self, name: str) -> None:
        opened = self._open.pop(name, None)
        if opened is not None:
            opened[1].close()
        store = self._stores.pop(name, None)
        if store is not None:
            store.close()

    def close(self) -> None:
        with self._lock:
            for name in [*self._open, *self._stores]:
                self._forget(name)


class _CompanyRoutes:
    """``/companies/<name>/...``: the receivers, or that company's pages behind THE check."""

    def __init__(self, hooks: CompanyHooks, pages: CompanyPages | None) -> None:
        self.hooks = hooks
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = str(scope["path_params"]["company"])
        path = str(scope["path"])[len(str(scope.get("root_path", ""))):] or "/"
        if path.startswith("/hooks/"):
            await deliver(self.hooks, name, path, scope, receive, send)
            return
        if self.pages is None or scope["type"] != "http":  # receivers only: no password was set
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
            return
        app = await self._admitted(Request(scope), self.pages, name)
        await app(scope, receive, send)

    async def _admitted(self, request: Request, pages: CompanyPages, name: str) -> Response | Starlette:
        """The company's pages; or not signed in: to sign-in and back; a company they may not
        see, or none: 404; a company whose pages cannot open (its credentials): 503 and the fix."""
        gate = pages.gate
        session = signed_in(request, gate)
        if isinstance(session, Response):
            return session
        missing = gate.render(request, session, "error.html", status_code=404, title="No such company",
                              message=f"There is no company named {name!r} in this deployment.",
                              root="", deployment=True)
        if not may_see(session, name):
            return missing
        try:
            app = await run_in_threadpool(pages.app_of, name)
        except Personio360Error as exc:
            log.error("company %s: its pages cannot open: %s", name, redact(str(exc)))
            fix = f" Fix: {exc.hint}." if exc.hint else ""
            return gate.render(request, session, "error.html", status_code=503, title="Not available",
                               message=f"The pages of company {name} cannot open: {exc}.{fix}",
                               root="", deployment=True)
        return missing if app is None else app


async def _companies(request: Request) -> Response:
    """The list of companies (``companies list``, in the browser)."""
    pages: CompanyPages = request.app.state.pages
    session = signed_in(request, pages.gate)
    if isinstance(session, Response):
        return session
    statuses = await run_in_threadpool(pages.statuses, session)
    return pages.gate.render(request, session, "companies.html", title="Companies", statuses=statuses,
                             deployment=True)


async def _health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_deployment_app(hooks: CompanyHooks, pages: CompanyPages | None) -> Starlette:
    """``serve --companies``: every company's receivers, and with ``pages`` (a password was set)
    the admin page of the deployment; ``/healthz`` beside them."""
    company_routes = _CompanyRoutes(hooks, pages)
    routes: list[Route | Mount] = [Route("/healthz", _health, methods=["GET"])]
    if pages is not None:
        routes += [*signin_routes, Route("/", _companies, methods=["GET"]),
                   Mount("/static", app=StaticFiles(directory=STATIC), name="static")]
    routes.append(Mount("/companies/{company}", app=company_routes))
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    if pages is not None:
        app.state.gate = pages.gate
        app.state.pages = pages
    return app

"""The admin page's routes: each parses the request, calls one ``Admin`` service, renders a template.

Every page but sign-in needs the signed-in session; every POST carries the session's CSRF
token (``auth.check_csrf``) and is refused with 403 otherwise, before anything runs.
Sign-in (``signin_routes``) is the server's (``Gate``); the pages (``page_routes``) are one
company's (``Site``): a single company's at ``/``, or each company's of a deployment at
``/companies/<name>/`` (``web/companies_admin.py``), so their links and redirects are made
with ``here`` under the ASGI ``root_path``.
"""

from __future__ import annotations

__all__ = ["page_routes", "routes", "signed_in", "signin_routes"]

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from personio360.errors import Personio360Error
from personio360.http.redact import redact
from personio360.store.runs import ErrorRecord
from personio360.sync.operations import EmployeeError
from personio360.web import present
from personio360.web.admin import Admin, WebhookView
from personio360.web.auth import Session, check_csrf, password_matches
from personio360.web.jobs import BusyError
from personio360.web.queued import JobQueue, Queued, QueuedPreview
from personio360.web.site import Gate, Site, here

Handler = Callable[[Request, Site, Session], Awaitable[Response]]
#: People per page on the Preview and run pages.
PAGE_ROWS = 100
#: The kinds of run (R17): a full sync, or a changes run.
RUN_KINDS = ("full", "changes")


def signed_in(request: Request, gate: Gate) -> Session | Response:
    """The signed-in administrator's session, or the way to sign in and come back here."""
    session = gate.codec.read(request)
    if session is None or not session.admin:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
    return session


def _page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page for the signed-in admin; others go to sign-in, then come back here."""

    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        session = signed_in(request, site.gate)
        if isinstance(session, Response):
            return session
        return await handler(request, site, session)

    return endpoint


#: what a refused form (a missing, stale or forged CSRF token) says, wherever it is refused
CSRF_REFUSED = ("This form was not sent by this page, or it expired: nothing was changed. Go back, "
                "reload the page, and try again.")


def _action(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A POST that changes something: signed in, and the form's CSRF token is the session's."""

    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        session = site.codec.read(request)
        form = await request.form()
        if not check_csrf(session, form.get("csrf")):
            return site.render(request, session, "error.html", status_code=403, title="Refused",
                               message=CSRF_REFUSED)
        assert session is not None
        if not session.admin:
            return RedirectResponse("/signin", status_code=303)
        request.state.form = form
        return await handler(request, site, session)

    return endpoint


# --- sign-in ----------------------------------------------------------------------------


async def signin_page(request: Request) -> Response:
    site: Gate = request.app.state.gate
    session = site.codec.read(request)
    if session is not None and session.admin:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    session = session or Session.new()
    page = site.render(request, session, "signin.html", title="Sign in",
                           next=_next(request.query_params.get("next")))
    site.codec.write(page, request, session)
    return page


async def signin(request: Request) -> Response:
    site: Gate = request.app.state.gate
    session = site.codec.read(request)
    form = await request.form()
    target = _next(str(form.get("next") or ""))
    if not check_csrf(session, form.get("csrf")):
        fresh = Session.new()
        response = site.render(request, fresh, "signin.html", status_code=403, title="Sign in", next=target,
                               problem="The sign-in form expired. Enter the password again.")
        site.codec.write(response, request, fresh)
        return response
    assert session is not None
    address = request.client.host if request.client else "unknown"
    wait = site.throttle.wait(address)
    if wait > 0:
        response = site.render(request, session, "signin.html", status_code=429, title="Sign in", next=target,
                               problem=f"Too many wrong passwords: try again in {int(wait) + 1} s.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if not password_matches(str(form.get("password") or ""), site.password):
        site.throttle.failed(address)
        return site.render(request, session, "signin.html", status_code=401, title="Sign in", next=target,
                           problem="Wrong password.")
    site.throttle.succeeded(address)
    admitted = RedirectResponse(target, status_code=303)
    site.codec.write(admitted, request, Session.new(admin=True))  # a new session: no fixation
    return admitted


async def signout(request: Request) -> Response:
    gate: Gate = request.app.state.gate
    session = gate.codec.read(request)
    form = await request.form()
    if not check_csrf(session, form.get("csrf")):
        return gate.render(request, session, "error.html", status_code=403, title="Refused",
                           message=CSRF_REFUSED)
    response = RedirectResponse("/signin", status_code=303)
    gate.codec.write(response, request, Session.new())
    return response


def _next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a URL): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- Overview, Preview, Run now ----------------------------------------------------------


@_page
async def overview(request: Request, site: Site, session: Session) -> Response:
    admin = site.admin
    last, managed = await run_in_threadpool(lambda: (admin.last_run(), admin.managed_users()))
    errors = await run_in_threadpool(admin.run_errors, last.id) if last and last.counts.get("errors") else []
    preview = await run_in_threadpool(admin.shown_preview)
    names = admin.names() if preview else None
    context: dict[str, Any] = {
        "title": "Overview", "last": last, "managed": managed, "job": admin.jobs.current,
        "next_run": admin.next_run, "production": admin.settings.environment == "production",
        "attention": present.error_rows(errors[:10], admin.names()), "attention_total": len(errors),
        "preview": preview,
    }
    context.update(await run_in_threadpool(_feed, admin))
    if admin.queue is not None:  # a deployment's page (issue 15): its jobs are on the queue
        context.update(await run_in_threadpool(_queue, admin.queue, request))
    if isinstance(preview, QueuedPreview):
        context.update(counts=preview.counts, people=preview.people[:10], people_total=len(preview.people),
                       held=preview.held[:200], plan_errors=preview.error_rows[:20],
                       used_by=await run_in_threadpool(admin.ctx.store.runs.summary, preview.run_id)
                       if preview.run_id is not None else None)
    elif preview is not None and names is not None:
        plan = preview.prepared.plan
        context.update(
            counts=present.plan_counts(plan), people=preview.people[:10], people_total=len(preview.people),
            held=present.by_person(present.plan_rows(plan.held_back[:200], names, "held back")),
            plan_errors=present.error_rows([_record(e) for e in plan.errors[:20]], names),
        )
    return site.render(request, session, "overview.html", **context)


def _queue(queue: JobQueue, request: Request) -> dict[str, Any]:
    """The company's jobs on the queue, its next run by the deployment's timetable, and the job
    just queued from this page (its id, from the redirect)."""
    params = request.query_params
    queued = _int(params.get("queued"), 0) or None
    waiting = _int(params.get("waiting"), 0) or None
    jobs = list(queue.jobs())
    return {"queue_jobs": jobs, "queue_busy": any(j.active for j in jobs), "next_run": queue.next_run(),
            "queued_id": queued, "waiting_id": waiting}


def _feed(admin: Admin) -> dict[str, Any]:
    """The Overview's change feed (R17): the store's markers and each subscription's state
    (read through ``Admin.webhooks``' cache); nothing while changes are off."""
    feed = admin.feed()
    if feed is None:
        return {"feed": None}
    return {"feed": feed, **_webhooks(admin.webhooks())}


def _webhooks(view: WebhookView) -> dict[str, Any]:
    lines = None
    if view.verdicts is not None:
        assert view.target is not None
        assert view.personio is not None
        assert view.learning360 is not None
        lines = present.subscription_lines(view.target, view.personio, view.learning360, view.verdicts)
    return {"hooks": view, "hook_lines": lines}


@_page
async def preview_page(request: Request, site: Site, session: Session) -> Response:
    preview = await run_in_threadpool(site.admin.shown_preview)
    if preview is None or preview.plan is None:
        return RedirectResponse(here(request, "/"), status_code=303)
    query = request.query_params.get("q", "").strip()
    people = [p for p in preview.people if any(r.matches(query) for r in p.rows)] if query else preview.people
    page = _int(request.query_params.get("page"), 1)
    return site.render(request, session, "preview.html", title="Preview", preview=preview,
                       people=people[(page - 1) * PAGE_ROWS: page * PAGE_ROWS], total=len(people),
                       query=query, page=page, pages=max(1, -(-len(people) // PAGE_ROWS)))


@_action
async def start_preview(request: Request, site: Site, session: Session) -> Response:
    allow = request.state.form.get("allow_deletions") == "1"
    return _start(request, site, session, lambda: site.admin.start_preview(allow_deletions=allow))


@_action
async def start_run(request: Request, site: Site, session: Session) -> Response:
    shown = _int(str(request.state.form.get("preview") or ""), 0) or None  # the preview on the page
    return _start(request, site, session, lambda: site.admin.start_run(preview_id=shown))


def _start(request: Request, site: Site, session: Session, start: Callable[[], object]) -> Response:
    """Start the job (or put it on the queue: the Overview then says its id), then back to the
    Overview, which shows its progress (or the job in the way)."""
    try:
        started = start()
    except BusyError:
        started = None
    except Personio360Error as exc:
        return site.render(request, session, "error.html", status_code=409, title="Not started",
                           message=f"{exc}" + (f" Fix: {exc.hint}." if exc.hint else ""))
    if isinstance(started, Queued):
        word = "queued" if started.new else "waiting"
        return RedirectResponse(here(request, f"/?{word}={started.job_id}#jobs"), status_code=303)
    return RedirectResponse(here(request, "/"), status_code=303)


# --- Integration -----------------------------------------------------------------------


@_page
async def integration(request: Request, site: Site, session: Session) -> Response:
    admin = site.admin
    info, groups = await run_in_threadpool(lambda: (admin.integration(), admin.groups()))
    hooks = await run_in_threadpool(admin.webhooks) if admin.settings.changes_on else None
    return site.render(request, session, "integration.html", title="Integration", info=info, groups=groups,
                       checks=admin.checks, changes_on=admin.settings.changes_on,
                       **(_webhooks(hooks) if hooks is not None else {"hooks": None}))


@_action
async def read_webhooks(request: Request, site: Site, _session: Session) -> Response:
    """Read our webhook subscriptions again now (``webhooks status``), past the page's cache."""
    await run_in_threadpool(lambda: site.admin.webhooks(fresh=True))
    return RedirectResponse(here(request, "/integration#webhooks"), status_code=303)


@_action
async def verify(request: Request, site: Site, _session: Session) -> Response:
    await run_in_threadpool(site.admin.verify)
    return RedirectResponse(here(request, "/integration#checks"), status_code=303)


@_action
async def switch_group(request: Request, site: Site, _session: Session) -> Response:
    enabled = request.state.form.get("enabled") == "1"
    await run_in_threadpool(site.admin.set_active, request.path_params["group_id"], enabled)
    return RedirectResponse(here(request, "/integration#groups"), status_code=303)


# --- Runs ------------------------------------------------------------------------------


@_page
async def runs(request: Request, site: Site, session: Session) -> Response:
    params = request.query_params
    outcome = params.get("outcome", "")
    kind = params.get("kind", "") if params.get("kind", "") in RUN_KINDS else ""
    since, until = _date(params.get("since")), _date(params.get("until"))
    found, truncated = await run_in_threadpool(lambda: site.admin.runs(outcome=outcome, since=since,
                                                                      until=until, kind=kind))
    return site.render(request, session, "runs.html", title="Runs", runs=found[:PAGE_ROWS], total=len(found),
                       truncated=truncated, outcome=outcome, since=since, until=until,
                       kind=kind, kinds=RUN_KINDS,
                       outcomes=("completed", "completed with errors", "completed, deletions held back",
                                 "stopped", "failed", "interrupted", "running"))


@_page
async def run_page(request: Request, site: Site, session: Session) -> Response:
    query = request.query_params.get("q", "").strip()
    page = _int(request.query_params.get("page"), 1)
    view = await run_in_threadpool(site.admin.run_view, request.path_params["run_id"], query, page, PAGE_ROWS)
    if view is None:
        return site.render(request, session, "error.html", status_code=404, title="No such run",
                           message="There is no run with this number in the state store.")
    return site.render(request, session, "run.html", title=f"Run {view.run.id}", run=view.run,
                       people=view.people, total=view.total, operations=view.operations, errors=view.errors,
                       query=query, page=page, pages=max(1, -(-view.total // PAGE_ROWS)))


@_page
async def run_download(request: Request, site: Site, _session: Session) -> Response:
    run_id, kind = request.path_params["run_id"], request.path_params["kind"]
    detail = await run_in_threadpool(site.admin.run, run_id)
    if detail is None or kind not in ("csv", "json"):
        return Response("no such run", status_code=404, media_type="text/plain")
    if kind == "csv":
        body, media = present.run_csv(detail), "text/csv; charset=utf-8"
    else:
        body = json.dumps(present.run_json(detail), indent=2, ensure_ascii=False, default=str)
        media = "application/json"
    return Response(redact(body), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="personio360-run-{run_id}.{kind}"'})


# --- People ----------------------------------------------------------------------------


@_page
async def people(request: Request, site: Site, session: Session) -> Response:
    query = request.query_params.get("q", "").strip()
    found = await run_in_threadpool(site.admin.find, query) if query else None
    report = await run_in_threadpool(site.admin.people_report)
    return site.render(request, session, "people.html", title="People", query=query, found=found,
                       report=report)


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and int(value) > 0 else default


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _record(error: EmployeeError) -> ErrorRecord:
    return ErrorRecord(error.employee_id, error.code, error.message)


signin_routes = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
]
page_routes = [
    Route("/", overview, methods=["GET"]),
    Route("/preview", preview_page, methods=["GET"]),
    Route("/preview", start_preview, methods=["POST"]),
    Route("/run", start_run, methods=["POST"]),
    Route("/integration", integration, methods=["GET"]),
    Route("/integration/verify", verify, methods=["POST"]),
    Route("/integration/groups/{group_id:str}", switch_group, methods=["POST"]),
    Route("/integration/webhooks", read_webhooks, methods=["POST"]),
    Route("/runs", runs, methods=["GET"]),
    Route("/runs/{run_id:int}", run_page, methods=["GET"]),
    Route("/runs/{run_id:int}.{kind:str}", run_download, methods=["GET"]),
    Route("/people", people, methods=["GET"]),
]
routes = [*signin_routes, *page_routes]

"""The admin page's routes: each parses the request, calls one ``Admin`` service, renders a template.

Every page but sign-in needs the signed-in session; every POST carries the session's CSRF
token (``auth.check_csrf``) and is refused with 403 otherwise, before anything runs.
"""

from __future__ import annotations

__all__ = ["routes"]

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
from personio360.web.site import Site

Handler = Callable[[Request, Site, Session], Awaitable[Response]]
#: People per page on the Preview and run pages.
PAGE_ROWS = 100
#: The kinds of run (R17): a full sync, or a changes run.
RUN_KINDS = ("full", "changes")


def _page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page for the signed-in admin; others go to sign-in, then come back here."""

    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        session = site.codec.read(request)
        if session is None or not session.admin:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
        return await handler(request, site, session)

    return endpoint


def _action(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A POST that changes something: signed in, and the form's CSRF token is the session's."""

    async def endpoint(request: Request) -> Response:
        site: Site = request.app.state.site
        session = site.codec.read(request)
        form = await request.form()
        if not check_csrf(session, form.get("csrf")):
            return site.render(request, session, "error.html", status_code=403, title="Refused",
                               message="This form was not sent by this page, or it expired: nothing was "
                               "changed. Go back, reload the page, and try again.")
        assert session is not None
        if not session.admin:
            return RedirectResponse("/signin", status_code=303)
        request.state.form = form
        return await handler(request, site, session)

    return endpoint


# --- sign-in ----------------------------------------------------------------------------


async def signin_page(request: Request) -> Response:
    site: Site = request.app.state.site
    session = site.codec.read(request)
    if session is not None and session.admin:
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    session = session or Session.new()
    page = site.render(request, session, "signin.html", title="Sign in",
                           next=_next(request.query_params.get("next")))
    site.codec.write(page, request, session)
    return page


async def signin(request: Request) -> Response:
    site: Site = request.app.state.site
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


@_action
async def signout(request: Request, site: Site, _session: Session) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    site.codec.write(response, request, Session.new())
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
    preview = admin.preview
    names = admin.names() if preview else None
    context: dict[str, Any] = {
        "title": "Overview", "last": last, "managed": managed, "job": admin.jobs.current,
        "next_run": admin.next_run, "production": admin.settings.environment == "production",
        "attention": present.error_rows(errors[:10], admin.names()), "attention_total": len(errors),
        "preview": preview,
    }
    context.update(await run_in_threadpool(_feed, admin))
    if preview is not None and names is not None:
        plan = preview.prepared.plan
        context.update(
            counts=present.plan_counts(plan), people=preview.people[:10], people_total=len(preview.people),
            held=present.by_person(present.plan_rows(plan.held_back[:200], names, "held back")),
            plan_errors=present.error_rows([_record(e) for e in plan.errors[:20]], names),
        )
    return site.render(request, session, "overview.html", **context)


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
    preview = site.admin.preview
    if preview is None:
        return RedirectResponse("/", status_code=303)
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
    return _start(request, site, session, site.admin.start_run)


def _start(request: Request, site: Site, session: Session, start: Callable[[], object]) -> Response:
    """Start the job, then back to the Overview, which shows its progress (or the job in the way)."""
    try:
        start()
    except BusyError:
        pass
    except Personio360Error as exc:
        return site.render(request, session, "error.html", status_code=409, title="Not started",
                           message=f"{exc}" + (f" Fix: {exc.hint}." if exc.hint else ""))
    return RedirectResponse("/", status_code=303)


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
    return RedirectResponse("/integration#webhooks", status_code=303)


@_action
async def verify(request: Request, site: Site, _session: Session) -> Response:
    await run_in_threadpool(site.admin.verify)
    return RedirectResponse("/integration#checks", status_code=303)


@_action
async def switch_group(request: Request, site: Site, _session: Session) -> Response:
    enabled = request.state.form.get("enabled") == "1"
    await run_in_threadpool(site.admin.set_active, request.path_params["group_id"], enabled)
    return RedirectResponse("/integration#groups", status_code=303)


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


routes = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
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

"""``/metrics``, ``/healthz`` and ``/readyz`` for orchestrators and Prometheus (no sign-in, nothing
personal), and the admin page's Notifications: the targets (masked), Send test, what was sent
(issue 14)."""

from __future__ import annotations

__all__ = ["attach", "notification_routes", "observe_routes", "probe_routes"]

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from personio360 import notify
from personio360.errors import Personio360Error
from personio360.notify import metrics
from personio360.web.auth import Session
from personio360.web.routes import _action, _page
from personio360.web.site import Site, here

#: How many sent notifications the page lists.
SHOWN = 30


def attach(app: Starlette) -> None:
    """Count this process's API calls, and keep one registry over the admin page's store."""
    site: Site = app.state.site
    metrics.watch_api_calls()
    app.state.metrics = metrics.registry_for(site.admin.settings, site.admin.ctx.store)


async def metrics_page(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def healthz(_request: Request) -> Response:
    return JSONResponse(metrics.health())


async def readyz(request: Request) -> Response:
    site: Site = request.app.state.site
    ready, body = await run_in_threadpool(metrics.readiness, site.admin.ctx.store)
    return JSONResponse(body, status_code=200 if ready else 503)


@_page
async def notifications(request: Request, site: Site, session: Session) -> Response:
    settings = site.admin.settings
    store = site.admin.ctx.store
    sent, problems = await run_in_threadpool(lambda: (store.notices.recent(SHOWN),
                                                      store.notices.open_problems()))
    return site.render(request, session, "notifications.html", title="Notifications",
                       targets=notify.targets_of(settings), on=settings.notify.on,
                       remind_every=settings.notify.remind_every, lag_after=settings.notify.lag_after,
                       sent=sent, problems=sorted(problems.values(), key=lambda n: n.opened_at),
                       tested=getattr(request.state, "tested", None), problem=None)


@_action
async def send_test(request: Request, site: Site, session: Session) -> Response:
    admin = site.admin
    try:
        results = await run_in_threadpool(notify.send_test, admin.settings, admin.ctx.store,
                                          environ=admin.environ)
    except Personio360Error as exc:
        return site.render(request, session, "error.html", status_code=409, title="Not sent",
                           message=f"{exc}" + (f" Fix: {exc.hint}." if exc.hint else ""))
    failed = sum(not r.ok for r in results)
    return RedirectResponse(here(request, f"/notifications?tested={len(results)}&failed={failed}#sent"),
                            status_code=303)


#: for orchestrators and Prometheus, no sign-in: a single company's server only
probe_routes = [
    Route("/metrics", metrics_page, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
#: a company's Notifications page (also each company's of a deployment)
notification_routes = [
    Route("/notifications", notifications, methods=["GET"]),
    Route("/notifications/test", send_test, methods=["POST"]),
]
observe_routes = [*probe_routes, *notification_routes]

"""The admin page's ASGI app (issue 9): Starlette, Jinja2 templates, plain forms, no JavaScript.

``create_app(admin, password)`` is what ``personio360 serve`` runs under uvicorn and what the
tests serve on 127.0.0.1; ``company_pages`` is one company's same pages on a deployment's server
(``web/companies_admin.py``). Every response carries headers that keep the pages out of frames,
caches and other origins' scripts.
"""

from __future__ import annotations

__all__ = ["STATIC", "SecurityHeaders", "company_pages", "create_app"]

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personio360.web.admin import Admin
from personio360.web.auth import SessionCodec, Throttle
from personio360.web.hooks import Receivers, hook_routes
from personio360.web.observe import attach, notification_routes, observe_routes
from personio360.web.routes import page_routes, routes
from personio360.web.site import Gate, Site

STATIC = Path(__file__).parent / "static"
_HEADERS = {
    b"content-security-policy": b"default-src 'none'; style-src 'self'; img-src 'self'; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
}


class SecurityHeaders:
    """Adds ``_HEADERS`` to every response, and ``no-store`` to every page (they show personal data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += list(_HEADERS.items())
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(admin: Admin, password: str, *, throttle: Throttle | None = None,
               codec: SessionCodec | None = None) -> Starlette:
    """The admin page over ``admin``'s services; ``password`` signs the administrator in.
    The webhook receivers (R17, ``web/hooks.py``) sit beside it, authenticated by their own
    token or signature (read once, here), never by the admin's session."""
    app = Starlette(
        routes=[*routes, *hook_routes, *observe_routes,
                Mount("/static", app=StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(SecurityHeaders)],
    )
    gate = Gate(password, codec=codec or SessionCodec(), throttle=throttle or Throttle(),
                environment=admin.settings.environment)
    app.state.gate = gate
    app.state.site = Site(admin, gate)
    app.state.hooks = Receivers.of(admin)
    attach(app)  # /metrics over this store (issue 14)
    return app


def company_pages(admin: Admin, gate: Gate, company: str) -> Starlette:
    """One company's pages on a deployment's server, behind the deployment's ``gate``: the same
    routes as a single company's, without its sign-in, receivers and probes (the deployment
    serves its own, once for every company)."""
    app = Starlette(routes=[*page_routes, *notification_routes])
    app.state.gate = gate
    app.state.site = Site(admin, gate, company=company)
    return app

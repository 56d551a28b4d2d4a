"""What every route shares: the sign-in ``Gate`` (password, sessions, throttle, templates) and,
for one company's pages, its ``Admin`` services (``Site``).

A single-company server has one Site; a deployment's server (``serve --companies``) has one
Gate for all and one Site per company, so one sign-in opens every company's pages. Links and
redirects are made under the ASGI ``root_path``: ``""`` for a single company, the company's
``/companies/<name>`` on a deployment's pages.
"""

from __future__ import annotations

__all__ = ["Gate", "Site", "here"]

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from personio360.http.redact import redact
from personio360.web import present
from personio360.web.admin import Admin
from personio360.web.auth import Session, SessionCodec, Throttle

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = present.when
    env.filters["duration"] = present.duration
    env.filters["label"] = present.label
    return env


def here(request: Request, path: str) -> str:
    """``path`` of the pages serving ``request`` (under a company's ``/companies/<name>``, if any)."""
    return str(request.scope.get("root_path", "")) + path


@dataclass
class Gate:
    """Signing in, shared by every page of one server; ``password`` is compared, never shown or logged."""

    password: str = field(repr=False)
    codec: SessionCodec = field(default_factory=SessionCodec, repr=False)
    throttle: Throttle = field(default_factory=Throttle)
    templates: Environment = field(default_factory=_environment, repr=False)
    #: the environment badge of pages that are no company's own (sign-in); None: no badge
    environment: str | None = None

    def render(self, request: Request, session: Session | None, name: str, *, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        """A page; every string that reaches it goes through ``redact`` last (R16)."""
        context.setdefault("environment", self.environment)
        context.setdefault("root", str(request.scope.get("root_path", "")))
        html = self.templates.get_template(name).render(
            request=request, session=session, csrf=session.csrf if session else "",
            path=request.url.path, **context)
        return HTMLResponse(redact(html), status_code=status_code)


@dataclass
class Site:
    """One company's pages: its services, behind the server's gate."""

    admin: Admin
    gate: Gate
    #: the company's name on a deployment's pages; None in single-company mode
    company: str | None = None

    @property
    def codec(self) -> SessionCodec:
        return self.gate.codec

    def render(self, request: Request, session: Session | None, name: str, *, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        return self.gate.render(request, session, name, status_code=status_code,
                                environment=self.admin.settings.environment, company=self.company,
                                queued=self.admin.queue is not None, **context)

"""What every route shares: the services, the session codec, the sign-in throttle, the templates."""

from __future__ import annotations

__all__ = ["Site"]

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


@dataclass
class Site:
    """The admin page's shared state; ``password`` is compared, never shown or logged."""

    admin: Admin
    password: str = field(repr=False)
    codec: SessionCodec = field(default_factory=SessionCodec, repr=False)
    throttle: Throttle = field(default_factory=Throttle)
    templates: Environment = field(default_factory=_environment, repr=False)

    def render(self, request: Request, session: Session | None, name: str, *, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        """A page; every string that reaches it goes through ``redact`` last (R16)."""
        html = self.templates.get_template(name).render(
            request=request, session=session, csrf=session.csrf if session else "",
            environment=self.admin.settings.environment, path=request.url.path, **context)
        return HTMLResponse(redact(html), status_code=status_code)

"""Personio emulator, API v2 over HTTP: ``POST /v2/auth/token`` and the ``/v2/webhooks`` API.

Follows personio-v2-webhooks.md §1.2 (management endpoints, scopes) and §3 (the v2 token);
errors use v2's ``ErrorResponse`` (``personio-common-components-v2.json``) and the token
endpoint's OAuth2 ``application/problem+json``. ``webhooks.py`` holds the subscriptions.
"""

from __future__ import annotations

__all__ = ["V2_SCOPES", "V2Tokens", "v2_routes"]

import base64
import datetime as dt
import hmac
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personio360.emulators.personio.webhooks import (
    InvalidWebhookError,
    UnknownWebhookError,
    WebhookConflictError,
    Webhooks,
    stamp,
)
from personio360.emulators.stats import CallStats

#: What a credential of this emulator may ask for; no ``scope`` in the request = all of them.
V2_SCOPES = ("personio:persons:read", "personio:webhooks:read", "personio:webhooks:write")
_READ, _WRITE = "personio:webhooks:read", "personio:webhooks:write"


class _Problem(Exception):
    """An error answer: v2 ``ErrorResponse``, or the token endpoint's OAuth2 problem."""

    def __init__(self, status: int, title: str, detail: str, *, oauth: bool = False) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.oauth = status, title, detail, oauth

    def response(self) -> Response:
        trace = str(uuid.uuid4())
        if self.oauth:
            return JSONResponse({"error": self.title, "error_description": self.detail,
                                 "trace_id": trace}, self.status,
                                media_type="application/problem+json")
        return JSONResponse({"personio_trace_id": trace,
                             "timestamp": stamp(dt.datetime.now(dt.UTC)),
                             "errors": [{"title": self.title, "detail": self.detail}]},
                            self.status)


class V2Tokens:
    """Stable v2 tokens: one per (credential, scope set) for ``ttl`` seconds (§3)."""

    def __init__(self, ttl: float, seed: int) -> None:
        self.ttl = ttl
        self._rng = random.Random(seed + 2)
        self._current: dict[frozenset[str], tuple[str, float]] = {}
        self._scopes: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()

    def issue(self, scopes: frozenset[str]) -> tuple[str, int]:
        with self._lock:
            now = time.monotonic()
            current = self._current.get(scopes)
            if current is None or current[1] <= now:
                token = "papi-" + "".join(self._rng.choices("0123456789abcdef", k=48))
                current = (token, now + self.ttl)
                self._current[scopes] = current
                self._scopes[token] = (scopes, current[1])
            return current[0], max(0, math.ceil(current[1] - now))

    def scopes_of(self, token: str) -> frozenset[str] | None:
        with self._lock:
            found = self._scopes.get(token)
            return found[0] if found and found[1] > time.monotonic() else None

    def expire_all(self) -> None:
        with self._lock:
            self._current.clear()
            self._scopes.clear()


Handler = Callable[[Request], Awaitable[Response]]


def v2_routes(hooks: Webhooks, tokens: V2Tokens, *, client_id: str,  # noqa: PLR0915 - a handler each
              client_secret: str, stats: CallStats,
              auth_limit: Callable[[], float] | None) -> list[Route]:
    """The v2 routes; ``auth_limit()`` returns the seconds to wait (0 = allowed), if limited."""
    cid, secret = client_id.encode(), client_secret.encode()

    def endpoint(kind: str, template: str, handler: Handler) -> Handler:
        async def answer(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Problem as problem:
                response = problem.response()
            stats.record(kind, template, response.status_code)
            return response
        return answer

    def require(request: Request, scope: str) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        scopes = tokens.scopes_of(token.strip()) if scheme.lower() == "bearer" else None
        if scopes is None:
            raise _Problem(401, "Unauthorized", "The access token is missing, invalid or expired.")
        if scope not in scopes:
            raise _Problem(403, "Forbidden", f"The access token lacks the scope {scope}.")

    async def token(request: Request) -> Response:
        if auth_limit is not None and (wait := auth_limit()) > 0:
            return JSONResponse({"error": "rate_limited", "error_description":
                                 "Too many token requests.", "trace_id": str(uuid.uuid4())},
                                429, headers={"Retry-After": str(max(1, math.ceil(wait)))},
                                media_type="application/problem+json")
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            raise _Problem(400, "invalid_request", "The body must be form-encoded.", oauth=True)
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            raise _Problem(400, "unsupported_grant_type" if form.get("grant_type")
                           else "invalid_request", "grant_type must be client_credentials.",
                           oauth=True)
        if not (hmac.compare_digest(form.get("client_id", "").encode(), cid)
                and hmac.compare_digest(form.get("client_secret", "").encode(), secret)):
            raise _Problem(400, "invalid_client", "Client authentication failed.", oauth=True)
        wanted = frozenset(form.get("scope", "").split()) or frozenset(V2_SCOPES)
        if not wanted <= set(V2_SCOPES):
            raise _Problem(400, "invalid_scope", "The requested scope is not granted.",
                           oauth=True)
        access, expires_in = tokens.issue(wanted)
        return JSONResponse({"access_token": access, "token_type": "Bearer",
                             "expires_in": expires_in, "scope": " ".join(sorted(wanted))})

    async def list_hooks(request: Request) -> Response:
        require(request, _READ)
        return _page(request, hooks.all())

    async def create(request: Request) -> Response:
        require(request, _WRITE)
        body = _object(await request.body())
        return JSONResponse(_managed(lambda: hooks.create(body)), 201)

    async def get_one(request: Request) -> Response:
        require(request, _READ)
        return JSONResponse(_managed(lambda: hooks.get(request.path_params["id"])))

    async def patch(request: Request) -> Response:
        require(request, _WRITE)
        body = _object(await request.body())
        return JSONResponse(_managed(lambda: hooks.update(request.path_params["id"], body)))

    async def delete(request: Request) -> Response:
        require(request, _WRITE)
        _managed(lambda: hooks.delete(request.path_params["id"]))
        return Response(status_code=204)

    async def activity(request: Request) -> Response:
        require(request, _READ)
        rows = _managed(lambda: hooks.activity(request.path_params["id"]))
        return _page(request, _filtered(request, rows, "completed_at", delivered=True))

    async def events(request: Request) -> Response:
        require(request, _READ)
        rows = _managed(lambda: hooks.events(request.path_params["id"]))
        return _page(request, _filtered(request, rows, "occurred_at", delivered=False))

    async def ping(request: Request) -> Response:
        require(request, _WRITE)
        return JSONResponse({"_data": _managed(lambda: hooks.ping(request.path_params["id"]))})

    one = "/v2/webhooks/{id}"
    table: list[tuple[str, str, str, Handler]] = [
        ("POST", "/v2/auth/token", "auth", token),
        ("GET", "/v2/webhooks", "read", list_hooks),
        ("POST", "/v2/webhooks", "write", create),
        ("GET", one, "read", get_one),
        ("PATCH", one, "write", patch),
        ("DELETE", one, "write", delete),
        ("GET", one + "/activity", "read", activity),
        ("GET", one + "/events", "read", events),
        ("POST", one + "/ping", "write", ping),
    ]
    return [Route(path, endpoint(kind, f"{method} {path}", handler), methods=[method])
            for method, path, kind, handler in table]


def _managed(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except UnknownWebhookError:
        raise _Problem(404, "Not found", "The webhook was not found.") from None
    except WebhookConflictError as exc:
        raise _Problem(409, "Conflict", str(exc)) from None
    except InvalidWebhookError as exc:
        raise _Problem(422, "Unprocessable entity", str(exc)) from None


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise _Problem(400, "Bad request", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _Problem(400, "Bad request", "The request body must be a JSON object.")
    return body


def _instant(raw: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Problem(400, "Bad request", f"{name} must be an ISO 8601 date-time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _filtered(request: Request, rows: list[dict[str, Any]], field: str, *,
              delivered: bool) -> list[dict[str, Any]]:
    """``<field>.gte`` / ``.lte``, ``event_name``, and (activity only) ``is_delivered``."""
    query = request.query_params
    if raw := query.get(f"{field}.gte"):
        low = _instant(raw, f"{field}.gte")
        rows = [r for r in rows if _instant(r[field], field) >= low]
    if raw := query.get(f"{field}.lte"):
        high = _instant(raw, f"{field}.lte")
        rows = [r for r in rows if _instant(r[field], field) <= high]
    if name := query.get("event_name"):
        rows = [r for r in rows if r["event_name"] == name]
    flag = query.get("is_delivered")
    if delivered and flag is not None:
        if flag not in ("true", "false"):
            raise _Problem(400, "Bad request", "is_delivered must be true or false.")
        rows = [r for r in rows if r["is_delivered"] is (flag == "true")]
    return rows


def _page(request: Request, rows: list[dict[str, Any]]) -> Response:
    """v2 cursor pagination: ``limit`` 1-100 (default 50), the next page in ``_meta.links``."""
    try:
        limit = int(request.query_params.get("limit", "50"))
        cursor = request.query_params.get("cursor")
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        raise _Problem(400, "Bad request", "limit or cursor is invalid.") from None
    if not 1 <= limit <= 100 or offset < 0:
        raise _Problem(400, "Bad request", "limit must be between 1 and 100.")
    links: dict[str, Any] = {"self": {"href": str(request.url)}}
    if offset + limit < len(rows):
        token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        links["next"] = {"href": str(request.url.include_query_params(cursor=token))}
    return JSONResponse({"_data": rows[offset:offset + limit], "_meta": {"links": links}})

"""Personio emulator HTTP layer: v1 auth and employee reads over ``PersonioState``.

Follows ``shared/api/personio-personnel-data-api-oa3.yaml`` and ``personio-auth-api.yaml``;
where they are silent it follows ``personio-research.md`` and the choices listed in
``docs/emulators.md`` (## Personio emulator).
"""

from __future__ import annotations

__all__ = ["TokenBucket", "build_app", "error_body"]

import datetime as dt
import hmac
import json
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from personio360.emulators.deliveries import DeliveryEngine
from personio360.emulators.faults import FaultInjector, FaultPlan
from personio360.emulators.personio.control import control_routes
from personio360.emulators.personio.render import Renderer
from personio360.emulators.personio.state import PersonioState, UnknownEmployeeError
from personio360.emulators.personio.v2 import V2Tokens, v2_routes
from personio360.emulators.personio.webhooks import Webhooks
from personio360.emulators.personio.writes import UpdateRefusedError, apply_update, read_update
from personio360.emulators.stats import CallStats

Handler = Callable[[Request], Awaitable[Response]]

#: Messages of the documented examples (SPEC-v1 components/examples and the 404 example).
NOT_PROVIDED = "Authorization is not provided"
NOT_VALID = "Provided authorization is not valid"
NOT_FOUND = "Es ist ein Problem aufgetreten "
_PARTNER_HEADERS = ("x-personio-partner-id", "x-personio-app-id")


class _Reply(Exception):
    """An error answer in the documented ``{"success": false, "error": {...}}`` shape."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after

    def response(self) -> Response:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return JSONResponse(_error(self.status, self.message), self.status, headers=headers)


def _error(status: int, message: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": status, "message": message}}


def error_body(status: int) -> bytes:
    """The body an injected fault answers with: Personio's v1 error shape."""
    message = {401: NOT_PROVIDED, 403: NOT_VALID, 404: NOT_FOUND,
               429: "Too Many Requests"}.get(status, "Something went wrong")
    return json.dumps(_error(status, message)).encode()


class TokenBucket:
    """``capacity`` calls at once, refilled at ``rate`` per second; thread-safe."""

    def __init__(self, rate: float, capacity: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.capacity, self._clock = rate, max(1.0, capacity), clock
        self._tokens, self._at = self.capacity, clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


class _Limits:
    """Published limits (personio-research.md §7.2): employees list 300/min with bursts of
    15/s; ``/v1/auth`` 60/min then a 60 s cool-down; every v1 call 2,000/min per IP."""

    def __init__(self, factor: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.factor, self._clock = factor, clock
        self.employees = [TokenBucket(15 * factor, 15 * factor, clock),
                          TokenBucket(5 * factor, 300 * factor, clock)]
        self.auth = TokenBucket(factor, 60 * factor, clock)
        self.ip = TokenBucket(2000 / 60 * factor, 2000 * factor, clock)
        self._cooldown_until = 0.0
        self._lock = threading.Lock()

    def check(self, buckets: list[TokenBucket]) -> None:
        waits = [b.take() for b in [self.ip, *buckets]]
        if max(waits) > 0:
            raise _Reply(429, "Too Many Requests", retry_after=max(waits))

    def check_auth(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._cooldown_until:
                raise _Reply(429, "Too Many Requests", retry_after=self._cooldown_until - now)
            if self.auth.take() > 0:
                self._cooldown_until = now + 60 / self.factor
                raise _Reply(429, "Too Many Requests", retry_after=60 / self.factor)
        self.check([])


#: The token scope of the read credential, and of the write credential (R18); the auth
#: document's example answers ``scope: employees:read absences:read``.
READ_SCOPE = "employees:read"
WRITE_SCOPE = "employees:read employees:write"


class _Tokens:
    """Stable ``papi-`` tokens: ``/v1/auth`` returns the same token per credential (its scope)
    until it expires."""

    def __init__(self, ttl: float, seed: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self._clock = ttl, clock
        self._rng = random.Random(seed)
        self._current: dict[str, tuple[str, float]] = {}
        self._expiry: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def issue(self, scope: str = READ_SCOPE) -> tuple[str, int]:
        with self._lock:
            now = self._clock()
            current = self._current.get(scope)
            if current is None or current[1] <= now:
                token = "papi-" + "".join(self._rng.choices("0123456789abcdef", k=48))
                current = self._current[scope] = (token, now + self.ttl)
                self._expiry[token] = (now + self.ttl, scope)
            token, until = current
            return token, max(0, math.ceil(until - now))

    def valid(self, token: str) -> bool:
        return self.scope_of(token) is not None

    def scope_of(self, token: str) -> str | None:
        """The scope of a live token, ``None`` when unknown or expired."""
        with self._lock:
            until, scope = self._expiry.get(token, (0.0, ""))
            return scope if until > self._clock() else None

    def expire_all(self) -> None:
        with self._lock:
            self._expiry.clear()
            self._current.clear()


# --- the application ----------------------------------------------------------------------


def _int_param(request: Request, name: str, *, default: int, low: int, high: int | None,
               message: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _Reply(400, message) from None
    if value < low or (high is not None and value > high):
        raise _Reply(400, message)
    return value


def _parse_since(raw: str) -> dt.datetime:
    """``updated_since``: ISO 8601 (``2022-12-24T08:15:30``) or ``YYYY-MM-DD``; naive = UTC."""
    try:
        since = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Reply(400, "The updated_since parameter must be ISO 8601 or YYYY-MM-DD.") from None
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


class _Api:
    """The v1 endpoints over one state, with their tokens, limits and counters."""

    def __init__(self, state: PersonioState, *, client_id: str, client_secret: str,
                 stats: CallStats, limits: _Limits | None, tokens: _Tokens,
                 writer: tuple[str, str] | None = None) -> None:
        self.state, self.stats, self.limits, self.tokens = state, stats, limits, tokens
        self._credentials = [(client_id.encode(), client_secret.encode(), READ_SCOPE)]
        if writer is not None:  # R18: a separate credential that may write
            self._credentials.append((writer[0].encode(), writer[1].encode(), WRITE_SCOPE))

    def endpoint(self, kind: str, template: str, handler: Handler) -> Handler:
        """Answer ``_Reply`` errors in the documented shape and count every call."""
        async def answer(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Reply as reply:
                response = reply.response()
            self.stats.record(kind, template, response.status_code)
            return response
        return answer

    def authenticate(self, request: Request, catalogue: bool = False) -> dict[str, str]:
        """Rate limits, then the bearer token; returns the ``Authorization`` header to echo."""
        if self.limits is not None:
            listing = request.url.path == "/v1/company/employees"
            self.limits.check(self.limits.employees if listing else [])
        header = request.headers.get("authorization", "").strip()
        if not header:
            raise _Reply(401, NOT_PROVIDED)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _Reply(403, NOT_VALID)
        if not self.tokens.valid(token):
            raise _Reply(401, "The token is invalid or has expired")
        if catalogue and not all(request.headers.get(h, "").strip() for h in _PARTNER_HEADERS):
            raise _Reply(403, "The X-Personio-Partner-ID and X-Personio-App-ID headers are "
                              "required for this endpoint")
        return {"Authorization": f"Bearer {token}"}

    async def auth(self, request: Request) -> Response:
        """``POST /v1/auth``: credentials from the body only; the same token for 24 h."""
        if self.limits is not None:
            self.limits.check_auth()
        if {"client_id", "client_secret"} & set(request.query_params):
            raise _Reply(403, "Credentials in the query string are not accepted: send "
                              "client_id and client_secret in the request body.")
        body = await _credentials(request)
        given_id = str(body.get("client_id", "")).encode()
        given_secret = str(body.get("client_secret", "")).encode()
        scope = None
        for known_id, known_secret, granted in self._credentials:
            # both compared every time: no early exit that would time the id
            same = hmac.compare_digest(given_id, known_id) & hmac.compare_digest(given_secret, known_secret)
            scope = granted if same and scope is None else scope
        if scope is None:
            raise _Reply(401, "Wrong credentials")
        token, expires_in = self.tokens.issue(scope)
        return JSONResponse({"success": True, "data": {
            "token": token, "expires_in": expires_in, "scope": scope}})

    async def list_employees(self, request: Request) -> Response:
        """``GET /v1/company/employees``: record offset, limit 1-100, 0-based pages.

        With ``updated_since`` the document says ``email``, ``limit`` and ``offset`` are ignored:
        every match comes in the one answer (its example: 10 employees under ``"limit": 1``);
        the metadata still echoes the paging asked for, as that example does."""
        echo = self.authenticate(request)
        limit = _int_param(request, "limit", default=50, low=1, high=100,
                           message="The limit must be between 1 and 100.")
        offset = _int_param(request, "offset", default=0, low=0, high=None,
                            message="The offset must be 0 or more.")
        only = set(request.query_params.getlist("attributes[]")) or None
        ids = _select(self.state, request, only)
        renderer = Renderer(self.state, only)
        page = []
        chosen = ids if request.query_params.get("updated_since") else ids[offset:offset + limit]
        for employee_id in chosen:
            try:
                page.append(renderer.employee(self.state.employee(employee_id)))
            except UnknownEmployeeError:
                continue  # removed while paging
        return JSONResponse({
            "success": True,
            "metadata": {"total_elements": len(ids), "current_page": offset // limit,
                         "total_pages": math.ceil(len(ids) / limit)},
            "offset": offset, "limit": limit, "data": page,
        }, headers=echo)

    async def get_employee(self, request: Request) -> Response:
        """``GET /v1/company/employees/{employee_id}``, with the documented German 404."""
        echo = self.authenticate(request)
        try:
            record = self.state.employee(int(request.path_params["employee_id"]))
        except (UnknownEmployeeError, ValueError):
            raise _Reply(404, NOT_FOUND) from None
        data = Renderer(self.state, None).employee(record)
        return JSONResponse({"success": True, "data": data}, headers=echo)

    async def update_employee(self, request: Request) -> Response:
        """``PATCH /v1/company/employees/{employee_id}`` (R18): JSON or form body (``writes.py``).

        Only a token of a credential that may write (``employees:write``) may call it: any other
        answers 403, as Personio does for a credential without the permission (the document
        lists only 200 and 422; the 403 shape is that of its other errors)."""
        echo = self.authenticate(request)
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if "employees:write" not in (self.tokens.scope_of(token) or "").split():
            raise _Reply(403, "These API credentials may not write employees")
        try:
            employee_id = int(request.path_params["employee_id"])
            changes = read_update(request.headers.get("content-type", ""), await request.body())
            meta = apply_update(self.state, employee_id, changes)
        except (UnknownEmployeeError, ValueError):
            raise _Reply(404, NOT_FOUND) from None
        except UpdateRefusedError as exc:
            raise _Reply(422, str(exc)) from None
        return JSONResponse({"success": True, "data": {"id": employee_id}, "meta": meta},
                            headers=echo)

    async def list_attributes(self, request: Request) -> Response:
        """``GET /v1/company/employees/attributes`` (and its ``custom-attributes`` alias)."""
        self.authenticate(request, catalogue=True)
        data = [{"key": a.key, "label": a.label, "type": a.type, "universal_id": a.universal_id,
                 "options": list(a.options)}
                for a in self.state.attributes().values() if a.whitelisted and a.key != "id"]
        return JSONResponse({"success": True, "data": data})


def build_app(state: PersonioState, *, client_id: str, client_secret: str,
              faults: FaultPlan | None = None, stats: CallStats | None = None,
              rate_limits: bool = True, rate_limit_factor: float = 1.0,
              token_ttl: float = 86400.0, seed: int = 0,
              webhooks: Webhooks | None = None, writer: tuple[str, str] | None = None) -> ASGIApp:
    """The Personio emulator (v1 reads, v2 token and webhooks) as an ASGI app, wrapped in a
    ``FaultInjector``; ``webhooks`` (built here when not given) sends the deliveries;
    ``writer``: the (client id, secret) of a credential that may also write (R18)."""
    plan = faults if faults is not None else FaultPlan(seed=seed)
    calls = stats if stats is not None else CallStats()
    hooks = webhooks if webhooks is not None else Webhooks(state, DeliveryEngine(faults=plan))
    tokens = _Tokens(token_ttl, seed)
    v2_tokens = V2Tokens(token_ttl, seed)
    v2_limit = TokenBucket(150 / 60 * rate_limit_factor, 150 * rate_limit_factor)
    api = _Api(state, client_id=client_id, client_secret=client_secret, stats=calls,
               limits=_Limits(rate_limit_factor) if rate_limits else None, tokens=tokens,
               writer=writer)
    employees = "/v1/company/employees"
    reads = [("", api.list_employees), ("/attributes", api.list_attributes),
             ("/custom-attributes", api.list_attributes),
             ("/{employee_id}", api.get_employee)]
    routes = [Route("/v1/auth", api.endpoint("auth", "POST /v1/auth", api.auth),
                    methods=["POST"])]
    routes += [Route(employees + tail, api.endpoint("read", f"GET {employees}{tail}", handler),
                     methods=["GET"]) for tail, handler in reads]
    routes.append(Route(employees + "/{employee_id}", api.endpoint(
        "write", f"PATCH {employees}/{{employee_id}}", api.update_employee), methods=["PATCH"]))
    routes += v2_routes(hooks, v2_tokens, client_id=client_id, client_secret=client_secret,
                        stats=calls, auth_limit=v2_limit.take if rate_limits else None)

    def expire_all() -> None:
        tokens.expire_all()
        v2_tokens.expire_all()

    routes += control_routes(state, plan, calls, expire_all, hooks.engine)
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return FaultInjector(app, plan, error_body)


def _select(state: PersonioState, request: Request, only: set[str] | None) -> list[int]:
    """The ids a list call matches, ascending; ``email`` is ignored with ``updated_since``."""
    raw_since = request.query_params.get("updated_since")
    if raw_since:
        since = _parse_since(raw_since)
        readable = {a.key for a in state.attributes().values() if a.whitelisted}
        watched = readable & only if only is not None else readable
        return [i for i in state.employee_ids() if state.changed_since(i, since) & watched]
    email = request.query_params.get("email")
    if email is not None:
        wanted = email.strip().lower()
        return [e["id"] for e in state.employees()
                if isinstance(e.get("email"), str) and e["email"].strip().lower() == wanted]
    return state.employee_ids()


async def _credentials(request: Request) -> dict[str, Any]:
    """client_id/client_secret from a JSON or form body (personio-auth-api.yaml)."""
    content_type = request.headers.get("content-type", "")
    try:
        raw = await request.body()
        if "application/x-www-form-urlencoded" in content_type:
            return {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise _Reply(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _Reply(400, "The request body must be a JSON object.")
    return body


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in Personio's error shape, not Starlette's text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = NOT_FOUND if status == 404 else "Method not allowed" if status == 405 else "Error"
    return JSONResponse(_error(status, message), status)

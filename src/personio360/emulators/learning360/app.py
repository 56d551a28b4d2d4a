"""The 360Learning API v2 emulator over HTTP: token, version header, scopes, limits, stats.

``build_app`` maps HTTP to a ``Learning360State`` (STYLE §7.7) following
``shared/api/360learning-core-api.openapi.json`` and ``360learning-bulk-api.openapi.json``;
``routes.py`` holds the endpoints. In front of every API call, in this order: the
``360-api-version: v2.0`` header, the bearer token (401 ``{"error": "invalid_token"}``), the
credential's scopes (403 object form), the per-company rate limit (429
``{"error": "tooManyRequests"}`` with ``Retry-After``). ``/_emulator/*`` is the control
surface for tests: no auth, never limited, never faulted, never counted.
"""

from __future__ import annotations

__all__ = ["ALL_SCOPES", "Learning360App", "build_app"]

import asyncio
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from personio360.emulators.deliveries import DeliveryEngine
from personio360.emulators.faults import Fault, FaultInjector, FaultPlan
from personio360.emulators.learning360 import wire
from personio360.emulators.learning360.bulk import BulkRunner
from personio360.emulators.learning360.errors import (
    StateError,
    error_body,
    fault_body,
    flat_body,
)
from personio360.emulators.learning360.learning_routes import LEARNING_ROUTES, learning_control
from personio360.emulators.learning360.ratelimit import (
    READS_PER_SECOND,
    WRITES_PER_SECOND,
    TokenBucket,
)
from personio360.emulators.learning360.routes import (
    ROUTES,
    WEBHOOK_ROUTES,
    Call,
    Route,
    Services,
    field_dto,
    group_dto,
    mapping_dto,
    user_dto,
    value_dto,
)
from personio360.emulators.learning360.state import Learning360State
from personio360.emulators.learning360.webhooks import Subscriptions, api_origin
from personio360.emulators.stats import CallStats

TOKEN_PATH = "/api/v2/oauth2/token"
API_VERSION = "v2.0"
ALL_SCOPES = frozenset(route.scope for route in (*LEARNING_ROUTES, *ROUTES, *WEBHOOK_ROUTES))


def _raw(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class Learning360App:
    """The ASGI app behind ``build_app`` (before fault injection)."""

    def __init__(self, state: Learning360State, *, client_id: str, client_secret: str,
                 faults: FaultPlan, stats: CallStats, rate_limits: bool,
                 rate_limit_factor: float, token_ttl: float, bulk: BulkRunner,
                 scopes: Iterable[str], absolute_links: bool,
                 webhooks: Subscriptions) -> None:
        self.state = state
        self.webhooks = webhooks
        self.faults = faults
        self.stats = stats
        self.bulk = bulk
        self.token_ttl = token_ttl
        self.scopes = frozenset(scopes)
        self.services = Services(state=state, bulk=bulk, absolute_links=absolute_links,
                                 webhooks=webhooks)
        self._client_id = client_id
        self._client_secret = client_secret
        self._tokens: dict[str, float] = {}
        self._tokens_lock = threading.Lock()
        self._buckets = {
            "read": TokenBucket(READS_PER_SECOND * rate_limit_factor),
            "write": TokenBucket(WRITES_PER_SECOND * rate_limit_factor),
        } if rate_limits else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        if request.url.path == "/_emulator/deliveries/wait" and request.method == "POST":
            response = await self._wait(request)
        elif request.url.path.startswith("/_emulator/"):
            response = self._control(request, body)
        else:
            response = self._api(request, body)
        await response(scope, receive, send)

    # --- the API ------------------------------------------------------------------------

    def _api(self, request: Request, body: bytes) -> Response:
        method, path = request.method, request.url.path
        if method == "POST" and path == TOKEN_PATH:
            response = self._token(body)
            self.stats.record("auth", f"POST {TOKEN_PATH}", response.status_code)
            return response
        route, params = self._route(method, path)
        if route is None:
            response = _raw(404, error_body("notFound"))
            self.stats.record("read" if method == "GET" else "write", f"{method} <unknown>", 404)
            return response
        try:
            with api_origin():
                response = self._guard(request, route) or route.handler(
                    self.services, Call(request=request, params=params, body=body))
        except StateError as error:
            response = _raw(error.status, error_body(error.code, error.message))
        self.stats.record(route.kind, f"{method} {route.template}", response.status_code)
        return response

    @staticmethod
    def _route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in (*LEARNING_ROUTES, *ROUTES, *WEBHOOK_ROUTES):
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, {}

    def _guard(self, request: Request, route: Route) -> Response | None:
        """Version header, token, scope, rate limit: the first failure answers."""
        if request.headers.get("360-api-version") != API_VERSION:
            return _raw(400, error_body("invalidApiVersion"))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._tokens_lock:
            expiry = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if expiry is None or time.monotonic() >= expiry:
            return _raw(401, flat_body("invalid_token"))
        if route.scope not in self.scopes:
            return _raw(403, error_body("invalid_scope"))
        bucket = self._buckets.get(route.kind)
        wait = bucket.take() if bucket is not None else 0.0
        if wait > 0:
            return _raw(429, flat_body("tooManyRequests"),
                        {"Retry-After": TokenBucket.retry_after(wait)})
        return None

    def _token(self, body: bytes) -> Response:
        """``POST /api/v2/oauth2/token`` (JSON client credentials, no version header)."""
        try:
            creds = wire.TokenBody.model_validate_json(body or b"null")
        except ValidationError:
            return _raw(400, flat_body("invalid_request"))
        if creds.grant_type != "client_credentials":
            return _raw(400, flat_body("unsupported_grant_type"))
        if not (hmac.compare_digest(creds.client_id.encode(), self._client_id.encode())
                and hmac.compare_digest(creds.client_secret.encode(),
                                        self._client_secret.encode())):
            return _raw(401, flat_body("invalid_client"))
        if creds.user_id is not None:
            try:
                self.state.user_record(creds.user_id)
            except StateError:
                return _raw(400, flat_body("non_existing_user"))
        token = secrets.token_urlsafe(32)
        with self._tokens_lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        ttl = self.token_ttl
        return JSONResponse({"token_type": "Bearer", "access_token": token,
                             "expires_in": int(ttl) if ttl == int(ttl) else ttl})

    # --- the control surface ------------------------------------------------------------

    def _control(self, request: Request, body: bytes) -> Response:  # noqa: PLR0911, PLR0912 - one per endpoint
        method, path = request.method, request.url.path.removeprefix("/_emulator")
        engine = self.webhooks.engine
        try:
            payload: Any = json.loads(body) if body else None
            learned = learning_control(self.state, method, path.strip("/").split("/"), payload)
            if learned is not None:
                return learned
            match method, path.strip("/").split("/"):
                case "GET", ["deliveries"]:
                    return JSONResponse(engine.snapshot())
                case "POST", ["deliveries", "pause"]:
                    engine.pause()
                    return JSONResponse(engine.snapshot())
                case "POST", ["deliveries", "resume"]:
                    engine.resume()
                    return JSONResponse(engine.snapshot())
                case "GET" | "PUT", ["webhooks", "api-changes"]:
                    if method == "PUT":
                        self.webhooks.api_changes = bool(payload["enabled"])
                    return JSONResponse({"enabled": self.webhooks.api_changes})
                case "POST", ["users"]:
                    user = self.state.add_user(
                        str(payload["mail"]), payload.get("firstName"), payload.get("lastName"),
                        payload.get("job"), payload.get("status", "active"))
                    return JSONResponse(user_dto(self.state.user_record(user.id)), 201)
                case "PATCH", ["users", user_id]:
                    changes = {k: v for k, v in payload.items() if k != "lang"}
                    return JSONResponse(user_dto(self.state.update_user(
                        user_id, changes, lang=payload.get("lang"))))
                case "POST", ["users", user_id, "reactivate"]:
                    return JSONResponse(user_dto(self.state.reactivate_user(user_id)))
                case "GET", ["stats"]:
                    return JSONResponse({**self.stats.snapshot(),
                                         "faults_injected": dict(self.faults.injected)})
                case "POST", ["stats", "reset"]:
                    self.stats.reset()
                    return Response(status_code=204)
                case "GET", ["faults"]:
                    return JSONResponse({"seed": self.faults.seed,
                                         "faults": [f.to_dict() for f in self.faults.faults]})
                case "PUT", ["faults"]:
                    return self._put_faults(payload)
                case "GET", ["outbox"]:
                    return JSONResponse(self.state.outbox)
                case "GET", ["users"]:
                    return JSONResponse(self._dump())
                case "PATCH", ["custom-fields", field_id]:
                    renamed = self.state.rename_custom_field(field_id, str(payload["name"]))
                    return JSONResponse(field_dto(renamed))
                case "DELETE", ["custom-fields", field_id]:
                    self.state.delete_custom_field(field_id)
                    return Response(status_code=204)
                case "DELETE", ["users", user_id]:
                    self.state.delete_user(user_id)
                    return Response(status_code=204)
        except StateError as error:
            return _raw(error.status, error_body(error.code, error.message))
        except (ValueError, KeyError, TypeError) as error:
            return _raw(400, error_body("invalidRequest", str(error)))
        return _raw(404, error_body("notFound"))

    async def _wait(self, request: Request) -> Response:
        """``POST /_emulator/deliveries/wait?timeout=S``: answer once no delivery is pending."""
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            return _raw(400, error_body("invalidRequest", "timeout must be a number"))
        engine = self.webhooks.engine
        idle = await asyncio.to_thread(engine.wait_idle, timeout)
        return JSONResponse({"idle": idle, **engine.snapshot()})

    def _put_faults(self, payload: Any) -> Response:
        """Body: a list of fault dicts, or ``{"faults": [...], "seed": n}``."""
        spec: dict[str, Any] = ({"faults": payload} if isinstance(payload, list)
                                else dict(payload or {}))
        faults = [Fault.from_dict({k: v for k, v in item.items() if k != "fired"})
                  for item in spec.get("faults", [])]
        seed = spec.get("seed")
        self.faults.replace(faults, seed=None if seed is None else int(seed))
        return JSONResponse({"seed": self.faults.seed,
                             "faults": [f.to_dict() for f in self.faults.faults]})

    def _dump(self) -> dict[str, Any]:
        """Everything the state holds, for tests written against HTTP only."""
        state = self.state
        users = []
        for record in state.user_records():
            users.append({
                **user_dto(record),
                "roles": [{"groupId": r.group_id, "role": r.role}
                          for r in state.roles_of_user(record.id)],
                "managers": state.managers_of(record.id),
                "customValues": [value_dto(v) for v in state.custom_values(record.id)],
            })
        return {"rootGroupId": state.root_group_id, "ownerId": state.owner_id, "users": users,
                "groups": [group_dto(g) for g in state.groups()],
                "customFields": [field_dto(f) for f in state.custom_fields()],
                "externalIds": [mapping_dto(e) for e in state.external_ids()]}


def build_app(state: Learning360State, *, client_id: str, client_secret: str,
              faults: FaultPlan | None = None, stats: CallStats | None = None,
              rate_limits: bool = True, rate_limit_factor: float = 1.0,
              token_ttl: float = 3600.0, bulk_delay: float = 0.0,
              bulk: BulkRunner | None = None, scopes: Iterable[str] | None = None,
              absolute_links: bool = False, webhooks: Subscriptions | None = None) -> ASGIApp:
    """The emulator as an ASGI app, wrapped in ``FaultInjector`` (documented error bodies).

    ``rate_limit_factor`` scales the published limits (50 GET/s, 10 writes/s);
    ``token_ttl`` is the token lifetime in seconds; ``bulk_delay`` how long a bulk
    operation runs; ``scopes`` the credential's scopes (all the emulated ones by default);
    ``absolute_links`` makes ``Link`` URLs absolute instead of path-relative;
    ``webhooks`` (built here when not given) holds the subscriptions and sends deliveries.
    """
    plan = faults if faults is not None else FaultPlan()
    hooks = webhooks if webhooks is not None else Subscriptions(state, DeliveryEngine(faults=plan))
    app = Learning360App(
        state, client_id=client_id, client_secret=client_secret,
        faults=plan,
        stats=stats if stats is not None else CallStats(), rate_limits=rate_limits,
        rate_limit_factor=rate_limit_factor, token_ttl=token_ttl,
        bulk=bulk if bulk is not None else BulkRunner(state, delay=bulk_delay),
        scopes=ALL_SCOPES if scopes is None else scopes, absolute_links=absolute_links,
        webhooks=hooks)
    return FaultInjector(app, app.faults, fault_body)

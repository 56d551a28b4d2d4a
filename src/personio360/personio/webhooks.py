"""``PersonioWebhooks``: Personio's v2 token and ``/v2/webhooks`` management API (R17).

personio-v2-webhooks.md §1.2 (management, scopes ``personio:webhooks:read|write``) and §3 (the
v2 token: ``POST /v2/auth/token``, a form body, the same client id and secret as v1). Built
like ``PersonioClient``: one ``ApiCaller`` (pacing, method-aware retries: a POST or PATCH whose
answer was lost is never re-sent), one status map, pydantic at the edge, frozen domain values
out. Where the document is silent, the choices (each also in docs/configuration.md):

- a single webhook, created or updated, may come bare or inside ``_data`` (v2's list envelope):
  both are accepted;
- lists page like ``/v2/persons``: ``limit`` and ``cursor``, the next page in
  ``_meta.links.next.href`` (§2.1), followed on the same host only;
- the token is never echoed (§1.2 "UNKNOWN"): nothing here expects to read it back;
- an activity entry needs only ``is_delivered`` and ``completed_at``; the rest is optional.
"""

from __future__ import annotations

__all__ = [
    "ACTIVITY",
    "TOKEN_PATH",
    "WEBHOOK",
    "WEBHOOKS",
    "DeliveryAttempt",
    "PersonioWebhooks",
    "Subscription",
    "map_status",
]

import datetime as dt
import json
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from personio360.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    Conflict,
    MalformedResponse,
    NotFound,
    RateLimited,
    Rejected,
)
from personio360.http.caller import ApiCaller
from personio360.http.paging import LoopError, PageGuard
from personio360.http.ratelimit import PERSONIO_LIMITS, RateLimiter
from personio360.http.redact import mask, redact, register_secret
from personio360.http.retry import RetryPolicy, parse_retry_after
from personio360.personio.auth import DEFAULT_TTL, PersonioAuth, Token
from personio360.personio.client import DEFAULT_APP_ID

SERVICE = "personio"
TOKEN_PATH = "/v2/auth/token"
WEBHOOKS = "/v2/webhooks"
WEBHOOK = "/v2/webhooks/{id}"
ACTIVITY = "/v2/webhooks/{id}/activity"
#: v2 lists take ``limit`` 1-50 on ``/v2/persons`` (§2.1); 50 is safe for every v2 list.
PAGE_SIZE = 50

_CREDENTIALS_HINT = (
    "check PERSONIO_CLIENT_ID and PERSONIO_CLIENT_SECRET (Personio: Settings > API credentials)"
)
_SCOPE_HINT = (
    "give these API credentials the scopes personio:webhooks:read and personio:webhooks:write "
    "(Personio: Settings > API credentials)"
)
_M = TypeVar("_M", bound=BaseModel)


# --- domain values ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    """One Personio webhook as the API shows it (never its token)."""

    id: str
    url: str
    description: str
    status: str
    auth_type: str
    enabled_events: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        return self.status == "ENABLED"


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One request Personio made for a webhook (``GET /v2/webhooks/{id}/activity``)."""

    completed_at: dt.datetime
    delivered: bool
    event_name: str | None = None
    status_code: int | None = None
    attempt: int | None = None
    error: str | None = None


# --- wire models (the API's field names) -----------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Token(_Wire):
    access_token: SecretStr
    token_type: str | None = None
    expires_in: float | None = None


class _Webhook(_Wire):
    id: str = Field(min_length=1)
    url: str
    description: str
    status: str = "DISABLED"  # §1.2: "default DISABLED"
    auth_type: str = "TOKEN"  # §1.2: "TOKEN (default)"
    enabled_events: list[str] = Field(default_factory=list)

    def to_domain(self) -> Subscription:
        return Subscription(self.id, self.url, self.description, self.status.upper(),
                            self.auth_type.upper(), tuple(self.enabled_events))


class _Activity(_Wire):
    completed_at: dt.datetime
    is_delivered: bool
    event_name: str | None = None
    status_code: int | None = None
    attempt: int | None = None
    error: str | None = None

    def to_domain(self) -> DeliveryAttempt:
        when = self.completed_at if self.completed_at.tzinfo else self.completed_at.replace(tzinfo=dt.UTC)
        error = redact(self.error) if self.error else None
        return DeliveryAttempt(when, self.is_delivered, self.event_name, self.status_code,
                               self.attempt, error)


class _Next(_Wire):
    href: str | None = None


class _Links(_Wire):
    next: _Next | None = None


class _Meta(_Wire):
    links: _Links | None = None


class _Page(_Wire):
    data: list[dict[str, Any]] = Field(alias="_data")
    meta: _Meta | None = Field(default=None, alias="_meta")


# --- the client -------------------------------------------------------------------------------


class _V2Auth(PersonioAuth):
    """``PersonioAuth``'s cache and 401 renewal, exempting the v2 token request itself."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.endswith(TOKEN_PATH):
            yield request
            return
        yield from super().auth_flow(request)


class PersonioWebhooks:
    """Personio's webhook subscriptions over an injected ``httpx.Client`` on the API host.

    The v2 auth flow is installed on ``http``; ``connect`` builds (and ``close`` closes) an owned
    client. Methods follow the house vocabulary: ``iter_*``, ``get_/create_/update_/delete_*``.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        client_id: str,
        client_secret: str,
        partner_id: str = DEFAULT_APP_ID,
        app_id: str = DEFAULT_APP_ID,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        register_secret(client_secret)
        self._client_id = client_id
        self._client_secret = SecretStr(client_secret)
        self._headers = {"X-Personio-Partner-ID": partner_id, "X-Personio-App-ID": app_id}
        self._owned = False
        self._caller = ApiCaller(http, service=SERVICE, map_status=map_status, policy=policy,
                                 limiter=limiter or RateLimiter(PERSONIO_LIMITS))
        self.auth = _V2Auth(self._fetch_token)
        http.auth = self.auth

    @classmethod
    def connect(cls, base_url: str, client_id: str, client_secret: str, *, timeout: float = 30.0,
                partner_id: str = DEFAULT_APP_ID, app_id: str = DEFAULT_APP_ID) -> Self:
        """A client with its own ``httpx.Client``; ``base_url`` is the host (a ``/v1`` suffix is dropped)."""
        root = base_url.rstrip("/").removesuffix("/v1")
        http = httpx.Client(base_url=root, timeout=timeout, headers={"Accept": "application/json"})
        client = cls(http, client_id=client_id, client_secret=client_secret,
                     partner_id=partner_id, app_id=app_id)
        client._owned = True
        return client

    def __repr__(self) -> str:
        return (f"PersonioWebhooks(base_url={str(self._caller.http.base_url)!r}, "
                f"client_id={mask(self._client_id)!r})")

    def close(self) -> None:
        if self._owned:
            self._caller.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- subscriptions ---------------------------------------------------------------------

    def iter_webhooks(self) -> Iterator[Subscription]:
        """Every webhook of the company, page by page."""
        for item in self._pages(WEBHOOKS, {}):
            yield self._item(item, _Webhook, WEBHOOKS).to_domain()

    def get_webhook(self, webhook_id: str) -> Subscription:
        response = self._call("GET", WEBHOOK, webhook_id)
        return self._one(response, "GET", WEBHOOK).to_domain()

    def create_webhook(self, *, url: str, description: str, enabled_events: Sequence[str],
                       token: str, status: str = "ENABLED") -> Subscription:
        """A webhook with ``auth_type`` TOKEN: Personio sends ``token`` as the ``Authorization``
        header, byte for byte (§1.6). ``status`` is sent explicitly: the API's default is DISABLED.

        Never re-sent after a lost answer (``ApiUnavailable(maybe_applied=True)``): the caller
        lists the webhooks and looks for the URL before trying again (R14).
        """
        register_secret(token)
        body = {"url": url, "description": description, "status": status, "auth_type": "TOKEN",
                "token": token, "enabled_events": list(enabled_events)}
        response = self._caller.call("POST", WEBHOOKS, json_body=body, headers=self._headers,
                                     kind="write", ok=(200, 201))
        return self._one(response, "POST", WEBHOOKS).to_domain()

    def update_webhook(self, webhook_id: str, changes: Mapping[str, Any]) -> Subscription:
        """``PATCH`` (§1.2: it is PATCH, not PUT): only the fields in ``changes`` are sent."""
        if "token" in changes:
            register_secret(str(changes["token"]))
        response = self._call("PATCH", WEBHOOK, webhook_id, json_body=dict(changes))
        return self._one(response, "PATCH", WEBHOOK).to_domain()

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", WEBHOOK, webhook_id, ok=(200, 202, 204))

    def iter_activity(self, webhook_id: str, *, delivered: bool | None = None,
                      since: dt.datetime | None = None) -> Iterator[DeliveryAttempt]:
        """Delivery attempts of the last 30 days, as Personio lists them (filters §1.2)."""
        params: dict[str, str] = {}
        if delivered is not None:
            params["is_delivered"] = "true" if delivered else "false"
        if since is not None:
            params["completed_at.gte"] = since.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        for item in self._pages(ACTIVITY, params, webhook_id):
            yield self._item(item, _Activity, ACTIVITY).to_domain()

    # --- internals ---------------------------------------------------------------------------

    def _call(self, method: str, template: str, webhook_id: str, *, json_body: Any = None,
              ok: Sequence[int] = (200,)) -> httpx.Response:
        return self._caller.call(method, template, path_params={"id": webhook_id},
                                 json_body=json_body, headers=self._headers,
                                 kind="read" if method == "GET" else "write", ok=ok)

    def _pages(self, template: str, params: Mapping[str, str],
               webhook_id: str | None = None) -> Iterator[dict[str, Any]]:
        """The items of a v2 list, following ``_meta.links.next.href`` (loop-guarded)."""
        guard = PageGuard()
        path = {"id": webhook_id} if webhook_id is not None else None
        url: str | None = None
        while True:
            response = self._caller.call(
                "GET", template, url=url, path_params=path, headers=self._headers,
                params={"limit": PAGE_SIZE, **params} if url is None else None,
            )
            page = self._parse(response, "GET", template, _Page)
            yield from page.data
            url = _next_href(page, response)
            if url is None:
                return
            try:
                guard.visit(url)
            except LoopError as exc:
                raise _malformed(str(exc), "GET", template) from None

    def _one(self, response: httpx.Response, method: str, template: str) -> _Webhook:
        """A single webhook, bare or inside ``_data``."""
        body = self._caller.json(response, method, template)
        if isinstance(body, dict) and isinstance(body.get("_data"), dict):
            body = body["_data"]
        return self._validate(_Webhook, body, method, template, response.status_code)

    def _item(self, item: Any, model: type[_M], template: str) -> _M:
        return self._validate(model, item, "GET", template, 200)

    def _parse(self, response: httpx.Response, method: str, template: str, model: type[_M]) -> _M:
        body = self._caller.json(response, method, template)
        return self._validate(model, body, method, template, response.status_code)

    @staticmethod
    def _validate(model: type[_M], body: Any, method: str, template: str, status: int) -> _M:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise _malformed(_describe(exc), method, template, status) from None

    def _fetch_token(self, now: float) -> Token:
        """``POST /v2/auth/token``, form-encoded (§3): ``grant_type=client_credentials``, no scope
        (every scope the credential has)."""
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret.get_secret_value()}
        response = self._caller.call("POST", TOKEN_PATH, data=form, headers=self._headers,
                                     kind="auth")
        token = self._parse(response, "POST", TOKEN_PATH, _Token)
        value = token.access_token.get_secret_value()
        if not value:
            raise _malformed("the token answer holds an empty access_token", "POST", TOKEN_PATH)
        register_secret(value)
        ttl = token.expires_in if token.expires_in and token.expires_in > 0 else DEFAULT_TTL
        return Token(value, now + ttl)


def _next_href(page: _Page, response: httpx.Response) -> str | None:
    """The next page's absolute URL; a link to another host is refused (the token stays home)."""
    href = page.meta.links.next.href if page.meta and page.meta.links and page.meta.links.next else None
    if not href:
        return None
    here = response.request.url
    target = here.join(href)
    if (target.scheme, target.host, target.port) != (here.scheme, here.host, here.port):
        raise _malformed("the next-page link points to another host", "GET", here.path)
    return str(target)


# --- the status map ----------------------------------------------------------------------------


def map_status(response: httpx.Response, method: str, template: str) -> ApiError:  # noqa: PLR0911 - one per status
    """The one status map of the v2 webhooks client: an error answer -> its typed ``ApiError``.

    Two documented bodies: v2's ``ErrorResponse`` (``errors[].title/detail``) and, from the
    token endpoint, OAuth2's ``application/problem+json`` (``error``, ``error_description``, §3).
    The token endpoint answers 400 ``invalid_client`` for bad credentials: an ``AuthError``.
    """
    status = response.status_code
    code, message, trace = _error_of(response)
    text = message or f"HTTP {status}"
    common: dict[str, Any] = {"service": SERVICE, "method": method, "path": template,
                              "status": status, "code": code, "request_id": trace}
    if template == TOKEN_PATH and status in (400, 401, 403):
        if code == "invalid_scope":
            return AuthError(text, hint=_SCOPE_HINT, **common)
        return AuthError(text, hint=_CREDENTIALS_HINT, **common)
    if status == 401:
        return AuthError(text, hint="the v2 token was refused even after renewal; " + _CREDENTIALS_HINT,
                         **common)
    if status == 403:
        return AuthError(text, hint=_SCOPE_HINT, **common)
    if status == 404:
        return NotFound(text, **common)
    if status == 409:
        return Conflict(text, **common)
    if status in (400, 422):
        return Rejected(text, **common)
    if status == 429:
        return RateLimited(text, retry_after=parse_retry_after(response.headers.get("Retry-After")),
                           hint="wait a minute and run again", **common)
    if status >= 500:
        return ApiUnavailable(text, hint="Personio is failing; try again later",
                              maybe_applied=method.upper() not in ("GET", "HEAD"), **common)
    return MalformedResponse(f"undocumented status {status}: {text}",
                             hint="Personio answered outside its published document", **common)


def _error_of(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(code, message, trace id) of either documented error body, redacted; Nones otherwise."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None, None, response.headers.get("x-request-id")
    if not isinstance(body, dict):
        return None, None, None
    trace = body.get("personio_trace_id") or body.get("trace_id")
    trace = str(trace) if trace else response.headers.get("x-request-id")
    if isinstance(body.get("error"), str):
        detail = body.get("error_description")
        return body["error"], redact(str(detail)) if detail else body["error"], trace
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        parts = [str(first[k]).strip() for k in ("title", "detail") if first.get(k)]
        return None, redact(": ".join(parts)) if parts else None, trace
    return None, None, trace


def _malformed(message: str, method: str, template: str, status: int | None = 200) -> MalformedResponse:
    return MalformedResponse(message, service=SERVICE, method=method, path=template, status=status,
                             hint="Personio answered outside its published document; try again later")


def _describe(exc: ValidationError) -> str:
    """Where the body differs from the document, never the values (they may hold a token)."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)[:3]
    ]
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "unexpected body shape: " + "; ".join(problems) + more

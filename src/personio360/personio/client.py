"""``PersonioClient``: the employee-reading part of Personio's Personnel Data API v1.

Every request goes through one ``ApiCaller`` (pacing from ``PERSONIO_LIMITS``, bounded
method-aware retries) and every failure through one ``map_status``. Paths carry the ``/v1``
prefix, so ``base_url`` is the host (``https://api.personio.de``, the config's default);
``connect`` also accepts the OpenAPI's server URL (``.../v1``) and drops the suffix.
"""

from __future__ import annotations

__all__ = ["DEFAULT_APP_ID", "MAX_PAGE_SIZE", "PersonioClient", "map_status"]

import datetime as dt
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from personio360 import domain
from personio360.errors import (
    ApiError,
    ApiUnavailable,
    AuthError,
    MalformedResponse,
    NotFound,
    RateLimited,
    Rejected,
)
from personio360.http.caller import ApiCaller
from personio360.http.paging import LoopError, PageGuard
from personio360.http.ratelimit import PERSONIO_LIMITS, Pacer, RateLimiter
from personio360.http.redact import mask, redact, register_secret
from personio360.http.retry import RetryPolicy, parse_retry_after
from personio360.personio import wire
from personio360.personio.auth import AUTH_PATH, DEFAULT_TTL, PersonioAuth, Token

SERVICE = "personio"
#: Since 2025-01-31 ``limit`` is at most 100 (research §3.1); more is refused.
MAX_PAGE_SIZE = 100
#: The hub asks for UPPER_SNAKE_CASE values, the same on every request (research §7.1).
DEFAULT_APP_ID = "PERSONIO360"

EMPLOYEES = "/v1/company/employees"
EMPLOYEE = "/v1/company/employees/{employee_id}"
ATTRIBUTES = "/v1/company/employees/attributes"
CUSTOM_ATTRIBUTES = "/v1/company/employees/custom-attributes"

_CREDENTIALS_HINT = (
    "check PERSONIO_CLIENT_ID and PERSONIO_CLIENT_SECRET (Personio: Settings > API credentials)"
)
_ACCESS_HINT = (
    "give these API credentials read access to employees and whitelist the attributes the "
    "config names (Personio: Settings > API credentials > readable employee attributes)"
)

_OUTSIDE_HINT = "Personio answered outside its published document"

_M = TypeVar("_M", bound=BaseModel)


def map_status(response: httpx.Response, method: str, template: str) -> ApiError:
    """The one status map of the Personio client: an error answer -> its typed ``ApiError``.

    The API's own ``error.code`` and ``message`` (``ErrorResponse``) travel with the error,
    redacted; headers and request bodies never do.
    """
    code, message = _error_of(response)
    return _classify(
        status=response.status_code, response=response, method=method, template=template,
        code=code, message=message,
    )


class PersonioClient:
    """Reads employees and the attribute catalogue; implements ``EmployeeSource``.

    The auth flow is installed on the injected ``httpx.Client`` (``http.auth``); a client built
    by ``connect`` is owned, and ``close`` closes it.
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
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        register_secret(client_secret)
        self._client_id = client_id
        self._client_secret = client_secret
        self._headers = {"X-Personio-Partner-ID": partner_id, "X-Personio-App-ID": app_id}
        self._page_size = page_size
        self._owned = False
        self._caller = ApiCaller(
            http,
            service=SERVICE,
            limiter=limiter or RateLimiter(PERSONIO_LIMITS),
            map_status=map_status,
            policy=policy,
        )
        self.auth = PersonioAuth(self._fetch_token)
        http.auth = self.auth

    @classmethod
    def connect(
        cls,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 30.0,
        rate_limit_factor: float = 1.0,
        partner_id: str = DEFAULT_APP_ID,
        app_id: str = DEFAULT_APP_ID,
        shared_limit: Pacer | None = None,
    ) -> PersonioClient:
        """A client with its own ``httpx.Client`` on ``base_url`` (the host, e.g. ``https://api.personio.de``);
        ``shared_limit``: the deployment's per-IP budget its every call also counts against."""
        root = base_url.rstrip("/")
        if root.endswith("/v1"):
            root = root.removesuffix("/v1")
        http = httpx.Client(
            base_url=root, timeout=timeout, headers={"Accept": "application/json"}
        )
        client = cls(
            http,
            client_id=client_id,
            client_secret=client_secret,
            partner_id=partner_id,
            app_id=app_id,
            limiter=RateLimiter(PERSONIO_LIMITS, factor=rate_limit_factor, shared=shared_limit),
        )
        client._owned = True
        return client

    def __repr__(self) -> str:
        base_url = str(self._caller.http.base_url)
        return f"PersonioClient(base_url={base_url!r}, client_id={mask(self._client_id)!r})"

    def close(self) -> None:
        """Close the ``httpx.Client`` if ``connect`` built it (an injected one is the caller's)."""
        if self._owned:
            self._caller.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- reads -------------------------------------------------------------------------

    def iter_employees(
        self,
        *,
        attributes: Sequence[str] | None = None,
        updated_since: dt.date | dt.datetime | str | None = None,
    ) -> Iterator[domain.Employee]:
        """Every employee the credentials may read, page by page (``offset`` counts records).

        A page that fails raises, and so does a read that ends short of ``metadata.total_elements``,
        repeats an employee, or sees the total change: a partial list would read as leavers
        (R13a; research §3.2, "never treat a short or failed read as these employees left").
        Without ``metadata`` (the 2020 format) a page shorter than ``limit`` ends the read.
        """
        guard = PageGuard()
        seen: set[int] = set()
        total: int | None = None
        offset = 0
        while True:
            try:
                guard.visit(offset)
            except LoopError as exc:
                raise self._malformed(str(exc), "GET", EMPLOYEES) from None
            page = self._employees_page(offset, attributes, updated_since)
            for item in page.data:
                employee = self._convert(item, "GET", EMPLOYEES)
                if employee.id in seen:
                    raise self._inconsistent(f"employee {employee.id} came twice")
                seen.add(employee.id)
                yield employee
            offset += len(page.data)
            if page.metadata is None:
                if len(page.data) < self._page_size:
                    return
                continue
            total = page.metadata.total_elements if total is None else total
            if page.metadata.total_elements != total:
                raise self._inconsistent("the number of employees changed during the read")
            if len(seen) >= total:
                return
            if not page.data or page.metadata.current_page >= page.metadata.total_pages - 1:
                raise self._inconsistent(
                    f"the last page came after {len(seen)} of {total} employees"
                )

    def get_employee(self, employee_id: int) -> domain.Employee:
        """One employee by id; ``NotFound`` when Personio does not know it."""
        response = self._caller.call(
            "GET", EMPLOYEE, path_params={"employee_id": employee_id}, headers=self._headers
        )
        body = self._parse(response, "GET", EMPLOYEE, wire.EmployeeResponse)
        return self._convert(body.data, "GET", EMPLOYEE)

    def list_attributes(self) -> list[domain.AttributeInfo]:
        """The attributes these credentials may read (``GET .../employees/attributes``), for R11.

        Falls back to the older ``/custom-attributes`` alias when the first answers 404.
        """
        try:
            response = self._caller.call("GET", ATTRIBUTES, headers=self._headers)
            template = ATTRIBUTES
        except NotFound:
            response = self._caller.call("GET", CUSTOM_ATTRIBUTES, headers=self._headers)
            template = CUSTOM_ATTRIBUTES
        body = self._parse(response, "GET", template, wire.AttributesResponse)
        return [wire.to_attribute_info(entry) for entry in body.data]

    # --- internals ---------------------------------------------------------------------

    def _employees_page(
        self,
        offset: int,
        attributes: Sequence[str] | None,
        updated_since: dt.date | dt.datetime | str | None,
    ) -> wire.EmployeesResponse:
        params: list[tuple[str, str | int]] = [("limit", self._page_size), ("offset", offset)]
        params += [("attributes[]", name) for name in attributes or ()]
        if updated_since is not None:
            params.append(("updated_since", _since(updated_since)))
        response = self._caller.call("GET", EMPLOYEES, params=params, headers=self._headers)
        return self._parse(response, "GET", EMPLOYEES, wire.EmployeesResponse)

    def _fetch_token(self, now: float) -> Token:
        """``POST /v1/auth`` with the credentials in a JSON body (never the query string)."""
        response = self._caller.call(
            "POST",
            AUTH_PATH,
            json_body={"client_id": self._client_id, "client_secret": self._client_secret},
            headers=self._headers,
            kind="auth",
        )
        body = self._parse(response, "POST", AUTH_PATH, wire.TokenResponse)
        value = body.data.token.get_secret_value()
        if not value:
            raise self._malformed("the token answer holds an empty token", "POST", AUTH_PATH)
        register_secret(value)
        expires_in = body.data.expires_in
        ttl = expires_in if expires_in and expires_in > 0 else DEFAULT_TTL
        return Token(value, now + ttl)

    def _parse(self, response: httpx.Response, method: str, template: str, model: type[_M]) -> _M:
        """The body as ``model``; ``success: false`` is an error whatever the status."""
        payload = self._caller.json(response, method, template)
        if isinstance(payload, dict) and payload.get("success") is False:
            code, message = _error_of(response)
            raise _classify(
                status=None, response=response, method=method, template=template,
                code=code, message=message,
            )
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise self._malformed(_describe(exc), method, template, response.status_code) from None

    def _convert(self, item: wire.EmployeeData, method: str, template: str) -> domain.Employee:
        try:
            return wire.to_domain(item)
        except wire.ShapeError as exc:
            raise self._malformed(str(exc), method, template) from None

    def _malformed(
        self, message: str, method: str, template: str, status: int | None = 200
    ) -> MalformedResponse:
        return MalformedResponse(
            message, service=SERVICE, method=method, path=template, status=status,
            hint="Personio answered outside its published document; try again later",
        )

    def _inconsistent(self, what: str) -> MalformedResponse:
        return MalformedResponse(
            f"the employee list is inconsistent across pages: {what}",
            service=SERVICE, method="GET", path=EMPLOYEES, status=200,
            hint="employees changed while they were read; run again (nothing was changed)",
        )


def _classify(
    *,
    status: int | None,
    response: httpx.Response,
    method: str,
    template: str,
    code: str | None,
    message: str | None,
) -> ApiError:
    """Status (or, for a ``success: false`` with 200, the body's own ``code``) -> the error type."""
    effective = status if status is not None else _as_status(code)
    text = message or f"HTTP {response.status_code}"
    if status is None:
        text = f"answered {response.status_code} with success=false: {text}"
    common: dict[str, Any] = {
        "service": SERVICE, "method": method, "path": template, "status": response.status_code,
        "code": code, "request_id": response.headers.get("x-request-id"),
    }
    if effective in (401, 403):
        on_auth = template == AUTH_PATH or effective == 401
        return AuthError(text, hint=_CREDENTIALS_HINT if on_auth else _ACCESS_HINT, **common)
    if effective == 404:
        return NotFound(text, **common)
    if effective in (400, 422):
        return Rejected(text, **common)
    if effective == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        hint = "wait a minute and run again"
        return RateLimited(text, retry_after=retry_after, hint=hint, **common)
    if effective is not None and effective >= 500:
        return ApiUnavailable(text, hint="Personio is failing; try again later", **common)
    if status is not None:
        text = f"undocumented status {status}: {message or 'no error message'}"
    return MalformedResponse(text, hint=_OUTSIDE_HINT, **common)


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """``error.code`` and ``error.message`` of an ``ErrorResponse`` body, if any (redacted)."""
    try:
        body = wire.ErrorBody.model_validate_json(response.content)
    except (ValidationError, ValueError):
        return None, None
    if body.error is None:
        return None, None
    code = None if body.error.code is None else str(body.error.code)
    message = redact(body.error.message.strip()) if body.error.message else None
    return code, message


def _as_status(code: str | None) -> int | None:
    """Personio's ``error.code`` is often the HTTP status (401, 404, 429) and sometimes 0."""
    if code is not None and code.isdigit() and 100 <= int(code) <= 599:
        return int(code)
    return None


def _describe(exc: ValidationError) -> str:
    """A validation error without the input values (they may hold tokens or personal data)."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)[:5]
    ]
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "unexpected body shape: " + "; ".join(problems) + more


def _since(value: dt.date | dt.datetime | str) -> str:
    """``updated_since`` as the document writes it (``2022-12-24T08:15:30`` or ``YYYY-MM-DD``).

    The document names no time zone (research §12.3): a datetime is sent as its wall time.
    """
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value

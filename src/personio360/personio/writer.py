"""``PersonioWriter``: the one part of personio360 that writes to Personio (R18 write-back).

It holds its own credential (``PERSONIO_WRITE_CLIENT_ID`` / ``_SECRET``), never the read
one: ``PersonioClient`` has no write method, so the sync's reads can never write, and an
administrator grants writing only to this second credential. It writes custom attributes
with ``PATCH /v1/company/employees/{employee_id}`` (``personio-personnel-data-api-oa3.yaml``:
``{"employee": {"custom_attributes": {"dynamic_NNNN": "..."}}}``; email is not updatable)
and reads the token's ``scope`` (``personio-auth-api.yaml``) and the attribute catalogue for
``check``. Same layers as ``PersonioClient``: one ``ApiCaller``, one status map.
"""

from __future__ import annotations

__all__ = ["PERSONIO_WRITE_LIMITS", "WRITE_SCOPE", "PersonioWriter"]

from collections.abc import Mapping
from types import TracebackType
from typing import Self, TypeVar

import httpx
from pydantic import BaseModel, Field, ValidationError

from personio360 import domain
from personio360.errors import ApiError, AuthError, MalformedResponse, Rejected
from personio360.http.caller import ApiCaller
from personio360.http.ratelimit import Pacer, RateLimiter
from personio360.http.redact import mask, redact, register_secret
from personio360.http.retry import RetryPolicy
from personio360.personio import wire
from personio360.personio.auth import AUTH_PATH, DEFAULT_TTL, PersonioAuth, Token
from personio360.personio.client import ATTRIBUTES, DEFAULT_APP_ID, EMPLOYEE, SERVICE, map_status

#: The scope a token must carry to update employees (the read credential's has ``employees:read``).
WRITE_SCOPE = "employees:write"
#: Every v1 endpoint shares 2,000 calls a minute per IP (personio-research.md §7.2); the writer
#: keeps to a little over half of it, so the reads of a concurrent sync still get through.
PERSONIO_WRITE_LIMITS = {"write": [(20, 1.0), (1200, 60.0)], "read": [(15, 1.0), (300, 60.0)],
                         "auth": [(60, 60.0)]}
_WRITE_HINT = ("give the write credential (PERSONIO_WRITE_CLIENT_ID) permission to update "
               "employees and the written attributes (Personio: Settings > API credentials), "
               "or remove [writeback] from the config")
_CREDENTIALS_HINT = "check PERSONIO_WRITE_CLIENT_ID and PERSONIO_WRITE_CLIENT_SECRET"
_M = TypeVar("_M", bound=BaseModel)


class _Updated(BaseModel):
    """``EmployeeUpdatedResponse``: ``{"success": true, "data": {"id"}, "meta": [...]}``."""

    success: bool
    meta: list[str] = Field(default_factory=list)


def _map_status(response: httpx.Response, method: str, template: str) -> ApiError:
    """The read client's status map, with the write credential's fixes."""
    error = map_status(response, method, template)
    if isinstance(error, AuthError):
        error.hint = _CREDENTIALS_HINT if response.status_code == 401 else _WRITE_HINT
    return error


class PersonioWriter:
    """Writes employees' custom attributes with the write credential (R18)."""

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
        self._client_id, self._client_secret = client_id, client_secret
        self._headers = {"X-Personio-Partner-ID": partner_id, "X-Personio-App-ID": app_id}
        self._owned = False
        self._scope: str | None = None
        self._caller = ApiCaller(http, service=SERVICE, map_status=_map_status, policy=policy,
                                 limiter=limiter or RateLimiter(PERSONIO_WRITE_LIMITS))
        self.auth = PersonioAuth(self._fetch_token)
        http.auth = self.auth

    @classmethod
    def connect(cls, base_url: str, client_id: str, client_secret: str, *, timeout: float = 30.0,
                rate_limit_factor: float = 1.0, partner_id: str = DEFAULT_APP_ID,
                app_id: str = DEFAULT_APP_ID, shared_limit: Pacer | None = None) -> PersonioWriter:
        """A writer with its own ``httpx.Client`` on ``base_url`` (the host, as for the reader);
        ``shared_limit``: the deployment's per-IP budget its every call also counts against."""
        root = base_url.rstrip("/").removesuffix("/v1")
        http = httpx.Client(base_url=root, timeout=timeout, headers={"Accept": "application/json"})
        writer = cls(http, client_id=client_id, client_secret=client_secret, partner_id=partner_id,
                     app_id=app_id, limiter=RateLimiter(PERSONIO_WRITE_LIMITS, factor=rate_limit_factor,
                                                        shared=shared_limit))
        writer._owned = True
        return writer

    def __repr__(self) -> str:
        return f"PersonioWriter(client_id={mask(self._client_id)!r})"

    def close(self) -> None:
        if self._owned:
            self._caller.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- R18 -------------------------------------------------------------------------------

    def scopes(self) -> frozenset[str]:
        """The scopes Personio granted the write credential's token (``check``: may it write?)."""
        self.auth.token()
        return frozenset((self._scope or "").split())

    def may_write(self) -> bool:
        """Whether the token's scope allows updating employees; a token answer without a
        scope is taken at its word only by the write itself."""
        granted = self.scopes()
        return not granted or WRITE_SCOPE in granted

    def list_attributes(self) -> list[domain.AttributeInfo]:
        """The attribute catalogue as the write credential sees it (``check``)."""
        response = self._caller.call("GET", ATTRIBUTES, headers=self._headers)
        body = self._parse(response, "GET", ATTRIBUTES, wire.AttributesResponse)
        return [wire.to_attribute_info(entry) for entry in body.data]

    def update_custom_attributes(self, employee_id: int, values: Mapping[str, str | None]) -> None:
        """Set custom attributes of one employee (``None`` clears one).

        Personio ignores what it cannot update and may say so in ``meta`` (the document: "will
        be ignored with showing meta error in the response"): a ``meta`` naming a written
        attribute is a refusal (``Rejected``), so a write never counts as applied unseen."""
        body = {"employee": {"custom_attributes": {k: ("" if v is None else v) for k, v in values.items()}}}
        response = self._caller.call("PATCH", EMPLOYEE, path_params={"employee_id": employee_id},
                                     json_body=body, headers=self._headers, kind="write")
        answer = self._parse(response, "PATCH", EMPLOYEE, _Updated)
        ignored = [m for m in answer.meta if any(key in m for key in values)]
        if ignored:
            raise Rejected(f"Personio ignored the write: {'; '.join(ignored)}", service=SERVICE,
                           method="PATCH", path=EMPLOYEE, status=response.status_code)

    # --- internals -------------------------------------------------------------------------

    def _fetch_token(self, now: float) -> Token:
        response = self._caller.call(
            "POST", AUTH_PATH, json_body={"client_id": self._client_id,
                                          "client_secret": self._client_secret},
            headers=self._headers, kind="auth")
        body = self._parse(response, "POST", AUTH_PATH, wire.TokenResponse)
        value = body.data.token.get_secret_value()
        if not value:
            raise self._malformed("the token answer holds an empty token", "POST", AUTH_PATH)
        register_secret(value)
        self._scope = body.data.scope
        ttl = body.data.expires_in if body.data.expires_in and body.data.expires_in > 0 else DEFAULT_TTL
        return Token(value, now + ttl)

    def _parse(self, response: httpx.Response, method: str, template: str, model: type[_M]) -> _M:
        payload = self._caller.json(response, method, template)
        if isinstance(payload, dict) and payload.get("success") is False:  # a 2xx saying it failed
            error = payload.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise Rejected(f"answered {response.status_code} with success=false: "
                           f"{redact(str(message or 'no message'))}", service=SERVICE,
                           method=method, path=template, status=response.status_code)
        try:
            return model.model_validate(payload)
        except ValidationError:
            raise self._malformed("unexpected body shape", method, template) from None

    def _malformed(self, message: str, method: str, template: str) -> MalformedResponse:
        return MalformedResponse(message, service=SERVICE, method=method, path=template, status=200,
                                 hint="Personio answered outside its published document; try again later")

"""The one function that turns a 360Learning error answer into an ``ApiError`` (httpx's idea).

Every error status the OpenAPI documents for the endpoints the client uses is mapped here:
400 → ``Rejected``, 401/403 → ``AuthError``, 404 → ``NotFound``, 409 → ``Conflict``,
429 → ``RateLimited``, 5xx → ``ApiUnavailable``; anything else, or a 4xx body that is not one
of the two documented shapes (``{"error": "invalid_token"}``, ``{"error": {code, message}}``),
is a ``MalformedResponse``. The API's own ``code`` and ``message`` are kept; headers, tokens
and request bodies never reach an error.
"""

from __future__ import annotations

__all__ = ["ENDPOINTS", "SERVICE", "TOKEN_PATH", "map_status", "scope_of"]

import json
from dataclasses import dataclass
from typing import TypeVar

import httpx
from pydantic import ValidationError

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
from personio360.http.redact import redact
from personio360.http.retry import parse_retry_after
from personio360.learning360 import wire

SERVICE = "learning360"
TOKEN_PATH = "/api/v2/oauth2/token"

#: (method, path template) -> the OAuth scope the operation's description names [OAS].
ENDPOINTS: dict[tuple[str, str], str | None] = {
    ("POST", TOKEN_PATH): None,
    ("GET", "/api/v2/users"): "users:read",
    ("POST", "/api/v2/users"): "users:write",
    ("GET", "/api/v2/users/{userId}"): "users:read",
    ("PATCH", "/api/v2/users/{userId}"): "users:write",
    ("DELETE", "/api/v2/users/{userId}"): "users:write",
    ("PUT", "/api/v2/users/{userId}/activate"): "users:write",
    ("GET", "/api/v2/external-ids"): "externalIds:read",
    ("POST", "/api/v2/external-ids"): "externalIds:write",
    ("PUT", "/api/v2/external-ids/{mappingId}"): "externalIds:write",
    ("DELETE", "/api/v2/external-ids/{mappingId}"): "externalIds:write",
    ("GET", "/api/v2/custom-fields"): "customFields:read",
    ("POST", "/api/v2/custom-fields"): "customFields:write",
    ("PATCH", "/api/v2/custom-fields/{customFieldId}"): "customFields:write",
    ("DELETE", "/api/v2/custom-fields/{customFieldId}"): "customFields:write",
    ("GET", "/api/v2/users/{userId}/custom-fields/values"): "users:read",
    ("PUT", "/api/v2/users/{userId}/custom-fields/values"): "users:write",
    ("GET", "/api/v2/groups"): "groups:read",
    ("GET", "/api/v2/groups/{groupId}"): "groups:read",
    ("GET", "/api/v2/groups/{groupId}/roles"): "groups:read",
    ("GET", "/api/v2/users/{userId}/roles"): "users:read",
    ("POST", "/api/v2/groups/{groupId}/{role}/{userId}"): "groups:write",
    ("DELETE", "/api/v2/groups/{groupId}/{role}/{userId}"): "groups:write",
    ("GET", "/api/v2/users/{userId}/managers"): "users:read",
    ("POST", "/api/v2/users/{userId}/managers/{managerId}"): "users:write",
    ("DELETE", "/api/v2/users/{userId}/managers/{managerId}"): "users:write",
    ("GET", "/api/v2/users/{userId}/subordinates"): "users:read",
    ("POST", "/api/v2/bulk/groups/memberships"): "groups:bulk",
    ("DELETE", "/api/v2/bulk/groups/memberships"): "groups:bulk",
    ("GET", "/api/v2/bulk/operations/{bulkOperationId}"): "bulkOperations:read",
    ("GET", "/api/v2/bulk/operations/{bulkOperationId}/results"): "bulkOperations:read",
}

_CREDENTIALS_HINT = (
    "check LEARNING360_CLIENT_ID and LEARNING360_CLIENT_SECRET (360Learning: Settings → API v2)"
)


def scope_of(method: str, template: str) -> str | None:
    """The scope an endpoint needs, as its OpenAPI description states it."""
    return ENDPOINTS.get((method.upper(), template))


def map_status(response: httpx.Response, method: str, template: str) -> ApiError:
    """The typed error for a non-success answer of ``method template``."""
    where = _Where(method.upper(), template, response.status_code,
                   response.headers.get("x-request-id"))
    status = response.status_code
    body = _error_body(response)
    if status >= 500:
        code, message = body if body else (None, "server error")
        unavailable = where.error(ApiUnavailable, message, code, _unavailable_hint(code))
        unavailable.maybe_applied = where.method not in ("GET", "HEAD")
        return unavailable
    if body is None:
        return where.error(
            MalformedResponse,
            f"unexpected answer: status {status} without a documented error body", None,
            "check that learning360.base_url points at the 360Learning API",
        )
    code, message = body
    if status in (401, 403):
        return _auth_error(where, code, message)
    if status == 429:
        limited = where.error(RateLimited, message, code,
                              "360Learning's rate limit was exceeded; wait a minute and run again")
        limited.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return limited
    kind = _BY_STATUS.get(status)
    if kind is None:
        return where.error(MalformedResponse, f"unexpected status {status} ({message})", code)
    return where.error(kind, message, code)


_BY_STATUS: dict[int, type[ApiError]] = {400: Rejected, 404: NotFound, 409: Conflict}
_E = TypeVar("_E", bound=ApiError)


@dataclass(frozen=True, slots=True)
class _Where:
    """What an error may say about the call: never headers, tokens or bodies."""

    method: str
    path: str
    status: int
    request_id: str | None

    def error(self, kind: type[_E], message: str, code: str | None, hint: str | None = None) -> _E:
        return kind(message, service=SERVICE, method=self.method, path=self.path,
                    status=self.status, code=code, request_id=self.request_id, hint=hint)


def _error_body(response: httpx.Response) -> tuple[str, str] | None:
    """(code, message) from one of the two documented error shapes, else ``None``."""
    try:
        parsed = wire.ErrorBody.model_validate(json.loads(response.content))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    if isinstance(parsed.error, str):
        return parsed.error, _FLAT_MESSAGES.get(parsed.error, parsed.error)
    return parsed.error.code, redact(parsed.error.message or parsed.error.code)


#: The flat error codes carry no message; these are the OpenAPI's descriptions of them.
_FLAT_MESSAGES = {
    "invalid_client": "the client_id/client_secret pair is invalid",
    "invalid_token": "the access token is missing, invalid, expired or revoked",
    "invalid_scope": "the access token lacks the OAuth scope this call needs",
    "invalid_request": "the token request is malformed",
    "unsupported_grant_type": "the grant type is not supported",
    "non_existing_user": "the token request names a user that does not exist",
    "tooManyRequests": "too many requests in a short amount of time",
}


def _auth_error(where: _Where, code: str, message: str) -> AuthError:
    """401/403 with a hint saying what to fix: the credentials, or the missing scope."""
    if code == "invalid_scope" or where.status == 403:
        scope = scope_of(where.method, where.path)
        needed = f"the scope {scope}" if scope else "a scope"
        return where.error(AuthError, f"{message} (this call needs {needed})", code,
                           f"give the 360Learning API credentials {needed} (Settings → API v2)")
    if code == "invalid_client":
        return where.error(AuthError, message, code, _CREDENTIALS_HINT)
    return where.error(AuthError, message, code,
                       "the access token was refused even after renewal; " + _CREDENTIALS_HINT)


def _unavailable_hint(code: str | None) -> str:
    if code == "bulkAPIDisabled":
        return "the 360Learning bulk API is disabled for this company; ask 360Learning to enable it"
    return "360Learning is failing; try again later"

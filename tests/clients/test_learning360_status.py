"""The 360Learning status map and scope table, held to the published OpenAPI documents."""

from __future__ import annotations

import importlib
import json
import re
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from personio360 import errors
from personio360.learning360 import map_status
from personio360.learning360.status import ENDPOINTS, TOKEN_PATH

API_DIR = Path(__file__).resolve().parents[3] / "shared" / "api"
_EXPECTED: dict[int, type[errors.ApiError]] = {
    400: errors.Rejected, 401: errors.AuthError, 403: errors.AuthError, 404: errors.NotFound,
    409: errors.Conflict, 429: errors.RateLimited, 503: errors.ApiUnavailable,
}


def _documents() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name in ("360learning-core-api.openapi.json", "360learning-bulk-api.openapi.json"):
        paths.update(json.loads((API_DIR / name).read_text(encoding="utf-8"))["paths"])
    return paths


def _documented_errors() -> list[tuple[str, str, int, dict[str, Any]]]:
    """Every (method, template, error status, example body) the documents give our endpoints."""
    paths = _documents()
    cases = []
    for method, template in ENDPOINTS:
        responses = paths[template][method.lower()]["responses"]
        for status, response in responses.items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            for branch in schema.get("oneOf", [schema]):
                cases.append((method, template, int(status), _example(branch)))
    return cases


def _example(schema: dict[str, Any]) -> dict[str, Any]:
    error = schema["properties"]["error"]
    if error.get("type") == "string":
        return {"error": error["enum"][0]}
    return {"error": {"code": error["properties"]["code"]["enum"][0], "message": "why"}}


def _response(status: int, body: bytes, method: str = "GET", path: str = "/x") -> httpx.Response:
    request = httpx.Request(method, f"https://app.360learning.com{path}")
    return httpx.Response(status, content=body, request=request,
                          headers={"content-type": "application/json"})


@pytest.mark.parametrize(("method", "template", "status", "body"), _documented_errors())
def test_every_documented_error_maps_to_its_api_error(
    method: str, template: str, status: int, body: dict[str, Any]
) -> None:
    """Each error status and body documented for an endpoint we call maps to its class."""
    error = map_status(_response(status, json.dumps(body).encode(), method), method, template)
    assert type(error) is _EXPECTED[status]
    assert error.status == status
    expected_code = body["error"] if isinstance(body["error"], str) else body["error"]["code"]
    assert error.code == expected_code
    assert error.path == template


def test_every_endpoint_names_the_scope_its_description_states() -> None:
    """The scope table agrees with the scope each operation's description names."""
    paths = _documents()
    for (method, template), scope in ENDPOINTS.items():
        description = paths[template][method.lower()].get("description", "")
        named = re.findall(r"`([A-Za-z]+:[a-z]+)`", description)
        assert named == ([scope] if scope else []), (method, template)


def test_invalid_scope_says_which_scope_is_missing() -> None:
    """A 403 names the missing scope in the message and in the hint."""
    body = b'{"error": {"code": "invalid_scope", "message": "no scope"}}'
    error = map_status(_response(403, body, "POST"), "POST", "/api/v2/users")
    assert isinstance(error, errors.AuthError)
    assert "users:write" in str(error)
    assert error.hint is not None
    assert "users:write" in error.hint


def test_flat_invalid_scope_is_accepted_too() -> None:
    """The guide's flat ``{"error": "invalid_scope"}`` also maps to an AuthError with the scope."""
    error = map_status(_response(403, b'{"error": "invalid_scope"}'), "GET", "/api/v2/groups")
    assert isinstance(error, errors.AuthError)
    assert "groups:read" in str(error)


def test_invalid_client_hints_at_the_credentials() -> None:
    """A 401 invalid_client points at LEARNING360_CLIENT_ID/SECRET."""
    error = map_status(_response(401, b'{"error": "invalid_client"}', "POST"), "POST", TOKEN_PATH)
    assert isinstance(error, errors.AuthError)
    assert error.hint is not None
    assert "LEARNING360_CLIENT_ID" in error.hint
    assert "LEARNING360_CLIENT_SECRET" in error.hint


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"message": "x"}', b"[]", b""])
def test_an_undocumented_error_body_is_malformed(body: bytes) -> None:
    """A 4xx whose body is neither documented shape is a MalformedResponse."""
    error = map_status(_response(404, body), "GET", "/api/v2/users/{userId}")
    assert type(error) is errors.MalformedResponse


@pytest.mark.parametrize("status", [302, 418, 422])
def test_an_undocumented_status_is_malformed(status: int) -> None:
    """A status the documents never give is a MalformedResponse that keeps the API's code."""
    error = map_status(_response(status, b'{"error": {"code": "odd", "message": "m"}}'),
                       "GET", "/api/v2/users")
    assert type(error) is errors.MalformedResponse
    assert error.code == "odd"


def test_a_5xx_with_any_body_is_unavailable() -> None:
    """A 5xx is ApiUnavailable whatever its body, a write one possibly applied."""
    error = map_status(_response(502, b"<html>bad gateway</html>", "PATCH"), "PATCH",
                       "/api/v2/users/{userId}")
    assert isinstance(error, errors.ApiUnavailable)
    assert error.maybe_applied


def test_bulk_api_disabled_has_a_clear_hint() -> None:
    """503 bulkAPIDisabled says the bulk API is off and who can turn it on."""
    body = b'{"error": {"code": "bulkAPIDisabled", "message": "The bulk API is disabled."}}'
    error = map_status(_response(503, body, "POST"), "POST", "/api/v2/bulk/groups/memberships")
    assert isinstance(error, errors.ApiUnavailable)
    assert error.code == "bulkAPIDisabled"
    assert error.hint is not None
    assert "bulk API is disabled" in error.hint


def test_rate_limited_keeps_retry_after() -> None:
    """A 429 keeps the Retry-After delay."""
    response = httpx.Response(429, content=b'{"error": "tooManyRequests"}',
                              headers={"Retry-After": "7"},
                              request=httpx.Request("GET", "https://h/api/v2/users"))
    error = map_status(response, "GET", "/api/v2/users")
    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 7.0


@pytest.mark.parametrize("name", ["auth", "client", "status", "transport", "wire"])
def test_all_is_exact(name: str) -> None:
    """Each module's ``__all__`` names existing objects and every public class and function."""
    module = importlib.import_module(f"personio360.learning360.{name}")
    defined = {
        key for key, value in vars(module).items()
        if not key.startswith("_") and isinstance(value, type | types.FunctionType)
        and value.__module__ == module.__name__
    }
    assert all(hasattr(module, key) for key in module.__all__)
    assert defined <= set(module.__all__)

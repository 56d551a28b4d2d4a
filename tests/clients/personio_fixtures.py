"""Fixtures for the Personio client tests: the emulator, OpenAPI checks, a document server.

Test modules import what they use from here (``tests/clients/conftest.py`` belongs to another
suite). Every exchange with the emulator is held to the published OpenAPI documents.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personio360.emulators.personio import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PersonioEmulator,
)
from personio360.emulators.server import RunningServer, serve_in_thread
from personio360.http.ratelimit import RateLimiter
from personio360.personio import PersonioClient

try:
    from openapi_check import OpenApiCheck
except ImportError:  # tests/ is not on sys.path when this suite runs alone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from openapi_check import OpenApiCheck

API_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "api"
RECORDED = API_DIR / "recorded" / "personio"
EMPLOYEES = "/v1/company/employees"

Handler = Callable[[Request], Response]


# --- OpenAPI checks --------------------------------------------------------------------


class Conformance:
    """An ``httpx`` response hook holding every exchange to ``shared/api``'s Personio documents.

    Requests are always validated, answers when their status is documented (200, 404). Two
    normalisations, both because the document cannot be met as written:

    - ``EmployeesResponse`` is ``allOf`` a ``Response`` whose ``data`` is an object and a schema
      whose ``data`` is an array, so no list answer conforms: each listed employee is checked
      as the ``EmployeeResponse`` of ``GET /company/employees/{employee_id}`` instead.
    - Org objects (``office``, ``supervisor``...) are ``type: object`` without ``nullable``, yet
      Personio sends ``null`` when unset (recorded answers, research §4): attributes whose
      value is ``null`` are left out of the copy that is checked.
    """

    def __init__(self) -> None:
        self.data = OpenApiCheck("personio-personnel-data-api-oa3.yaml")
        self.auth = OpenApiCheck("personio-auth-api.yaml")
        self.checked = 0

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        check = self.auth if request.url.path == "/v1/auth" else self.data
        check.validate_request(request)
        self.checked += 1
        if response.status_code not in (200, 404):
            return
        path, ok = request.url.path, response.status_code == 200
        if ok and path == EMPLOYEES:
            for item in response.json()["data"]:
                self._check_employee(request, item)
        elif ok and path.startswith(EMPLOYEES + "/") and not path.endswith("attributes"):
            self._check_employee(request, response.json()["data"])
        else:
            check.validate_response(request, response)

    def _check_employee(self, request: httpx.Request, item: dict[str, Any]) -> None:
        attributes = {k: v for k, v in item["attributes"].items() if v.get("value") is not None}
        employee_id = attributes["id"]["value"]
        as_get = httpx.Request("GET", request.url.copy_with(
            path=f"{EMPLOYEES}/{employee_id}", query=None), headers=request.headers)
        body = {"success": True, "data": {**item, "attributes": attributes}}
        self.data.validate_response(as_get, httpx.Response(200, json=body, request=as_get))


# --- the emulator ----------------------------------------------------------------------


@pytest.fixture
def no_waits() -> Iterator[None]:
    """stamina in test mode: retries happen at once, up to four attempts."""
    with stamina.set_testing(True, attempts=4):
        yield


@pytest.fixture
def emulator(no_waits: None) -> Iterator[PersonioEmulator]:
    """A served Personio emulator without rate limits (the fault tests add their own)."""
    with PersonioEmulator(rate_limits=False) as served:
        yield served


@pytest.fixture
def conformance() -> Conformance:
    return Conformance()


@pytest.fixture
def clients() -> Iterator[Callable[..., PersonioClient]]:
    """Build ``PersonioClient``s on a URL (unpaced, validating when given a ``Conformance``)."""
    opened: list[httpx.Client] = []

    def make(url: str, conformance: Conformance | None = None, **options: Any) -> PersonioClient:
        hooks = {"response": [conformance]} if conformance is not None else {}
        http = httpx.Client(base_url=url, event_hooks=hooks, timeout=10.0)
        opened.append(http)
        options.setdefault("client_id", DEFAULT_CLIENT_ID)
        options.setdefault("client_secret", DEFAULT_CLIENT_SECRET)
        options.setdefault("limiter", RateLimiter(None))
        return PersonioClient(http, **options)

    yield make
    for http in opened:
        http.close()


@pytest.fixture
def personio(
    emulator: PersonioEmulator, conformance: Conformance, clients: Callable[..., PersonioClient]
) -> PersonioClient:
    """A client of the emulator whose every exchange is checked against the OpenAPI."""
    return clients(emulator.url, conformance)


def control(emulator: PersonioEmulator, method: str, path: str, body: Any = None) -> Any:
    """Call the emulator's ``/_emulator`` control surface."""
    with httpx.Client(base_url=emulator.url) as http:
        response = http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None


# --- a server for recorded and documented answers --------------------------------------


class DocumentServer:
    """A tiny Starlette app answering fixed bodies per path, recording each request it gets.

    ``/v1/auth`` answers the auth document's own example unless a test replaces it.
    """

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = {"/v1/auth": auth_example(), **routes}
        self.requests: list[httpx.URL] = []
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET", "POST"])])
        self.server: RunningServer = serve_in_thread(app)
        self.url = self.server.url

    async def _answer(self, request: Request) -> Response:
        self.requests.append(httpx.URL(str(request.url)))
        answer = self.routes.get(request.url.path)
        if answer is None:
            return JSONResponse({"success": False, "error": {"code": 404, "message": "?"}}, 404)
        if callable(answer):
            result: Response = answer(request)
            return result
        return JSONResponse(answer)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def documents() -> Iterator[Callable[[dict[str, Any]], DocumentServer]]:
    """Start ``DocumentServer``s for a test and stop them afterwards."""
    started: list[DocumentServer] = []

    def start(routes: dict[str, Any]) -> DocumentServer:
        server = DocumentServer(routes)
        started.append(server)
        return server

    with stamina.set_testing(True, attempts=2):
        yield start
    for server in started:
        server.stop()


def recorded(name: str) -> Any:
    """One of the real responses recorded in 2020 (``shared/api/recorded/personio``)."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def _load_yaml(name: str) -> Any:
    data = yaml.safe_load((API_DIR / name).read_text(encoding="utf-8"))
    # YAML reads unquoted ``2014-11-09T00:00:00+01:00`` as a datetime; JSON carries text.
    return json.loads(json.dumps(data, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def document_example(path: str, method: str = "get", status: str = "200") -> Any:
    """The ``response`` example of one operation of the Personnel Data OpenAPI."""
    spec = _load_yaml("personio-personnel-data-api-oa3.yaml")
    content = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
    return content["examples"]["response"]["value"]


def auth_example() -> Any:
    """The ``POST /auth`` example of ``personio-auth-api.yaml``."""
    spec = _load_yaml("personio-auth-api.yaml")
    content = spec["paths"]["/auth"]["post"]["responses"]["200"]["content"]["application/json"]
    return content["examples"]["response"]["value"]


def raw(body: bytes | str, status: int = 200, content_type: str = "application/json") -> Handler:
    """A handler answering exactly these bytes (malformed bodies, odd statuses)."""

    def answer(request: Request) -> Response:
        return Response(body, status, media_type=content_type)

    return answer

"""Fixtures for the 360Learning client tests: the emulator on loopback, held to the OpenAPI.

Every exchange between the client and the emulator goes through an ``httpx`` response hook
that validates the request, and the response unless a test injects faults on purpose (an
injected 5xx is by definition not in the document), against ``shared/api``'s 360Learning
documents. Nothing here is autouse: the Personio suite shares this folder.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from secrets import token_hex

import httpx
import pytest
import stamina

from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.server import RunningServer, serve_in_thread
from personio360.http.ratelimit import RateLimiter
from personio360.learning360 import Learning360Client

try:
    from openapi_check import OpenApiCheck
except ImportError:  # tests/ is not on sys.path when this folder runs alone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from openapi_check import OpenApiCheck

CLIENT_ID = "test-360-client-id"
CLIENT_SECRET = f"test-360-{token_hex(12)}"  # made per run: no credential is written in the repository
BULK_PREFIX = "/api/v2/bulk/"

#: (base_url, *, client_secret=..., check_responses=True) -> a client; closed at teardown.
MakeClient = Callable[..., Learning360Client]


class Conformance:
    """A response hook validating each exchange against the core or the bulk document."""

    def __init__(self) -> None:
        self.core = OpenApiCheck("360learning-core-api.openapi.json")
        self.bulk = OpenApiCheck("360learning-bulk-api.openapi.json")
        self.responses = True

    def __call__(self, response: httpx.Response) -> None:
        check = self.bulk if response.request.url.path.startswith(BULK_PREFIX) else self.core
        check.validate_request(response.request)
        if self.responses:
            check.validate_response(response.request, response)


@pytest.fixture
def stamina_testing() -> Iterator[None]:
    """Retries without waiting, three attempts at most."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


#: (**emulator options) -> a served emulator with the test credentials; stopped at teardown.
MakeEmulator = Callable[..., Learning360Emulator]


@pytest.fixture
def make_emulator(stamina_testing: None) -> Iterator[MakeEmulator]:
    """Serve emulators with our test credentials (no rate limit unless asked)."""
    started: list[Learning360Emulator] = []

    def make(**options: object) -> Learning360Emulator:
        options.setdefault("rate_limits", False)
        emu = Learning360Emulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                  **options)  # type: ignore[arg-type]
        started.append(emu)
        emu.serve()
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(make_emulator: MakeEmulator) -> Learning360Emulator:
    """A served emulator with our test credentials and no rate limit."""
    return make_emulator()


@pytest.fixture
def make_client(stamina_testing: None) -> Iterator[MakeClient]:
    """Build clients over real HTTP, OpenAPI-checked unless told otherwise; closes them."""
    opened: list[httpx.Client] = []

    def make(base_url: str, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET,
             check: bool = True, check_responses: bool = True,
             limiter: RateLimiter | None = None) -> Learning360Client:
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = {}
        if check:
            conformance = Conformance()
            conformance.responses = check_responses
            hooks["response"] = [conformance]
        http = httpx.Client(base_url=base_url, event_hooks=hooks, timeout=10.0)
        opened.append(http)
        return Learning360Client(http, client_id=client_id, client_secret=client_secret,
                                 limiter=limiter or RateLimiter(None))

    yield make
    for http in opened:
        http.close()


@pytest.fixture
def client(emulator: Learning360Emulator, make_client: MakeClient) -> Learning360Client:
    """A client of the served emulator, every exchange held to the OpenAPI."""
    return make_client(emulator.url)


@pytest.fixture
def serve() -> Iterator[Callable[[object], RunningServer]]:
    """Serve small Starlette apps (bad bodies, odd pages) on loopback; stopped at teardown."""
    running: list[RunningServer] = []

    def start(app: object) -> RunningServer:
        server = serve_in_thread(app)  # type: ignore[arg-type]
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()

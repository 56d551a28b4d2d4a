"""PersonioClient under faults: tokens, 429s, 5xx, broken pages, bad credentials, secrecy."""

# ruff: noqa: F401, F811 - pytest fixtures are imported and then requested by parameter name

from __future__ import annotations

import threading
from collections.abc import Callable
from secrets import token_hex

import pytest
from personio_fixtures import (
    EMPLOYEES,
    Conformance,
    clients,
    conformance,
    control,
    emulator,
    no_waits,
    personio,
)

from personio360.emulators.faults import Fault, FaultPlan
from personio360.emulators.personio import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, PersonioEmulator
from personio360.errors import ApiUnavailable, AuthError, RateLimited
from personio360.http.ratelimit import PERSONIO_LIMITS, RateLimiter
from personio360.personio import PersonioClient

Clients = Callable[..., PersonioClient]
LIST = f"^{EMPLOYEES}$"


def _hire(emulator: PersonioEmulator, count: int) -> list[int]:
    hire = emulator.state.hire
    return [hire(first_name=f"E{n}", email=f"e{n}@example.com") for n in range(count)]


def test_token_expiring_mid_read_is_renewed_once(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """A token that expires between two pages is renewed after the 401 and the read goes on."""
    ids = _hire(emulator, 250)
    employees = personio.iter_employees()
    first = next(employees)

    control(emulator, "POST", "/_emulator/tokens/expire")
    rest = [e.id for e in employees]

    assert [first.id, *rest] == ids
    assert emulator.stats.count("auth") == 2
    assert emulator.stats.by_status[401] == 1


def test_token_near_expiry_is_renewed_before_use(no_waits: None, clients: Clients) -> None:
    """A token announced to expire within the renewal margin is renewed before each call."""
    with PersonioEmulator(rate_limits=False, token_ttl=30.0) as emulator:
        employee_id = _hire(emulator, 1)[0]
        client = clients(emulator.url, Conformance())
        client.get_employee(employee_id)
        client.get_employee(employee_id)

        assert emulator.stats.count("auth") == 2
        assert emulator.stats.by_status.get(401, 0) == 0


def test_one_token_is_fetched_for_parallel_readers(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """Eight threads reading at once share one token request (thread-safe cache)."""
    employee_id = _hire(emulator, 1)[0]
    errors: list[BaseException] = []

    def read() -> None:
        try:
            personio.get_employee(employee_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert emulator.stats.count("auth") == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_answers_are_retried_then_succeed(
    emulator: PersonioEmulator, personio: PersonioClient, status: int
) -> None:
    """Two 429 or 5xx answers on a page are retried (Retry-After honoured); the read completes."""
    ids = _hire(emulator, 150)
    emulator.faults.replace([
        Fault("status", path=LIST, method="GET", status=status, after=1, count=2, retry_after=1)
    ])

    assert [e.id for e in personio.iter_employees()] == ids
    assert emulator.faults.injected[f"status_{status}"] == 2


def test_dropped_connection_is_retried(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """A connection dropped mid-answer on a read is retried like a 5xx."""
    ids = _hire(emulator, 120)
    emulator.faults.replace([Fault("drop", path=LIST, method="GET", after=1, count=1)])

    assert [e.id for e in personio.iter_employees()] == ids


def test_a_page_failing_halfway_raises_and_returns_no_list(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """A page failing on every retry ends the read with an error, never a partial list (R13a)."""
    _hire(emulator, 450)
    emulator.faults.replace([Fault("status", path=LIST, method="GET", status=503, after=2)])

    with pytest.raises(ApiUnavailable) as caught:
        list(personio.iter_employees())

    assert caught.value.status == 503
    assert caught.value.path == EMPLOYEES
    assert caught.value.maybe_applied is False


def test_rate_limit_still_exceeded_after_retries_is_rate_limited(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """429 on every attempt surfaces as ``RateLimited`` keeping the Retry-After."""
    _hire(emulator, 1)
    emulator.faults.replace([Fault("status", path=LIST, method="GET", status=429, retry_after=7)])

    with pytest.raises(RateLimited) as caught:
        list(personio.iter_employees())

    assert caught.value.retry_after == 7.0


def test_client_pacing_keeps_within_the_emulator_limits(no_waits: None, clients: Clients) -> None:
    """Paced by the published limits, 17 pages in a row (burst: 15) never meet a 429."""
    with PersonioEmulator() as emulator:
        ids = _hire(emulator, 1601)
        client = clients(emulator.url, limiter=RateLimiter(PERSONIO_LIMITS))

        assert [e.id for e in client.iter_employees()] == ids
        assert emulator.stats.by_status.get(429, 0) == 0


def test_bad_credentials_raise_auth_error_naming_the_settings(
    emulator: PersonioEmulator, clients: Clients
) -> None:
    """Wrong credentials are ``AuthError`` whose hint names both variables, without the secret."""
    secret = f"wrong-{token_hex(8)}"
    client = clients(emulator.url, Conformance(), client_secret=secret)

    with pytest.raises(AuthError) as caught:
        list(client.iter_employees())

    error = caught.value
    assert (error.status, error.path, error.method) == (401, "/v1/auth", "POST")
    assert "PERSONIO_CLIENT_ID" in (error.hint or "")
    assert "PERSONIO_CLIENT_SECRET" in (error.hint or "")
    assert secret not in f"{error} {error!r} {error.hint}"


def test_missing_partner_headers_name_the_missing_access(
    emulator: PersonioEmulator, clients: Clients
) -> None:
    """A 403 on a read (here: the catalogue without partner headers) hints at the whitelist."""
    client = clients(emulator.url, partner_id="")

    with pytest.raises(AuthError) as caught:
        client.list_attributes()

    assert caught.value.status == 403
    assert "whitelist" in (caught.value.hint or "")


def test_no_secret_or_token_in_reprs_or_errors(
    emulator: PersonioEmulator, personio: PersonioClient
) -> None:
    """Neither the client secret nor the token appears in reprs or error messages (R16)."""
    token = personio.auth.token().value
    assert token.startswith("papi-")
    emulator.faults.replace([Fault("status", path=LIST, method="GET", status=503)])

    with pytest.raises(ApiUnavailable) as caught:
        list(personio.iter_employees())

    shown = " ".join([repr(personio), repr(personio.auth), repr(personio.auth.token()),
                      str(caught.value), repr(caught.value), str(caught.value.hint)])
    assert token not in shown
    assert DEFAULT_CLIENT_SECRET not in shown
    assert DEFAULT_CLIENT_ID not in shown  # the client id is masked


def test_fault_plan_given_to_the_emulator_applies(no_waits: None, clients: Clients) -> None:
    """A plan set at construction (a 502 on the first page) is retried like one set later."""
    plan = FaultPlan([Fault("status", path=LIST, method="GET", status=502, count=1)])
    with PersonioEmulator(rate_limits=False, faults=plan) as emulator:
        ids = _hire(emulator, 3)

        assert [e.id for e in clients(emulator.url).iter_employees()] == ids

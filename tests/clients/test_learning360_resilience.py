"""Tokens, retries, lost answers, malformed bodies and secrets: the client under bad conditions."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from secrets import token_hex
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personio360.domain import NewUser
from personio360.emulators.faults import Fault
from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.server import RunningServer
from personio360.errors import ApiError, ApiUnavailable, AuthError, MalformedResponse
from personio360.http.ratelimit import LEARNING360_LIMITS, RateLimiter
from personio360.http.redact import redact
from personio360.learning360 import Learning360Client

MakeClient = Callable[..., Learning360Client]
MakeEmulator = Callable[..., Learning360Emulator]
Serve = Callable[[object], RunningServer]
USERS = "^/api/v2/users$"
USER_ID = "0123456789abcdef01234567"


# --- tokens ---------------------------------------------------------------------------


def test_one_token_serves_many_calls(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """The token is fetched once and reused while it is valid."""
    for _ in range(5):
        list(client.iter_groups())
    assert emulator.stats.count("auth") == 1


def test_expired_tokens_are_renewed_transparently(
    make_emulator: MakeEmulator, make_client: MakeClient
) -> None:
    """With a 50 ms token lifetime a long run renews its token and no call fails."""
    emu = make_emulator(token_ttl=0.05)
    client = make_client(emu.url)
    calls = 0
    while emu.stats.count("auth") < 3 and calls < 5_000:
        assert client.get_group(emu.state.root_group_id).parent_id is None
        calls += 1
    assert emu.stats.count("auth") >= 3
    assert emu.stats.by_status[200] == calls + emu.stats.count("auth")


def test_a_401_invalid_token_renews_once(
    make_emulator: MakeEmulator, make_client: MakeClient
) -> None:
    """A call refused with 401 invalid_token gets a new token and is sent again, once."""
    emu = make_emulator(faults=[Fault(kind="status", status=401, path=USERS, count=1)])
    client = make_client(emu.url)
    assert [u.id for u in client.iter_users()] == [emu.state.owner_id]
    assert emu.stats.count("auth") == 2
    assert emu.faults.injected["status_401"] == 1


def test_a_second_401_is_an_auth_error(make_emulator: MakeEmulator,
                                       make_client: MakeClient) -> None:
    """A token refused again right after renewal is an AuthError, not a loop."""
    emu = make_emulator(faults=[Fault(kind="status", status=401, path=USERS, count=2)])
    client = make_client(emu.url)
    with pytest.raises(AuthError) as caught:
        list(client.iter_users())
    assert caught.value.code == "invalid_token"
    assert emu.stats.count("auth") == 2


def test_bad_credentials_are_an_auth_error_without_the_secret(
    emulator: Learning360Emulator, make_client: MakeClient
) -> None:
    """Wrong credentials: AuthError invalid_client, a hint naming the variables, no secret."""
    wrong = f"wrong-{token_hex(8)}"
    client = make_client(emulator.url, client_secret=wrong)
    with pytest.raises(AuthError) as caught:
        client.get_user(USER_ID)
    error = caught.value
    assert error.code == "invalid_client"
    assert error.hint is not None
    assert "LEARNING360_CLIENT_SECRET" in error.hint
    for text in (str(error), repr(error), error.hint, repr(client), repr(client.auth)):
        assert wrong not in text
        assert emulator.client_secret not in text


def test_missing_scope_names_the_scope(make_emulator: MakeEmulator,
                                       make_client: MakeClient) -> None:
    """A credential without ``customFields:write`` gets an AuthError naming that scope."""
    emu = make_emulator(scopes=["users:read", "customFields:read"])
    client = make_client(emu.url)
    assert list(client.iter_custom_fields()) == []
    with pytest.raises(AuthError) as caught:
        client.create_custom_field("Office")
    assert caught.value.code == "invalid_scope"
    assert "customFields:write" in str(caught.value)


def test_threads_share_one_token(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """Sixteen threads calling at once fetch a single token between them."""
    root = emulator.state.root_group_id
    with ThreadPoolExecutor(max_workers=16) as pool:
        groups = list(pool.map(lambda _: client.get_group(root), range(64)))
    assert {g.id for g in groups} == {root}
    assert emulator.stats.count("auth") == 1


def test_tokens_are_redacted_and_absent_from_reprs(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Every token obtained is registered for redaction and shows in no repr."""
    list(client.iter_groups())
    token = client.auth.token()
    assert redact(f"Authorization: {token}") == "Authorization: [redacted]"
    assert redact(emulator.client_secret) == "[redacted]"
    for text in (repr(client), repr(client.auth)):
        assert token not in text
        assert emulator.client_secret not in text


# --- retries --------------------------------------------------------------------------


def test_429_with_retry_after_then_success(make_emulator: MakeEmulator,
                                           make_client: MakeClient) -> None:
    """A 429 with Retry-After is waited out (no wait in test mode) and the call succeeds."""
    emu = make_emulator(faults=[Fault(kind="status", status=429, path=USERS, count=2,
                                      retry_after=2)])
    client = make_client(emu.url)
    assert len(list(client.iter_users())) == 1
    assert emu.faults.injected["status_429"] == 2


def test_5xx_on_a_read_then_success(make_emulator: MakeEmulator,
                                    make_client: MakeClient) -> None:
    """A 503 on a GET is retried and the read succeeds."""
    emu = make_emulator(faults=[Fault(kind="status", status=503, path=USERS, count=1)])
    client = make_client(emu.url, check_responses=False)  # an injected 503 is not documented
    assert len(list(client.iter_users())) == 1
    assert emu.faults.injected["status_503"] == 1


def test_5xx_on_create_is_not_retried(make_emulator: MakeEmulator,
                                      make_client: MakeClient) -> None:
    """A 5xx on POST /users is not repeated: ApiUnavailable(maybe_applied=True)."""
    emu = make_emulator(faults=[Fault(kind="status", status=500, path=USERS, method="POST")])
    client = make_client(emu.url, check_responses=False)
    with pytest.raises(ApiUnavailable) as caught:
        client.create_user(NewUser("x@example.com", emu.state.root_group_id),
                           send_invitation_email=False)
    assert caught.value.maybe_applied
    assert emu.faults.injected["status_500"] == 1


def test_lost_response_on_create_is_never_repeated(
    make_emulator: MakeEmulator, make_client: MakeClient
) -> None:
    """A create whose answer is lost raises maybe_applied, lands once, and is found by mail."""
    emu = make_emulator(faults=[Fault(kind="lose_response", path=USERS, method="POST",
                                      count=1)])
    client = make_client(emu.url, check=False)
    new = NewUser("lost@example.com", emu.state.root_group_id)
    with pytest.raises(ApiUnavailable) as caught:
        client.create_user(new, send_invitation_email=False)
    assert caught.value.maybe_applied
    assert emu.stats.by_endpoint["POST /api/v2/users"] == 1
    assert [u.mail for u in emu.state.users()].count("lost@example.com") == 1
    found = client.find_user_by_mail("lost@example.com")
    assert found is not None
    assert found == emu.state.user_by_mail("lost@example.com")


def test_pacing_at_the_published_limits_avoids_429(
    make_emulator: MakeEmulator, make_client: MakeClient
) -> None:
    """Paced at the emulator's limits (both scaled x10), writes past the burst meet no 429."""
    emu = make_emulator(rate_limits=True, rate_limit_factor=10.0)
    client = make_client(emu.url, limiter=RateLimiter(LEARNING360_LIMITS, factor=10.0))
    field = client.create_custom_field("Field")
    for n in range(120):
        client.update_custom_field(field.id, f"Field {n}")
    assert emu.stats.by_status[429] == 0
    assert [f.name for f in emu.state.custom_fields()] == ["Field 119"]


# --- malformed answers ----------------------------------------------------------------


def _fake_api(routes: dict[str, Callable[[Request], Response]],
              token: dict[str, Any] | None = None) -> Starlette:
    """A 360Learning stand-in serving ``routes`` (GET) after a working token endpoint."""
    token_body = token or {"token_type": "Bearer", "access_token": "tok-fake-123",
                           "expires_in": "3600"}

    async def issue(_: Request) -> Response:
        return JSONResponse(token_body)

    def endpoint(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            return handler(request)
        return run

    return Starlette(routes=[Route("/api/v2/oauth2/token", issue, methods=["POST"]),
                             *(Route(path, endpoint(h)) for path, h in routes.items())])


def _raw(body: str, content_type: str = "application/json",
         headers: dict[str, str] | None = None) -> Callable[[Request], Response]:
    return lambda _: Response(body, media_type=content_type, headers=headers)


@pytest.mark.parametrize(("body", "content_type", "says"), [
    ('[{"_id": "a", "status": "active"', "application/json", "not valid JSON"),
    ('{"users": []}', "application/json", "documented shape"),
    ('[{"mail": "no-id@example.com", "status": "active"}]', "application/json", "_id"),
    ("<html>login</html>", "text/html", "expected JSON"),
])
def test_malformed_list_bodies_are_clear_errors(
    serve: Serve, make_client: MakeClient, body: str, content_type: str, says: str
) -> None:
    """Bad JSON, a wrong shape or a wrong content type is a MalformedResponse naming the problem."""
    server = serve(_fake_api({"/api/v2/users": _raw(body, content_type)}))
    client = make_client(server.url, check=False)
    with pytest.raises(MalformedResponse) as caught:
        list(client.iter_users())
    assert says in str(caught.value)
    assert caught.value.path == "/api/v2/users"


def test_malformed_single_body_is_a_clear_error(serve: Serve, make_client: MakeClient) -> None:
    """A user without ``status`` is a MalformedResponse, not a traceback."""
    server = serve(_fake_api({"/api/v2/users/{userId}": _raw('{"_id": "' + USER_ID + '"}')}))
    client = make_client(server.url, check=False)
    with pytest.raises(MalformedResponse, match="status"):
        client.get_user(USER_ID)


def test_expires_in_as_a_string_is_accepted(serve: Serve, make_client: MakeClient) -> None:
    """``"expires_in": "3600"`` (the guide's example) works like the number."""
    server = serve(_fake_api({"/api/v2/users": _raw("[]")}))
    assert list(make_client(server.url, check=False).iter_users()) == []


def test_a_malformed_token_answer_does_not_leak_the_token(
    serve: Serve, make_client: MakeClient
) -> None:
    """A token answer without ``expires_in`` is MalformedResponse whose text has no token."""
    leaky = token_hex(16)
    server = serve(_fake_api({"/api/v2/users": _raw("[]")},
                             token={"access_token": leaky}))
    client = make_client(server.url, check=False)
    with pytest.raises(MalformedResponse) as caught:
        list(client.iter_users())
    assert "expires_in" in str(caught.value)
    assert leaky not in str(caught.value)
    assert caught.value.path == "/api/v2/oauth2/token"


def test_a_pagination_loop_is_malformed(serve: Serve, make_client: MakeClient) -> None:
    """A server whose next page links back to a page already read is a MalformedResponse."""
    page = json.dumps([{"_id": USER_ID, "status": "active", "lang": "en"}])
    server = serve(_fake_api({"/api/v2/users": _raw(
        page, headers={"Link": '</api/v2/users?next=same>; rel="next"'})}))
    client = make_client(server.url, check=False)
    users = client.iter_users()
    with pytest.raises(MalformedResponse, match="same page twice"):
        list(users)


def test_a_link_to_another_host_is_refused(serve: Serve, make_client: MakeClient) -> None:
    """A next-page Link to another host is refused, so the token never leaves 360Learning."""
    server = serve(_fake_api({"/api/v2/users": _raw(
        "[]", headers={"Link": '<https://elsewhere.example/api/v2/users?next=x>; rel="next"'})}))
    with pytest.raises(MalformedResponse, match="another host"):
        list(make_client(server.url, check=False).iter_users())


def test_an_undocumented_error_body_is_malformed(serve: Serve, make_client: MakeClient) -> None:
    """A 404 that is not 360Learning's error shape (a wrong base_url) is a MalformedResponse."""
    server = serve(_fake_api({"/api/v2/users/{userId}": lambda _: Response(
        "Not here", status_code=404, media_type="text/plain")}))
    with pytest.raises(MalformedResponse) as caught:
        make_client(server.url, check=False).get_user(USER_ID)
    assert caught.value.status == 404
    assert caught.value.hint is not None
    assert "base_url" in caught.value.hint


# --- construction ---------------------------------------------------------------------


def test_connect_builds_and_closes_its_own_http_client(emulator: Learning360Emulator) -> None:
    """``connect`` owns its httpx client: usable at once, closed with the client."""
    with Learning360Client.connect(emulator.url, "test-360-client-id", emulator.client_secret,
                                   rate_limit_factor=10.0) as client:
        assert [u.id for u in client.iter_users()] == [emulator.state.owner_id]
        assert emulator.client_secret not in repr(client)
    with pytest.raises(RuntimeError):
        client.get_user(USER_ID)


def test_every_error_keeps_secrets_out(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """No error a client raises mentions the secret or the token."""
    list(client.iter_groups())
    token = client.auth.token()
    errors: list[ApiError] = []
    for call in (lambda: client.get_user(USER_ID), lambda: client.get_group(USER_ID),
                 lambda: client.delete_external_id(USER_ID)):
        with pytest.raises(ApiError) as caught:
            call()
        errors.append(caught.value)
    for error in errors:
        for text in (str(error), repr(error), error.hint or ""):
            assert token not in text
            assert emulator.client_secret not in text


def test_version_header_on_every_call_but_the_token_call(
    serve: Serve, make_client: MakeClient
) -> None:
    """``360-api-version: v2.0`` goes with every API call and never with the token call."""
    seen: dict[str, str | None] = {}

    async def issue(request: Request) -> Response:
        seen["token"] = request.headers.get("360-api-version")
        return JSONResponse({"token_type": "Bearer", "access_token": "tok-h", "expires_in": 60})

    async def users(request: Request) -> Response:
        seen["users"] = request.headers.get("360-api-version")
        seen["auth"] = request.headers.get("authorization")
        return JSONResponse([])

    server = serve(Starlette(routes=[Route("/api/v2/oauth2/token", issue, methods=["POST"]),
                                     Route("/api/v2/users", users)]))
    assert list(make_client(server.url, check=False).iter_users()) == []
    assert seen == {"token": None, "users": "v2.0", "auth": "Bearer tok-h"}

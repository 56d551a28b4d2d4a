"""Sign-in rules without a browser (issue 9): the password policy, the slowdown, the session cookie."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from personio360.errors import ConfigError
from personio360.web.auth import (
    PASSWORD_ENV,
    Session,
    SessionCodec,
    Throttle,
    admin_password,
    check_csrf,
    password_matches,
)

from .conftest import Clock


def _request(cookie: str = "", scheme: str = "http") -> Request:
    headers = [(b"cookie", cookie.encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "scheme": scheme,
                    "server": ("example.org", 443 if scheme == "https" else 80), "query_string": b""})


def test_serve_refuses_no_password_and_a_short_one() -> None:
    """Without PERSONIO360_ADMIN_PASSWORD, or with fewer than 12 characters, the page does not start."""
    with pytest.raises(ConfigError, match="is not set"):
        admin_password({})
    with pytest.raises(ConfigError, match="shorter than 12"):
        admin_password({PASSWORD_ENV: "elevenchars"})
    assert admin_password({PASSWORD_ENV: "twelve chars"}) == "twelve chars"


def test_password_comparison_is_exact() -> None:
    """Only the very password matches, not a prefix or a case variant."""
    assert password_matches("correct horse", "correct horse")
    assert not password_matches("correct hors", "correct horse")
    assert not password_matches("Correct horse", "correct horse")


def test_slowdown_doubles_after_three_failures_and_resets_on_success() -> None:
    """Three free attempts, then 1 s, 2 s, 4 s … between attempts; a success forgets the failures."""
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(3):
        assert throttle.wait("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(1.0)
    clock.now += 1.0
    assert throttle.wait("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(2.0)
    assert throttle.wait("10.0.0.2") == 0  # another address is not slowed
    clock.now += 2.0
    assert throttle.wait("10.0.0.1") == 0
    throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(4.0)
    throttle.succeeded("10.0.0.1")
    assert throttle.wait("10.0.0.1") == 0


def test_the_wait_is_capped_and_old_failures_are_forgotten() -> None:
    """However many failures, the wait never exceeds 15 minutes, and an hour later the count restarts."""
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(40):
        throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == pytest.approx(900.0)
    clock.now += 3601
    assert throttle.wait("10.0.0.1") == 0


def test_session_cookie_is_signed_httponly_lax_and_secure_over_https() -> None:
    """A tampered cookie reads as no session; the cookie is HttpOnly, SameSite=Lax, Secure over HTTPS only."""
    codec = SessionCodec()
    session = Session.new(admin=True)
    for scheme, secure in (("http", False), ("https", True)):
        response = Response()
        codec.write(response, _request(scheme=scheme), session)
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header
        assert "SameSite=lax" in header
        assert ("Secure" in header) is secure
    value = header.split(";")[0]
    assert codec.read(_request(value)) == session
    name, _, signed = value.partition("=")
    assert codec.read(_request(f"{name}={signed[:-2]}xx")) is None
    assert SessionCodec().read(_request(value)) is None  # another server's key


def test_csrf_token_must_be_the_sessions() -> None:
    """A missing, empty or different token never passes; no session never passes."""
    session = Session.new()
    assert check_csrf(session, session.csrf)
    for token in (None, "", "x" + session.csrf, Session.new().csrf):
        assert not check_csrf(session, token)
    assert not check_csrf(None, session.csrf)

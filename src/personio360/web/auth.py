"""Sign-in for the admin page (issue 9): one password, a signed session cookie, CSRF, a slowdown.

- The password comes from ``PERSONIO360_ADMIN_PASSWORD`` only; ``serve`` refuses to start
  without it or with one shorter than 12 characters (``admin_password``).
- The session is a cookie signed with a key made at start-up (itsdangerous): HttpOnly,
  SameSite=Lax, Secure when the request came over HTTPS (directly or through a proxy that
  says so, uvicorn's ``proxy_headers``). Restarting the server signs everyone out.
- Every form that changes something carries the session's CSRF token; a POST without the
  right one is refused (403) before anything runs (``check_csrf``). The sign-in form has one
  too, tied to a signed-out session, against login CSRF.
- After ``FREE_ATTEMPTS`` wrong passwords from one address, each further attempt must wait
  twice as long as the last (1 s, 2 s, 4 s … 15 min) and is refused without checking the
  password while it waits (``Throttle``; its clock is injected, so tests never sleep).
"""

from __future__ import annotations

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PASSWORD_ENV",
    "Session",
    "SessionCodec",
    "Throttle",
    "admin_password",
    "check_csrf",
    "password_matches",
]

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from personio360.errors import ConfigError

PASSWORD_ENV = "PERSONIO360_ADMIN_PASSWORD"
MIN_PASSWORD_LENGTH = 12
COOKIE = "personio360_session"
#: A signed-in session lasts a working day; the cookie is refused after that.
SESSION_MAX_AGE = 12 * 3600
FREE_ATTEMPTS = 3
MAX_WAIT = 15 * 60.0
#: Failures older than this are forgotten: the count starts again.
FORGET_AFTER = 3600.0


def admin_password(environ: Mapping[str, str]) -> str:
    """The administrator password, or ``ConfigError``: the page never runs unprotected."""
    password = environ.get(PASSWORD_ENV, "")
    if not password:
        raise ConfigError(f"{PASSWORD_ENV} is not set: the admin page needs a password",
                          hint=f"export {PASSWORD_ENV} with a password of {MIN_PASSWORD_LENGTH} "
                          "characters or more, then start personio360 serve again")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"{PASSWORD_ENV} is shorter than {MIN_PASSWORD_LENGTH} characters",
                          hint=f"choose a password of {MIN_PASSWORD_LENGTH} characters or more")
    return password


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison (of digests, so lengths leak nothing either)."""
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                               hashlib.sha256(expected.encode()).digest())


@dataclass(frozen=True, slots=True)
class Session:
    """What the cookie holds: whether the admin signed in, and the CSRF token of this session."""

    admin: bool
    csrf: str

    @classmethod
    def new(cls, *, admin: bool = False) -> Session:
        return cls(admin=admin, csrf=secrets.token_urlsafe(32))


class SessionCodec:
    """Reads and writes the signed session cookie."""

    def __init__(self, key: bytes | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(key or secrets.token_bytes(32), salt="personio360-session")

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        return Session(admin=data.get("admin") is True, csrf=data["csrf"])

    def write(self, response: Response, request: Request, session: Session) -> None:
        response.set_cookie(
            COOKIE, self._serializer.dumps({"admin": session.admin, "csrf": session.csrf}),
            max_age=SESSION_MAX_AGE, httponly=True, samesite="lax", path="/",
            secure=request.url.scheme == "https",
        )


def check_csrf(session: Session | None, token: object) -> bool:
    """The form's token is this session's (constant time); a missing one never matches."""
    return session is not None and isinstance(token, str) and bool(token) \
        and hmac.compare_digest(token.encode(), session.csrf.encode())


@dataclass
class Throttle:
    """Failed sign-ins per client address, and how long that address must wait now."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, address: str) -> float:
        """Seconds before ``address`` may try again (0: now)."""
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
        if count < FREE_ATTEMPTS or self.clock() - last > FORGET_AFTER:
            return 0.0
        delay = min(MAX_WAIT, 2.0 ** (count - FREE_ATTEMPTS))
        return max(0.0, last + delay - self.clock())

    def failed(self, address: str) -> None:
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
            count = 0 if self.clock() - last > FORGET_AFTER else count
            self._failures[address] = (count + 1, self.clock())
            if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
                oldest = min(self._failures, key=lambda a: self._failures[a][1])
                del self._failures[oldest]

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

"""Personio's v1 bearer-token flow as an ``httpx.Auth``: cached, renewed early, and once on a 401.

``POST /v1/auth`` (``personio-auth-api.yaml``) trades the client id and secret, sent in the
body (query-string credentials are refused from 2026-12-04: research §2.1), for a ``papi-``
token that lasts 24 h and may be used in parallel (research §2.1). The token is cached here
behind a lock, renewed a minute before it expires, and renewed once more when a call answers
401 (a token revoked or expired early). Tokens echoed in response ``Authorization`` headers are
ignored: not every endpoint sends one (research §2.2).
"""

from __future__ import annotations

__all__ = ["AUTH_PATH", "RENEW_MARGIN", "PersonioAuth", "Token", "TokenFetcher"]

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx

#: The token endpoint, relative to the host (``servers: https://api.personio.de/v1``).
AUTH_PATH = "/v1/auth"
#: Renew this many seconds before the announced expiry, so no call races the deadline.
RENEW_MARGIN = 60.0
#: ``expires_in`` is optional in the schema; the hub documents 24 h.
DEFAULT_TTL = 86_400.0


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token and the monotonic time after which it must not be used; never in a repr."""

    value: str = field(repr=False)
    expires_at: float

    def __repr__(self) -> str:
        return f"Token([redacted], expires_at={self.expires_at:.0f})"


#: (now) -> a fresh token; the client's ``POST /v1/auth`` through its ``ApiCaller``.
TokenFetcher = Callable[[float], Token]


class PersonioAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <token>`` to every request except the token request itself.

    Thread-safe: one lock guards the cache, so parallel readers trigger one ``POST /v1/auth``.
    ``clock`` is injectable so tests can move time forward without sleeping.
    """

    def __init__(self, fetch: TokenFetcher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Token | None = None

    def __repr__(self) -> str:
        state = "no token" if self._token is None else "token cached"
        return f"PersonioAuth({state})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.endswith(AUTH_PATH):
            yield request
            return
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            response.read()  # give the connection back before fetching a new token
            token = self.token(stale=token)
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request

    def token(self, *, stale: Token | None = None) -> Token:
        """The cached token; a new one when there is none, it nears expiry, or it is ``stale``."""
        with self._lock:
            now = self._clock()
            current = self._token
            if current is None or current is stale or current.expires_at - RENEW_MARGIN <= now:
                current = self._fetch(now)
                self._token = current
            return current

    def forget(self) -> None:
        """Drop the cached token (the next call fetches a new one)."""
        with self._lock:
            self._token = None

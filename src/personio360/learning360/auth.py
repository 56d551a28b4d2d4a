"""The 360Learning OAuth2 client-credentials flow as an ``httpx.Auth`` (STYLE §7.5).

Guide "Authentication": ``POST /api/v2/oauth2/token`` gives a bearer token that lasts one
hour; "re-authenticate when it expires". The token is cached, renewed shortly before it
expires, and renewed once more when a call answers 401 ``{"error": "invalid_token"}`` (a
token revoked or expired early). Renewal happens under a lock, so the sync's thread pool
shares one token and fetches a new one once. Tokens are registered with the redaction
helper and never appear in a repr.
"""

from __future__ import annotations

__all__ = ["Learning360Auth", "TokenFetcher"]

import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from personio360.http.redact import register_secret
from personio360.learning360.status import TOKEN_PATH

#: Gets a new token: () -> (access token, lifetime in seconds).
TokenFetcher = Callable[[], tuple[str, float]]

#: Renew this long before expiry, at most: a call must not start with a token about to lapse.
RENEW_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    renew_at: float

    def __repr__(self) -> str:
        return "_Token([redacted])"


class Learning360Auth(httpx.Auth):
    """Adds ``Authorization: Bearer …`` to every call but the token call itself."""

    requires_response_body = True  # to tell a 401 invalid_token from other 401s

    def __init__(self, fetch: TokenFetcher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def __repr__(self) -> str:
        state = "cached" if self._token is not None else "none"
        return f"Learning360Auth(token={state})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.path.endswith(TOKEN_PATH):
            yield request  # the token call authenticates with its body
            return
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and _says_invalid_token(response):
            request.headers["Authorization"] = f"Bearer {self.renew(token)}"
            yield request

    def token(self) -> str:
        """The cached token, fetched first if there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._token.renew_at:
                self._token = self._new_token()
            return self._token.value

    def renew(self, refused: str) -> str:
        """A token other than ``refused``: fetched unless another thread already renewed it."""
        with self._lock:
            if self._token is None or self._token.value == refused:
                self._token = self._new_token()
            return self._token.value

    def _new_token(self) -> _Token:
        value, lifetime = self._fetch()
        register_secret(value)
        margin = min(RENEW_MARGIN, lifetime / 10)
        return _Token(value, self._clock() + lifetime - margin)


def _says_invalid_token(response: httpx.Response) -> bool:
    """401 ``{"error": "invalid_token"}`` (also accepted in the object form)."""
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return False
    if isinstance(error, dict):
        error = error.get("code")
    return bool(error == "invalid_token")

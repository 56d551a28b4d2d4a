"""The retry policy: explicit, bounded, method-aware, Retry-After honoured (stamina).

What is transient: a 429 (nothing was done: retried for every method, after Retry-After or
at least 1 s, as both vendors ask); a connection that could not be opened (nothing was sent:
retried for every method); a 5xx, a timeout or a broken answer, retried only for methods
whose repetition is harmless (GET, PUT, DELETE). A POST or PATCH whose answer was lost is
never repeated blindly: the caller gets ``ApiUnavailable(maybe_applied=True)`` and re-reads
(R14, STYLE §7.4).
"""

from __future__ import annotations

__all__ = ["RETRY_AFTER_CAP", "RetryPolicy", "TransientStatus", "parse_retry_after"]

import datetime as dt
import email.utils
from dataclasses import dataclass

import httpx

#: Never wait longer than this for one Retry-After (openai's cap).
RETRY_AFTER_CAP = 120.0
#: Both vendors ask to wait about a second after a 429 that names no delay.
DEFAULT_429_WAIT = 1.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class TransientStatus(Exception):
    """An answer worth retrying (429, 5xx); carries the response for the final error."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        if parsed is None:
            return None
        seconds = (parsed - dt.datetime.now(dt.UTC)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of the retries: attempts and total time (stamina's arguments)."""

    attempts: int = 6
    timeout: float = 300.0
    wait_initial: float = 0.5
    wait_max: float = 10.0

    def hook(self, method: str) -> _Hook:
        return _Hook(method.upper() in IDEMPOTENT_METHODS)


@dataclass(frozen=True, slots=True)
class _Hook:
    """stamina's ``on=`` hook: False = give up, True = back off, a float = wait that long."""

    idempotent: bool

    def __call__(self, exc: Exception) -> bool | float:
        if isinstance(exc, TransientStatus):
            if exc.response.status_code == 429:
                wait = parse_retry_after(exc.response.headers.get("Retry-After"))
                return wait if wait is not None and wait > 0 else DEFAULT_429_WAIT
            return self.idempotent
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        if isinstance(exc, httpx.TransportError):
            return self.idempotent
        return False

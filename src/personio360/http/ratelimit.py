"""Client-side pacing sized from the published limits, so a large sync never provokes a 429 storm.

360Learning (guide "Rate limiting errors"): 50 GET requests/s and 10 write requests/s per
company. Personio (developer changelog, 2024): ``GET /company/employees`` 300 requests/min with
bursts of 15/s. The buckets are pyrate-limiter's; ``acquire`` blocks until a call may go.

We pace a little under those limits, not at them (``MARGIN``): each window is 3% longer than
published (1.03 s for "per second", 61.8 s for "per minute"). A sliding window paced exactly
at the limit sends a full window of calls, then the next full window the moment the first
one expires; the service's bucket (the emulators model a token bucket) has refilled by then
only if every call of the new window arrives no earlier, relative to its twin of the last
window, than the client sent it. Network and scheduling jitter break that: an independent
run at the published limits met 47-69 HTTP 429s per 1,000 employees, each a retry of at least
one second (Retry-After). The margin absorbs up to 30 ms of jitter a second (1.8 s a minute)
for 3% of throughput; the benchmarks' floor stays the published limits' (so wall/floor shows
the cost).

Personio also allows 2,000 calls a minute **per IP address** across every v1 endpoint
(``PERSONIO_IP_LIMIT``, developer changelog "IP address based rate limiting"). One company's
client stays far under it on its own; a deployment syncing many companies from one address
does not. A ``RateLimiter`` may therefore be given a ``shared`` pacer, which every call waits
for too, after its own per-endpoint limit: ``service/limits.py`` makes one in PostgreSQL for
the workers of a deployment (issue 15). Single-company mode has none: its pacing is in-process.
"""

from __future__ import annotations

__all__ = ["LEARNING360_LIMITS", "MARGIN", "PERSONIO_IP_LIMIT", "PERSONIO_LIMITS", "Limits", "Pacer",
           "RateLimiter", "scaled_rates"]

import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

from pyrate_limiter import Duration, Limiter, Rate

#: kind -> [(calls, per seconds), ...]
Limits = Mapping[str, Sequence[tuple[int, float]]]

LEARNING360_LIMITS: Limits = {"read": [(50, 1.0)], "write": [(10, 1.0)]}
PERSONIO_LIMITS: Limits = {"read": [(15, 1.0), (300, 60.0)], "auth": [(60, 60.0)]}
#: every v1 call of one IP address, whichever company's credential makes it (see above)
PERSONIO_IP_LIMIT: Sequence[tuple[int, float]] = [(2000, 60.0)]
#: every window is this much longer than published: a little under the limits (see above)
MARGIN = 0.03


class Pacer(Protocol):
    """A limit shared beyond one client (``service.limits.DeploymentLimit``)."""

    def acquire(self) -> None:
        """Block until one more call fits the shared limit."""


def scaled_rates(rates: Sequence[tuple[int, float]], factor: float = 1.0) -> list[Rate]:
    """pyrate-limiter's rates for ``(calls, per seconds)``: ``factor`` times the calls, every
    window ``MARGIN`` longer than published."""
    return [Rate(max(1, round(calls * factor)), round(seconds * (1 + MARGIN) * Duration.SECOND))
            for calls, seconds in rates]


class RateLimiter:
    """One limiter per API and call kind (``read``, ``write``, ...); unknown kinds are not paced.

    ``factor`` multiplies every limit (the benchmarks run with the emulators' limits scaled by
    the same factor, so the floor computed from the limits holds); every window is ``MARGIN``
    longer than the published one. ``None`` limits = no pacing. ``shared``: a limit every call
    of every kind also counts against, with other clients (Personio's per-IP limit).
    """

    def __init__(self, limits: Limits | None, *, factor: float = 1.0, shared: Pacer | None = None) -> None:
        self._limiters: dict[str, Limiter] = {}
        self._lock = threading.Lock()
        self.shared = shared
        for kind, rates in (limits or {}).items():
            self._limiters[kind] = Limiter(scaled_rates(rates, factor), buffer_ms=5)

    def acquire(self, kind: str) -> None:
        """Block until one call of ``kind`` may be sent: its own limit first, then the shared one
        (so a call holds a shared token only once it is about to go)."""
        limiter = self._limiters.get(kind)
        if limiter is not None:
            limiter.try_acquire(kind, blocking=True)
        if self.shared is not None:
            self.shared.acquire()

"""Client-side pacing sized from the published limits, so a large sync never provokes a 429 storm.

360Learning (guide "Rate limiting errors"): 50 GET requests/s and 10 write requests/s per
company. Personio (developer changelog, 2024): ``GET /company/employees`` 300 requests/min with
bursts of 15/s. The buckets are pyrate-limiter's; ``acquire`` blocks until a call may go.
"""

from __future__ import annotations

__all__ = ["LEARNING360_LIMITS", "PERSONIO_LIMITS", "Limits", "RateLimiter"]

import threading
from collections.abc import Mapping, Sequence

from pyrate_limiter import Duration, Limiter, Rate

#: kind -> [(calls, per seconds), ...]
Limits = Mapping[str, Sequence[tuple[int, float]]]

LEARNING360_LIMITS: Limits = {"read": [(50, 1.0)], "write": [(10, 1.0)]}
PERSONIO_LIMITS: Limits = {"read": [(15, 1.0), (300, 60.0)], "auth": [(60, 60.0)]}


class RateLimiter:
    """One limiter per API and call kind (``read``, ``write``, ...); unknown kinds are not paced.

    ``factor`` multiplies every limit (the benchmarks run with the emulators' limits scaled by
    the same factor, so the floor computed from the limits holds). ``None`` limits = no pacing.
    """

    def __init__(self, limits: Limits | None, *, factor: float = 1.0) -> None:
        self._limiters: dict[str, Limiter] = {}
        self._lock = threading.Lock()
        for kind, rates in (limits or {}).items():
            scaled = [
                Rate(max(1, round(calls * factor)), int(seconds * Duration.SECOND))
                for calls, seconds in rates
            ]
            self._limiters[kind] = Limiter(scaled, buffer_ms=5)

    def acquire(self, kind: str) -> None:
        """Block until one call of ``kind`` may be sent."""
        limiter = self._limiters.get(kind)
        if limiter is not None:
            limiter.try_acquire(kind, blocking=True)

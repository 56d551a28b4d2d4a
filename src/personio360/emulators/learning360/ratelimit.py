"""The published per-company limits: 50 GET/s and 10 writes/s (guide "Rate limiting errors").

The guide does not say how the window works: this is a token bucket holding one second of
requests (so a burst of 50 GETs passes, the 51st in the same second does not), refilled
continuously. ``factor`` scales the rates (benchmarks, tests); a bucket never holds less
than one request.
"""

from __future__ import annotations

__all__ = ["READS_PER_SECOND", "WRITES_PER_SECOND", "TokenBucket"]

import math
import threading
import time
from collections.abc import Callable

READS_PER_SECOND = 50.0
WRITES_PER_SECOND = 10.0


class TokenBucket:
    """``take()`` returns 0 when the call may proceed, else the seconds until it could."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` in whole seconds, at least 1 (RFC 9110 delay-seconds)."""
        return str(max(1, math.ceil(wait)))

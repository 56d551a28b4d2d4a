"""Counters of the calls an emulator answered, by kind and endpoint (R14's zero-write checks).

Kinds: ``read`` (GET), ``write`` (any other method), ``bulk`` (the bulk API's submissions),
``auth`` (token calls). Endpoints are counted by their path *template*
(``GET /api/v2/users/{userId}``), so a benchmark can print calls per endpoint.
"""

from __future__ import annotations

__all__ = ["CallStats"]

import threading
from collections import Counter
from typing import Any


class CallStats:
    """Thread-safe call counters; ``snapshot()`` is what ``/_emulator/stats`` returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_kind: Counter[str] = Counter()
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()

    def record(self, kind: str, endpoint: str, status: int) -> None:
        with self._lock:
            self.by_kind[kind] += 1
            self.by_endpoint[endpoint] += 1
            self.by_status[status] += 1

    def count(self, kind: str) -> int:
        with self._lock:
            return self.by_kind[kind]

    def reset(self) -> None:
        with self._lock:
            self.by_kind.clear()
            self.by_endpoint.clear()
            self.by_status.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "by_kind": dict(self.by_kind),
                "by_endpoint": dict(sorted(self.by_endpoint.items())),
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            }

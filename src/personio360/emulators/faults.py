"""A declarative fault plan for the emulators: latency, error statuses, drops, lost responses.

A ``FaultPlan`` is data (a list of ``Fault`` rules and a seed), set when an emulator is built
or later through ``/_emulator/faults``; ``FaultInjector`` is the ASGI middleware that applies
it in front of a service's app, so the services themselves stay free of fault logic.

Kinds:

- ``latency``: wait ``delay`` seconds before handling (the benchmarks' network latency).
- ``slow``: the same, meant for list pages (``path`` selects them): a slow page.
- ``status``: answer ``status`` (429, 500, 502, 503...) with the service's own error body,
  without touching the state; a 429 carries ``Retry-After`` when ``retry_after`` is set.
- ``drop``: close the connection mid-answer without handling the request (the client sees a
  broken connection, nothing changed).
- ``lose_response``: handle the request (the write lands), then close the connection before
  the answer is complete: the client cannot tell whether it succeeded.

Delivery kinds act on the webhook deliveries an emulator *sends* (``deliveries.py``), never on
the requests it answers; ``path`` matches the event name (``person\\.updated``), ``method`` is
ignored, and they are drawn once per event when it is queued:

- ``delivery_drop``: the event is never sent (a vendor losing it).
- ``delivery_delay``: its first attempt waits ``delay`` extra seconds.
- ``delivery_duplicate``: it is sent twice (the same body, id and signature scheme).
- ``delivery_reorder``: it is held back until a later event has been sent.

Each rule matches a method set (``GET``, ``WRITE`` = anything else, or an exact method) and a
path regex; ``after`` skips that many matching calls, ``count`` caps how often it fires, and
``probability`` draws from the plan's own seeded RNG, so a plan replays identically.
"""

from __future__ import annotations

__all__ = ["DELIVERY_KINDS", "Fault", "FaultInjector", "FaultKind", "FaultPlan"]

import asyncio
import logging
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["latency", "slow", "status", "drop", "lose_response", "delivery_drop",
                    "delivery_delay", "delivery_duplicate", "delivery_reorder"]
_KINDS = ("latency", "slow", "status", "drop", "lose_response", "delivery_drop",
          "delivery_delay", "delivery_duplicate", "delivery_reorder")
DELIVERY_KINDS = frozenset(k for k in _KINDS if k.startswith("delivery_"))

#: Builds the service's own error body for an injected status: (status) -> JSON bytes.
ErrorBody = Callable[[int], bytes]


@dataclass
class Fault:
    """One rule of a fault plan (see the module docstring for the kinds)."""

    kind: FaultKind
    path: str = ""
    method: str = "ANY"
    probability: float = 1.0
    after: int = 0
    count: int | None = None
    status: int = 503
    delay: float = 0.0
    retry_after: float | None = None
    _seen: int = field(default=0, repr=False)
    _fired: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self._path_re = re.compile(self.path) if self.path else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {"kind", "path", "method", "probability", "after", "count", "status",
                   "delay", "retry_after"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        if data.get("kind") not in _KINDS:
            raise ValueError(f"unknown fault kind: {data.get('kind')!r}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "path": self.path, "method": self.method,
            "probability": self.probability, "after": self.after, "count": self.count,
            "status": self.status, "delay": self.delay, "retry_after": self.retry_after,
            "fired": self._fired,
        }

    def _matches(self, method: str, path: str) -> bool:
        if self.method == "WRITE" and method == "GET":
            return False
        if self.method not in ("ANY", "WRITE") and self.method != method:
            return False
        return self._path_re is None or self._path_re.search(path) is not None


@dataclass
class FaultPlan:
    """The faults in force and the seeded RNG that draws them; thread-safe."""

    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def replace(self, faults: list[Fault], seed: int | None = None) -> None:
        with self._lock:
            self.faults = faults
            if seed is not None:
                self.seed = seed
                self._rng = random.Random(seed)

    def draw(self, method: str, path: str) -> list[Fault]:
        """Return the rules that fire for this call, updating their counters."""
        return self._draw(lambda f: f.kind not in DELIVERY_KINDS and f._matches(method, path))

    def draw_delivery(self, event_name: str) -> list[Fault]:
        """Return the delivery rules that fire for one outgoing event (``path`` = its name)."""
        return self._draw(lambda f: f.kind in DELIVERY_KINDS and (
            f._path_re is None or f._path_re.search(event_name) is not None))

    def _draw(self, applies: Callable[[Fault], bool]) -> list[Fault]:
        fired: list[Fault] = []
        with self._lock:
            for fault in self.faults:
                if not applies(fault):
                    continue
                fault._seen += 1
                if fault._seen <= fault.after:
                    continue
                if fault.count is not None and fault._fired >= fault.count:
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                fault._fired += 1
                self.injected[fault.kind if fault.kind != "status" else f"status_{fault.status}"] += 1
                fired.append(fault)
                if fault.kind in _TERMINAL:
                    break  # one call meets at most one failure
        return fired


_TERMINAL = frozenset({"status", "drop", "lose_response"})


class _Dropped(Exception):
    """Raised inside the ASGI call to make uvicorn close the connection mid-answer."""


class _HideDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for a connection we dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


logging.getLogger("uvicorn.error").addFilter(_HideDrops())


class FaultInjector:
    """ASGI middleware applying a ``FaultPlan`` in front of one service's app.

    Paths under ``/_emulator`` (the control surface) are never faulted.
    """

    def __init__(self, app: ASGIApp, plan: FaultPlan, error_body: ErrorBody) -> None:
        self.app = app
        self.plan = plan
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._answer(scope, receive, send)
        except ClientDisconnect:
            return  # the client went away mid-request (killed, timed out): no one to answer

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        fired = self.plan.draw(scope["method"], scope["path"])
        for fault in fired:
            if fault.kind in ("latency", "slow") and fault.delay > 0:
                await asyncio.sleep(fault.delay)
        for fault in fired:
            if fault.kind == "status":
                await self._send_status(send, fault)
                return
            if fault.kind == "drop":
                await self._send_truncated(send)
                raise _Dropped("fault: connection dropped")
        if any(f.kind == "lose_response" for f in fired):
            await self.app(scope, receive, _swallow)
            await self._send_truncated(send)
            raise _Dropped("fault: response lost after the write")
        await self.app(scope, receive, send)

    async def _send_status(self, send: Send, fault: Fault) -> None:
        body = self.error_body(fault.status)
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if fault.retry_after is not None:
            headers.append((b"retry-after", str(max(0, round(fault.retry_after))).encode()))
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _send_truncated(send: Send) -> None:
        """Promise a body, send part of it, then fail: the client sees a broken answer."""
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})


async def _swallow(message: Message) -> None:
    """Discard the real answer of a request whose response is to be lost."""
    return None

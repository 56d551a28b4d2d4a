"""A little webhook receiver on 127.0.0.1 for the emulators' delivery tests (real HTTP).

``Receiver`` records every request it gets (headers, raw body, arrival order) and answers
from a script: ``answers`` is consumed one entry per request (an HTTP status, or
``("hang", seconds)`` to answer 200 only after that long); once empty it answers
``default`` (200).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from personio360.emulators.server import RunningServer, serve_in_thread


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records requests; answers from ``answers``, then ``default``."""

    answers: list[int | tuple[str, float]] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        with self._lock:
            self.requests.append(Received(request.url.path, dict(request.headers), body))
            answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, tuple):
            await asyncio.sleep(answer[1])
            answer = 200
        await Response(status_code=answer)(scope, receive, send)

    @property
    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.requests]

    def events(self) -> list[str]:
        """Event names in arrival order (Personio ``event_name`` or 360Learning ``type``)."""
        return [b.get("event_name", b.get("type")) for b in self.bodies]

    def reset(self) -> None:
        with self._lock:
            self.answers.clear()
            self.requests.clear()
            self.default = 200


@pytest.fixture(scope="module")
def _served_receiver() -> Iterator[Receiver]:
    target = Receiver()
    server: RunningServer = serve_in_thread(target)
    target.url = server.url + "/hooks"
    try:
        yield target
    finally:
        server.stop()


@pytest.fixture
def receiver(_served_receiver: Receiver) -> Receiver:
    """A receiver on a free loopback port (one per module, reset for each test)."""
    _served_receiver.reset()
    return _served_receiver

"""What a long-running process (``schedule``, ``serve``) adds to notifications (issue 14): the
change feed watched between runs, and, headless, ``/metrics``, ``/healthz`` and ``/readyz`` on a
port of their own (``schedule --metrics-port``)."""

from __future__ import annotations

__all__ = ["FeedWatch", "MetricsServer", "observing"]

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from personio360 import notify
from personio360.config import Settings, parse_duration
from personio360.notify import metrics
from personio360.store import Store
from personio360.subscriptions import enabled_states
from personio360.sync.report import RunReport

log = logging.getLogger("personio360.notify")

#: The feed is looked at this often at most, and at least every ``lag_after`` / 3.
WATCH_EVERY = 60.0
#: The webhook subscriptions (a few management reads) are looked at this often.
SUBSCRIPTIONS_EVERY = 15 * 60.0


@dataclass
class FeedWatch:
    """Between runs, every minute or so: is the change feed lagging (R17)? Only while changes are
    on. Every 15 minutes, with ``[webhooks]``: is a subscription disabled (360Learning turns one
    off after days of failed deliveries)?"""

    settings: Settings
    store: Store
    stop: threading.Event = field(default_factory=threading.Event)
    environ: Any = None

    @property
    def interval(self) -> float:
        return min(WATCH_EVERY, parse_duration(self.settings.notify.lag_after).total_seconds() / 3)

    def run_forever(self) -> None:
        waited = SUBSCRIPTIONS_EVERY  # the subscriptions are looked at first thing
        while not self.stop.is_set():
            if waited >= SUBSCRIPTIONS_EVERY and self.settings.webhooks is not None:
                self.watch_subscriptions()
                waited = 0.0
            if self.stop.wait(self.interval):
                return
            waited += self.interval
            notify.watch_feed(self.settings, self.store)

    def watch_subscriptions(self) -> None:
        """Never raises: an API that cannot be read says nothing about the subscriptions."""
        try:
            states = enabled_states(self.settings, self.environ)
        except Exception:  # a watcher outlives an unreachable API or a missing credential
            log.warning("could not read the webhook subscriptions", exc_info=True)
            return
        if states:
            notify.observe_webhooks(self.settings, self.store, states, environ=self.environ)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_args: Any) -> None:  # scrapes every 15 s: not worth a line each
        pass


class MetricsServer:
    """``/metrics`` (prometheus_client's own exposition), ``/healthz`` and ``/readyz`` over WSGI."""

    def __init__(self, settings: Settings, store: Store, host: str, port: int) -> None:
        self.store = store
        self._metrics = make_wsgi_app(metrics.registry_for(settings, store))
        self._server = make_server(host, port, self._app, ThreadingWSGIServer, handler_class=_Quiet)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="personio360-metrics")

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _json(start, 200, metrics.health())
        if path == "/readyz":
            ready, body = metrics.readiness(self.store)
            return _json(start, 200 if ready else 503, body)
        if path == "/metrics":
            return self._metrics(environ, start)  # type: ignore[no-any-return]
        return _json(start, 404, {"status": "not found", "paths": ["/metrics", "/healthz", "/readyz"]})

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _json(start: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    reasons = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
    data = json.dumps(body).encode()
    start(f"{status} {reasons[status]}", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
    return [data]


@contextlib.contextmanager
def observing(settings: Settings, store: Store, *,
              metrics_address: tuple[str, int] | None = None) -> Iterator[Callable[[RunReport], None]]:
    """For ``schedule``: API calls counted, the feed watched (changes on), metrics served (if asked);
    yields what hands each report to ``notify.observe``."""
    metrics.watch_api_calls()
    watch = FeedWatch(settings, store)
    thread = None
    if settings.changes_on:
        thread = threading.Thread(target=watch.run_forever, daemon=True, name="personio360-feed-watch")
        thread.start()
    server = MetricsServer(settings, store, *metrics_address).start() if metrics_address else None
    try:
        yield lambda report: notify.observe(settings, store, report)
    finally:
        watch.stop.set()
        if server is not None:
            server.stop()
        if thread is not None:
            thread.join(timeout=5)



"""Prometheus metrics (issue 14), named as Prometheus asks: base units, ``_total`` counters, bounded
labels (kind, outcome, service, endpoint template, status class; never an id, email or secret).

Run metrics come from the run records (R16), so they agree with ``personio360 runs`` whoever ran
them (the CLI, the schedule, the admin page) and survive a restart; each scrape reads only the
runs that ended since the previous one. API call metrics are this process's own, counted at the
one HTTP path (``http.caller``), attempt by attempt.
"""

from __future__ import annotations

__all__ = ["API_CALLS", "health", "readiness", "registry_for", "watch_api_calls"]

import datetime as dt
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from personio360.config import Settings
from personio360.http.caller import observe_calls
from personio360.store import Store

#: Run durations, in seconds: a changes run takes seconds, an initial sync of 10,000 an hour.
BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, float("inf"))
#: Outcomes of a run that synced (the last success times).
SUCCESS = ("completed", "completed with errors", "completed, deletions held back")
FAILED = ("failed", "stopped")

API_CALLS = PromCounter("personio360_api_calls", "API calls (each attempt) by service, endpoint template, "
                        "method and status class (none: no answer)",
                        ("service", "endpoint", "method", "status_class"), registry=None)
API_RATE_LIMITED = PromCounter("personio360_api_rate_limited", "API answers 429 Too Many Requests",
                               ("service", "endpoint"), registry=None)
API_RETRIES = PromCounter("personio360_api_retries", "API attempts after the first (retries)",
                          ("service", "endpoint"), registry=None)


def _count_call(service: str, method: str, template: str, status: int | None, attempt: int) -> None:
    status_class = "none" if status is None else f"{status // 100}xx"
    API_CALLS.labels(service, template, method.upper(), status_class).inc()
    if status == 429:
        API_RATE_LIMITED.labels(service, template).inc()
    if attempt > 1:
        API_RETRIES.labels(service, template).inc()


def watch_api_calls() -> None:
    """Count every API call of this process from now on (``serve``, ``schedule``)."""
    observe_calls(_count_call)


def registry_for(settings: Settings, store: Store, *,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> CollectorRegistry:
    """A registry with this process's API calls and the store's runs, feed and notifications."""
    registry = CollectorRegistry(auto_describe=True)
    for counter in (API_CALLS, API_RATE_LIMITED, API_RETRIES):
        registry.register(counter)
    registry.register(StoreCollector(settings, store, clock))
    return registry


class StoreCollector(Collector):
    """What the run records, the change feed and the notification log say, at each scrape."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], dt.datetime]) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self._lock = threading.Lock()
        self._upto = 0
        self._runs: Counter[tuple[str, str]] = Counter()
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self._sums: dict[str, float] = defaultdict(float)
        self._ops: Counter[tuple[str, str]] = Counter()
        self._skipped: Counter[str] = Counter()
        self._held_back = 0
        self._last_full: dict[str, Any] = {}

    def describe(self) -> Iterator[Any]:
        return iter(())  # collected at scrape time only: describing would read the store

    def _catch_up(self) -> None:
        start = self._upto
        while True:
            ended = self.store.tallies.ended_after(self._upto)
            if not ended:
                break
            for run in ended:
                self._runs[(run.kind, run.outcome)] += 1
                if run.duration is not None:
                    buckets = self._buckets[run.kind]
                    for index, bound in enumerate(BUCKETS):
                        if run.duration <= bound:
                            buckets[index] += 1
                    self._sums[run.kind] += run.duration
                for result in ("applied", "failed"):
                    for kind, count in (run.counts.get(result) or {}).items():
                        self._ops[(kind, result)] += int(count)
                self._held_back += int(run.counts.get("held_back") or 0)
                if run.kind == "full" and run.outcome in SUCCESS:
                    self._last_full = {"id": run.id, "held_back": int(run.counts.get("held_back") or 0)}
                self._upto = run.id
        if self._upto > start:
            self._skipped += self.store.tallies.errors_by_code(start, self._upto)

    def collect(self) -> Iterator[Any]:
        with self._lock:
            self._catch_up()
            yield from self._run_families()
        yield from self._live_families()

    def _run_families(self) -> Iterator[Any]:
        runs = CounterMetricFamily("personio360_runs", "Runs by kind (full, changes) and outcome",
                                   labels=("kind", "outcome"))
        for (kind, outcome), count in sorted(self._runs.items()):
            runs.add_metric((kind, outcome), count)
        yield runs
        duration = HistogramMetricFamily("personio360_run_duration_seconds", "How long runs took",
                                         labels=("kind",))
        for kind, counts in sorted(self._buckets.items()):
            buckets = [(_bound(b), float(c)) for b, c in zip(BUCKETS, counts, strict=True)]
            duration.add_metric((kind,), buckets, self._sums[kind])
        yield duration
        ops = CounterMetricFamily("personio360_operations", "Operations applied and failed, by kind",
                                  labels=("kind", "result"))
        for (kind, result), count in sorted(self._ops.items()):
            ops.add_metric((kind, result), count)
        yield ops
        skipped = CounterMetricFamily("personio360_employees_skipped",
                                      "Employees skipped by a run (R15), by reason", labels=("reason",))
        for code, count in sorted(self._skipped.items()):
            skipped.add_metric((code,), count)
        yield skipped
        held = CounterMetricFamily("personio360_deletions_held_back", "Deletions held back by runs (R13b)")
        held.add_metric((), self._held_back)
        yield held
        pending = GaugeMetricFamily("personio360_deletions_held_back_pending",
                                    "Deletions the last completed full sync held back (R13b)")
        pending.add_metric((), self._last_full.get("held_back", 0))
        yield pending

    def _live_families(self) -> Iterator[Any]:
        now = self.clock()
        last = GaugeMetricFamily("personio360_last_success_timestamp_seconds",
                                 "When the last run of each kind that synced ended (Unix time)",
                                 labels=("kind",))
        for kind in ("full", "changes"):
            run = self.store.runs.last_ended(kind, outcomes=SUCCESS)
            if run is not None and run.ended_at is not None:
                last.add_metric((kind,), run.ended_at.timestamp())
        yield last
        feed = self.store.feed.status()
        lag = GaugeMetricFamily("personio360_change_feed_lag_seconds",
                                "How long the oldest waiting change event has waited (0: none waiting)")
        waited = feed.lag(now)
        lag.add_metric((), max(waited.total_seconds(), 0.0) if waited is not None else 0.0)
        yield lag
        waiting = GaugeMetricFamily("personio360_change_feed_waiting_events",
                                    "Change events received and not yet processed by a changes run")
        waiting.add_metric((), feed.waiting)
        yield waiting
        if feed.last_poll is not None:
            poll = GaugeMetricFamily("personio360_change_feed_last_poll_timestamp_seconds",
                                     "When Personio was last polled successfully (Unix time)")
            poll.add_metric((), feed.last_poll.timestamp())
            yield poll
        sent = CounterMetricFamily("personio360_notifications",
                                   "Notifications by kind, delivered to every target or failed somewhere",
                                   labels=("kind", "result"))
        for (kind, result), count in sorted(self.store.notices.totals().items()):
            sent.add_metric((kind, result), count)
        yield sent


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else str(value)


def health() -> dict[str, str]:
    """``/healthz``: the process is up (nothing else is asked, nothing personal is said)."""
    return {"status": "ok"}


def readiness(store: Store) -> tuple[bool, dict[str, Any]]:
    """``/readyz``: the store is reachable and the last run did not fail or stop. Only the run's
    number, kind, outcome and end are shown: its message may name people."""
    try:
        store.tallies.ping()
        last = store.tallies.last_finished()
    except Exception:  # any failure to reach the store is the answer
        return False, {"status": "not ready", "store": "unreachable"}
    body: dict[str, Any] = {"store": "reachable", "last_run": None}
    if last is not None:
        body["last_run"] = {"id": last.id, "kind": last.kind, "outcome": last.outcome,
                            "ended_at": last.ended_at.isoformat() if last.ended_at else None}
    ready = last is None or last.outcome not in FAILED
    body["status"] = "ready" if ready else "not ready"
    if not ready:
        body["reason"] = "the last run failed or stopped"
    return ready, body

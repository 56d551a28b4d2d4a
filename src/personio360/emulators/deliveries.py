"""Outgoing webhook deliveries of both emulators: a due-time queue, one sender thread, retries.

Personio and 360Learning both push events to a subscriber's URL and retry failures on a
schedule. The mechanics are the same, so they live here once: an emulator describes *what*
to send (``Delivery.prepare``: URL, headers, body, rebuilt for every request so a changed
token or a rotated secret applies to retries) and *how to retry* (``RetrySchedule``), and
records each ``Outcome`` in its own activity log. The engine owns the rest:

- one daemon thread sends due deliveries one at a time, oldest due first, with an httpx
  client that never follows redirects and ignores proxy variables (loopback stays loopback);
- retry delays are divided by ``time_scale``, so a schedule of days runs in milliseconds in
  tests and benchmarks, while the per-request timeout stays real;
- the fault plan's delivery faults are drawn once per event when it is submitted
  (``FaultPlan.draw_delivery``), so a seeded plan replays identically: ``delivery_drop``
  (never sent), ``delivery_delay`` (first attempt ``delay`` seconds later),
  ``delivery_duplicate`` (sent twice), ``delivery_reorder`` (held back until the next
  delivery has gone out);
- ``wait_idle()`` returns once nothing is queued, held or in flight, so tests wait for
  deliveries without sleeping; ``close()`` stops the thread when the emulator shuts down.

The engine starts its thread on the first submission: an emulator nobody subscribes to costs
nothing.
"""

from __future__ import annotations

__all__ = ["Delivery", "DeliveryEngine", "Outcome", "Outgoing", "RetrySchedule"]

import datetime as dt
import heapq
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from personio360.emulators.faults import FaultPlan


@dataclass(frozen=True)
class RetrySchedule:
    """A vendor's documented policy: ``delays[n]`` seconds (before scaling) before attempt n.

    ``requests_per_attempt`` > 1 sends further requests back to back when one fails
    (Personio's "fast attempt"); ``retry(status)`` says whether a failure is retried at all
    (``status`` is ``None`` for a timeout or a connection error).
    """

    delays: tuple[float, ...]
    timeout: float
    retry: Callable[[int | None], bool]
    requests_per_attempt: int = 1

    @property
    def attempts(self) -> int:
        return len(self.delays)


@dataclass(frozen=True)
class Outgoing:
    """One HTTP request to make: always a POST of ``body``."""

    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What one request (or a skipped delivery) came to, for the emulator's activity log.

    ``skipped`` is set when no request was made: dropped by the fault plan, or given up
    because ``prepare()`` returned ``None`` (the subscription was deleted or disabled).
    ``final`` is set on the last outcome a delivery will ever have.
    """

    attempt: int
    request: int
    status: int | None
    error: str | None
    delivered: bool
    final: bool
    completed_at: dt.datetime
    duration: float
    skipped: bool = False


class Delivery(Protocol):
    """One event for one subscriber, as an emulator describes it to the engine."""

    @property
    def event_name(self) -> str: ...

    def prepare(self) -> Outgoing | None:
        """The request to send now, or ``None`` to give up (subscription gone or disabled)."""

    def record(self, outcome: Outcome) -> None:
        """Keep the outcome (activity log, event status); called from the sender thread."""


@dataclass
class _Entry:
    delivery: Delivery
    schedule: RetrySchedule
    attempt: int = 0
    held: bool = False
    copy: bool = False
    order: int = 0


@dataclass
class _Queue:
    heap: list[tuple[float, int, _Entry]] = field(default_factory=list)
    held: list[_Entry] = field(default_factory=list)
    in_flight: int = 0


class DeliveryEngine:
    """The sender of one emulator's deliveries; thread-safe; see the module docstring."""

    def __init__(self, *, faults: FaultPlan | None = None, time_scale: float = 1.0,
                 name: str = "deliveries") -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.faults = faults if faults is not None else FaultPlan()
        self.time_scale = time_scale
        self.name = name
        #: counters: ``submitted``, ``requests``, ``delivered``, ``failed`` (gave up),
        #: ``dropped``, ``duplicated``, ``delayed``, ``reordered``
        self.counts: Counter[str] = Counter()
        self._queue = _Queue()
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._paused = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    # --- what emulators call ------------------------------------------------------------

    def submit(self, delivery: Delivery, schedule: RetrySchedule) -> None:
        """Queue ``delivery`` for its first attempt now, applying the plan's delivery faults."""
        fired = self.faults.draw_delivery(delivery.event_name)
        kinds = {f.kind for f in fired}
        with self._cond:
            if self._closed:
                return
            self.counts["submitted"] += 1
            if "delivery_drop" in kinds:
                self.counts["dropped"] += 1
        if "delivery_drop" in kinds:
            delivery.record(_skipped("dropped by the fault plan"))
            return
        with self._cond:
            delay = sum(f.delay for f in fired if f.kind == "delivery_delay")
            if delay > 0:
                self.counts["delayed"] += 1
            entry = _Entry(delivery, schedule, order=next(self._seq))
            if "delivery_reorder" in kinds:
                self.counts["reordered"] += 1
                entry.held = True
                self._queue.held.append(entry)
            else:
                self._push(entry, time.monotonic() + delay)
            if "delivery_duplicate" in kinds:
                self.counts["duplicated"] += 1
                self._push(_Entry(delivery, schedule, copy=True, order=entry.order),
                           time.monotonic() + delay)
            self._start()
            self._cond.notify_all()

    def scaled(self, seconds: float) -> float:
        """``seconds`` of the vendor's clock in real seconds (retry delays, expiry windows)."""
        return seconds / self.time_scale

    # --- what tests call ----------------------------------------------------------------

    def pending(self) -> int:
        """Deliveries queued (retries included), held back or being sent right now."""
        with self._cond:
            q = self._queue
            return len(q.heap) + len(q.held) + q.in_flight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until ``pending()`` is 0 (held deliveries are released); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                q = self._queue
                if not q.heap and not q.in_flight and q.held:
                    self._release_held()
                if not (q.heap or q.held or q.in_flight):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))

    def pause(self) -> None:
        """Hold every delivery in the queue until ``resume()`` (to build a backlog)."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def snapshot(self) -> dict[str, object]:
        """What ``/_emulator/deliveries`` shows."""
        with self._cond:
            return {"pending": len(self._queue.heap) + len(self._queue.held)
                    + self._queue.in_flight, "paused": self._paused,
                    "time_scale": self.time_scale, "counts": dict(self.counts)}

    def close(self) -> None:
        """Stop sending (queued deliveries are abandoned) and join the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=20)
        if self._client is not None:
            self._client.close()

    # --- the sender ---------------------------------------------------------------------

    def _push(self, entry: _Entry, due: float) -> None:
        heapq.heappush(self._queue.heap, (due, next(self._seq), entry))

    def _release_held(self, before: int | None = None) -> None:
        """Queue the held deliveries submitted before ``before`` (all of them by default)."""
        now = time.monotonic()
        keep = []
        for entry in self._queue.held:
            if before is not None and entry.order >= before:
                keep.append(entry)
                continue
            entry.held = False
            self._push(entry, now)
        self._queue.held[:] = keep
        self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None:
            self._client = httpx.Client(follow_redirects=False, trust_env=False)
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"emulator-{self.name}")
            self._thread.start()

    def _next(self) -> _Entry | None:
        """The next due entry (marked in flight), or None once closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                heap = self._queue.heap
                now = time.monotonic()
                if heap and not self._paused and heap[0][0] <= now:
                    entry = heapq.heappop(heap)[2]
                    self._queue.in_flight += 1
                    return entry
                wait = heap[0][0] - now if heap and not self._paused else 0.5
                self._cond.wait(max(0.001, min(wait, 0.5)))

    def _run(self) -> None:
        while (entry := self._next()) is not None:
            try:
                retry_at = self._attempt(entry)
            except Exception as exc:  # a bug in one delivery must not stop the others
                retry_at = None
                entry.delivery.record(_skipped(f"emulator error: {type(exc).__name__}"))
            with self._cond:
                self._queue.in_flight -= 1
                if retry_at is not None and not self._closed:
                    self._push(entry, retry_at)
                if self._queue.held:  # a reordered delivery goes out after a later one
                    self._release_held(before=entry.order)
                self._cond.notify_all()

    def _attempt(self, entry: _Entry) -> float | None:
        """Send one attempt (one or more requests); the monotonic time of the next, if any."""
        schedule = entry.schedule
        for number in range(1, schedule.requests_per_attempt + 1):
            outgoing = entry.delivery.prepare()
            if outgoing is None:
                entry.delivery.record(_skipped("the subscription is gone or disabled"))
                return None
            status, error, took = self._post(outgoing, schedule.timeout)
            delivered = status is not None and 200 <= status < 300
            retriable = not delivered and schedule.retry(status)
            last_request = number == schedule.requests_per_attempt
            last_attempt = entry.attempt + 1 >= schedule.attempts
            final = delivered or not retriable or (last_request and last_attempt)
            self._count(delivered, final)
            entry.delivery.record(Outcome(
                attempt=entry.attempt + 1, request=number, status=status, error=error,
                delivered=delivered, final=final, completed_at=dt.datetime.now(dt.UTC),
                duration=took))
            if final:
                return None
        entry.attempt += 1
        return time.monotonic() + self.scaled(schedule.delays[entry.attempt])

    def _count(self, delivered: bool, final: bool) -> None:
        with self._cond:
            self.counts["requests"] += 1
            if delivered:
                self.counts["delivered"] += 1
            elif final:
                self.counts["failed"] += 1

    def _post(self, outgoing: Outgoing, timeout: float) -> tuple[int | None, str | None, float]:
        assert self._client is not None
        started = time.monotonic()
        try:
            response = self._client.post(outgoing.url, content=outgoing.body,
                                         headers=dict(outgoing.headers), timeout=timeout)
        except httpx.TimeoutException:
            return None, "timeout", time.monotonic() - started
        except httpx.HTTPError as exc:
            return None, f"connection error: {type(exc).__name__}", time.monotonic() - started
        return response.status_code, None, time.monotonic() - started


def _skipped(reason: str) -> Outcome:
    return Outcome(attempt=0, request=0, status=None, error=reason, delivered=False,
                   final=True, completed_at=dt.datetime.now(dt.UTC), duration=0.0, skipped=True)

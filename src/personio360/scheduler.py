"""``personio360 schedule``: syncs on the configured interval, in production only (R12).

One run at a time: each run takes the state store's lock, so a scheduled run never overlaps a
manual ``sync`` (it is skipped and retried at the next tick). A failed run does not stop the
schedule. SIGTERM and SIGINT end it cleanly: the run in progress finishes, no new one starts.
"""

from __future__ import annotations

__all__ = ["Schedule", "Timetable", "refuse_unless_production"]

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from personio360.config import Settings
from personio360.errors import ConfigError, Personio360Error, RunLocked
from personio360.sync.report import RunReport

log = logging.getLogger("personio360.schedule")


def refuse_unless_production(settings: Settings) -> None:
    """R12: the test environment runs only by hand."""
    if settings.environment != "production":
        raise ConfigError(
            f'the schedule runs only with environment = "production" (this config is '
            f'"{settings.environment}"): test runs are manual (R12)',
            hint='run personio360 sync by hand, or set environment = "production" in the config',
        )


@dataclass
class Schedule:
    """Runs ``run_once`` every ``interval`` seconds until ``stop`` is set.

    ``jitter`` spreads the ticks of many connectors (a fraction of the interval, random);
    ``wait`` is ``stop.wait`` unless a test injects its own clock.
    """

    run_once: Callable[[], RunReport]
    interval: float
    on_report: Callable[[RunReport], None] = lambda _report: None
    on_problem: Callable[[str], None] = lambda _message: None
    jitter: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    wait: Callable[[float], bool] | None = None
    runs: int = 0

    def run_forever(self) -> None:
        wait = self.wait or self.stop.wait
        while not self.stop.is_set():
            self._tick()
            self.runs += 1
            delay = self.interval * (1 + random.uniform(0, self.jitter)) if self.jitter else self.interval
            if wait(delay) or self.stop.is_set():
                break

    def _tick(self) -> None:
        try:
            self.on_report(self.run_once())
        except RunLocked:
            self.on_problem("another run holds the state store's lock: this tick is skipped")
        except Personio360Error as exc:
            self.on_problem(f"the run failed: {exc}" + (f" (fix: {exc.hint})" if exc.hint else ""))
        except Exception as exc:  # the schedule outlives one bad run
            log.exception("scheduled run crashed")
            self.on_problem(f"the run crashed: {type(exc).__name__}: {exc}")


@dataclass
class Timetable:
    """Production with changes on (R17): the full sync every ``full_every`` seconds, a changes
    run every ``poll_every`` (None: webhooks only) and within ``coalesce`` of a delivery; one
    run at a time, in this one thread, so a burst of events is one changes run, never 500.

    The first full sync runs at once (a changes run builds on one); a changes run due while
    another run holds the store's lock waits for the next tick. ``arrived`` is what the webhook
    receivers call: it only signals, from any thread.
    """

    run_full: Callable[[], RunReport]
    run_changes: Callable[[], RunReport]
    full_every: float
    poll_every: float | None
    coalesce: float = 1.0
    on_report: Callable[[RunReport], None] = lambda _report: None
    on_problem: Callable[[str], None] = lambda _message: None
    jitter: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic
    #: told when the next full sync is due (seconds from now), e.g. for the admin page
    on_next_full: Callable[[float], None] = lambda _delay: None
    runs: int = 0
    _wake: threading.Event = field(default_factory=threading.Event)

    def arrived(self) -> None:
        self._wake.set()

    def halt(self) -> None:
        self.stop.set()
        self._wake.set()

    def run_forever(self) -> None:
        next_full = self.clock()
        next_poll = next_full + (self.poll_every or 0)
        while not self.stop.is_set():
            now = self.clock()
            if now >= next_full:
                self._run(self.run_full)
                delay = self.full_every * (1 + random.uniform(0, self.jitter)) if self.jitter \
                    else self.full_every
                next_full = self.clock() + delay
                self.on_next_full(delay)
                next_poll = self.clock() + (self.poll_every or 0)
            elif self._wake.is_set():
                self.stop.wait(self.coalesce)  # a burst of deliveries: one run for all of it
                self._wake.clear()
                if not self.stop.is_set():
                    self._run(self.run_changes)
                    next_poll = self.clock() + (self.poll_every or 0)
            elif self.poll_every is not None and now >= next_poll:
                self._run(self.run_changes)
                next_poll = self.clock() + self.poll_every
            else:
                due = min(next_full, next_poll) if self.poll_every is not None else next_full
                self._wake.wait(min(1.0, max(0.0, due - now)))  # a stop is seen within a second

    def _run(self, run: Callable[[], RunReport]) -> None:
        self.runs += 1
        try:
            self.on_report(run())
        except RunLocked:
            self.on_problem("another run holds the state store's lock: this run waits for the next tick")
        except Personio360Error as exc:
            self.on_problem(f"the run failed: {exc}" + (f" (fix: {exc.hint})" if exc.hint else ""))
        except Exception as exc:  # the service outlives one bad run
            log.exception("scheduled run crashed")
            self.on_problem(f"the run crashed: {type(exc).__name__}: {exc}")

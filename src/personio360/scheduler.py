"""``personio360 schedule``: syncs on the configured interval, in production only (R12).

One run at a time: each run takes the state store's lock, so a scheduled run never overlaps a
manual ``sync`` (it is skipped and retried at the next tick). A failed run does not stop the
schedule. SIGTERM and SIGINT end it cleanly: the run in progress finishes, no new one starts.
"""

from __future__ import annotations

__all__ = ["Schedule", "refuse_unless_production"]

import logging
import random
import threading
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

"""The admin page's background work: one Preview or Run at a time, with its progress (issue 9).

A Preview reads both APIs and a Run applies a plan: both take longer than a page request
should, so each runs in a thread while the Overview polls (a meta refresh, no JavaScript).
One job at a time in this process; the run itself also takes the state store's lock, shared
with the CLI and the schedule (R14), so a run started elsewhere is never overlapped.
"""

from __future__ import annotations

__all__ = ["BusyError", "Job", "Jobs"]

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from personio360.errors import Personio360Error
from personio360.http.redact import redact

log = logging.getLogger("personio360.web")


class BusyError(Exception):
    """Another job is still running."""


@dataclass
class Job:
    """One Preview or Run: its phases' progress while it runs, then its result or error."""

    kind: str
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    ended_at: dt.datetime | None = None
    phases: dict[str, tuple[int, int]] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    hint: str | None = None

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def progress(self, phase: str, done: int, total: int) -> None:
        """The executor's progress callback (``sync.executor.Progress``)."""
        self.phases[phase] = (done, total)


class Jobs:
    """Starts jobs in a thread, one at a time; ``current`` is the last one started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Job | None = None
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None and self.current.running

    def start(self, kind: str, work: Callable[[Job], Any]) -> Job:
        """Run ``work(job)`` in a thread; ``BusyError`` if a job is still running."""
        with self._lock:
            if self.busy:
                raise BusyError(f"a {self.current.kind if self.current else 'job'} is still running")
            job = Job(kind)
            self.current = job
            self._thread = threading.Thread(target=self._run, args=(job, work), daemon=True,
                                            name=f"personio360-{kind}")
            self._thread.start()
            return job

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running job (at shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @staticmethod
    def _run(job: Job, work: Callable[[Job], Any]) -> None:
        try:
            job.result = work(job)
        except Personio360Error as exc:
            job.error, job.hint = redact(str(exc)), redact(exc.hint) if exc.hint else None
        except Exception as exc:  # the page reports it; the server keeps serving
            log.exception("the %s crashed", job.kind)
            job.error = redact(f"the {job.kind} crashed: {type(exc).__name__}: {exc}")
        finally:
            job.ended_at = dt.datetime.now(dt.UTC)

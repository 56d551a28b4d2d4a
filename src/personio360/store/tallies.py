"""Read-only tallies of the run records for ``/metrics`` and ``/readyz`` (issue 14): runs read
once each, in order, so a scrape reads only what ended since the last one."""

from __future__ import annotations

__all__ = ["EndedRun", "RunTallies"]

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from personio360.store.tables import ErrorRow, RunRow

RUNNING = "running"


@dataclass(frozen=True, slots=True)
class EndedRun:
    """A run that is no longer running: what the metrics count of it."""

    id: int
    kind: str
    outcome: str
    duration: float | None
    counts: dict[str, Any] = field(default_factory=dict)
    ended_at: dt.datetime | None = None


class RunTallies:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def ping(self) -> None:
        """Raise if the store cannot be reached."""
        with self._sessions() as session:
            session.execute(text("SELECT 1"))

    def ended_after(self, run_id: int, limit: int = 5000) -> list[EndedRun]:
        """Runs after ``run_id``, oldest first, up to the first one still running (runs are one at a
        time: what comes after a running run is counted once it ends)."""
        with self._sessions() as session:
            rows = session.execute(
                select(RunRow.id, RunRow.kind, RunRow.outcome, RunRow.started_at, RunRow.ended_at,
                       RunRow.counts).where(RunRow.id > run_id).order_by(RunRow.id).limit(limit))
            out = []
            for rid, kind, outcome, started, ended, counts in rows:
                if outcome == RUNNING:
                    break
                duration = (_utc(ended) - _utc(started)).total_seconds() if ended else None
                out.append(EndedRun(rid, kind or "full", outcome, duration, dict(counts or {}),
                                    _utc(ended) if ended else None))
            return out

    def errors_by_code(self, after: int, upto: int) -> Counter[str]:
        """Per-employee errors (R15) of the runs ``after < id <= upto``, by code."""
        with self._sessions() as session:
            rows = session.execute(select(ErrorRow.code, func.count()).where(
                ErrorRow.run_id > after, ErrorRow.run_id <= upto).group_by(ErrorRow.code))
            return Counter({code: n for code, n in rows})

    def last_finished(self) -> EndedRun | None:
        """The newest run that is not running."""
        with self._sessions() as session:
            row = session.execute(
                select(RunRow.id, RunRow.kind, RunRow.outcome, RunRow.started_at, RunRow.ended_at)
                .where(RunRow.outcome != RUNNING).order_by(RunRow.id.desc()).limit(1)).first()
        if row is None:
            return None
        rid, kind, outcome, started, ended = row
        return EndedRun(rid, kind or "full", outcome,
                        (_utc(ended) - _utc(started)).total_seconds() if ended else None,
                        ended_at=_utc(ended) if ended else None)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

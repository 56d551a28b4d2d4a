"""Repository of runs and their operation and error rows (R16)."""

from __future__ import annotations

__all__ = ["ErrorRecord", "OperationRecord", "RunDetail", "RunRepository", "RunSummary"]

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from personio360.http.redact import redact
from personio360.store.tables import ErrorRow, OperationRow, RunRow

RUNNING = "running"
INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    command: str
    environment: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str
    counts: dict[str, Any]
    message: str | None

    @property
    def duration(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


@dataclass(frozen=True, slots=True)
class OperationRecord:
    kind: str
    employee_id: int | None
    user_id: str | None
    outcome: str
    changes: list[Any]
    at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    employee_id: int | None
    code: str
    message: str
    at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RunDetail:
    run: RunSummary
    operations: list[OperationRecord] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)


class RunRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def start(self, command: str, environment: str) -> int:
        """Record a new run; runs left ``running`` by a killed process become ``interrupted``."""
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            session.execute(
                update(RunRow).where(RunRow.outcome == RUNNING).values(
                    outcome=INTERRUPTED, message="the process ended before the run finished")
            )
            row = RunRow(command=command, environment=environment, started_at=now,
                         outcome=RUNNING, counts={})
            session.add(row)
            session.flush()
            return row.id

    def finish(self, run_id: int, outcome: str, counts: dict[str, Any], message: str | None) -> None:
        with self._sessions.begin() as session:
            session.execute(update(RunRow).where(RunRow.id == run_id).values(
                outcome=outcome, counts=counts, message=redact(message) if message else None,
                ended_at=dt.datetime.now(dt.UTC)))

    def add_error(self, session: Session, run_id: int, error: ErrorRecord) -> None:
        session.add(ErrorRow(run_id=run_id, employee_id=error.employee_id, code=error.code,
                             message=redact(error.message), at=error.at or dt.datetime.now(dt.UTC)))

    def add_operation(self, session: Session, run_id: int, op: OperationRecord) -> None:
        session.add(OperationRow(run_id=run_id, kind=op.kind, employee_id=op.employee_id,
                                 user_id=op.user_id, outcome=op.outcome, changes=op.changes,
                                 at=op.at or dt.datetime.now(dt.UTC)))

    def recent(self, limit: int = 20) -> list[RunSummary]:
        with self._sessions() as session:
            rows = session.scalars(select(RunRow).order_by(RunRow.id.desc()).limit(limit))
            return [_summary(r) for r in rows]

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(RunRow)) or 0

    def detail(self, run_id: int) -> RunDetail | None:
        with self._sessions() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return None
            # plain rows, not ORM objects: an initial sync of 10,000 people has 70,000 of them
            ops = session.execute(
                select(OperationRow.kind, OperationRow.employee_id, OperationRow.user_id,
                       OperationRow.outcome, OperationRow.changes, OperationRow.at)
                .where(OperationRow.run_id == run_id).order_by(OperationRow.id))
            errors = session.execute(
                select(ErrorRow.employee_id, ErrorRow.code, ErrorRow.message, ErrorRow.at)
                .where(ErrorRow.run_id == run_id).order_by(ErrorRow.id))
            return RunDetail(
                run=_summary(row),
                operations=[OperationRecord(kind, emp, user, outcome, changes, _utc(at))
                            for kind, emp, user, outcome, changes, at in ops],
                errors=[ErrorRecord(emp, code, message, _utc(at)) for emp, code, message, at in errors],
            )


def _summary(row: RunRow) -> RunSummary:
    return RunSummary(row.id, row.command, row.environment, _utc(row.started_at),
                      _utc(row.ended_at) if row.ended_at else None, row.outcome,
                      dict(row.counts or {}), row.message)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

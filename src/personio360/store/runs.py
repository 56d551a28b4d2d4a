"""Repository of runs and their operation and error rows (R16)."""

from __future__ import annotations

__all__ = ["ErrorRecord", "OperationRecord", "PeoplePage", "RunDetail", "RunRepository", "RunSearch",
           "RunSummary"]

import datetime as dt
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String, Text, bindparam, case, cast, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from personio360.http.redact import redact
from personio360.store.tables import ErrorRow, OperationRow, RunRow

RUNNING = "running"
INTERRUPTED = "interrupted"
#: the operation kinds that remove a user (R5), counted against the deletion budget (R13b)
_REMOVALS = ("delete_user", "deactivate_user")


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
    #: ``full`` or ``changes`` (R17)
    kind: str = "full"

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


@dataclass(frozen=True, slots=True)
class RunSearch:
    """A search of one run's people, answered in SQL (a run may hold 70,000 operations).

    ``text`` is looked for, ignoring the case of ASCII letters, in what each operation stores:
    its user id, employee id (also as ``employee <id>``), outcome, and its changes' field names
    and values. What the store does not know, the caller finds: ``kinds`` whose label matches,
    and the ``employees`` whose readable name matches (``None``: the run-level operations).
    """

    text: str
    kinds: frozenset[str] = frozenset()
    employees: frozenset[int | None] = frozenset()


@dataclass(frozen=True, slots=True)
class PeoplePage:
    """One page of a run's people: how many people there are in all (matching the search, if
    any), and every operation of this page's people, in the order they were recorded."""

    total: int
    operations: list[OperationRecord]


class RunRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        bind = sessions.kw.get("bind")
        self._dialect: str = bind.dialect.name if bind is not None else ""

    def start(self, command: str, environment: str, kind: str = "full") -> int:
        """Record a new run; runs left ``running`` by a killed process become ``interrupted``."""
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            session.execute(
                update(RunRow).where(RunRow.outcome == RUNNING).values(
                    outcome=INTERRUPTED, message="the process ended before the run finished")
            )
            row = RunRow(command=command, kind=kind, environment=environment, started_at=now,
                         outcome=RUNNING, counts={})
            session.add(row)
            session.flush()
            return row.id

    def finish(self, run_id: int, outcome: str, counts: dict[str, Any], message: str | None,
               *, also: Callable[[Session], None] | None = None) -> None:
        """Record the run's end; ``also`` writes in the same transaction what must land with it
        (R17: a completed run's change cursor and processed events, or neither)."""
        with self._sessions.begin() as session:
            session.execute(update(RunRow).where(RunRow.id == run_id).values(
                outcome=outcome, counts=counts, message=redact(message) if message else None,
                ended_at=dt.datetime.now(dt.UTC)))
            if also is not None:
                also(session)

    def deletions_since(self, since: dt.datetime) -> int:
        """R13b across runs (R17): users removed (deleted or deactivated) since ``since``, by
        every run of this store, full or changes."""
        with self._sessions() as session:
            return session.scalar(
                select(func.count()).select_from(OperationRow)
                .where(OperationRow.kind.in_(_REMOVALS), OperationRow.outcome == "applied",
                       OperationRow.at >= since)) or 0

    def last_writes(self, user_ids: Collection[str]) -> dict[str, tuple[dt.datetime, dt.datetime]]:
        """When each of these users was last written by the connector, with the start of the
        run that wrote it (R17: echoes occur within that span)."""
        ids = sorted(set(user_ids))
        out: dict[str, tuple[dt.datetime, dt.datetime]] = {}
        with self._sessions() as session:
            for start in range(0, len(ids), 500):
                rows = session.execute(
                    select(OperationRow.user_id, OperationRow.at, RunRow.started_at)
                    .join(RunRow, RunRow.id == OperationRow.run_id)
                    .where(OperationRow.user_id.in_(ids[start:start + 500]),
                           OperationRow.outcome == "applied")
                    .order_by(OperationRow.at))
                out.update({user: (_utc(began), _utc(at)) for user, at, began in rows
                            if user is not None and at is not None})
        return out

    def last_ended(self, kind: str, *, outcomes: Collection[str]) -> RunSummary | None:
        """The newest run of ``kind`` that ended with one of ``outcomes``."""
        with self._sessions() as session:
            row = session.scalars(select(RunRow).where(RunRow.kind == kind, RunRow.outcome.in_(outcomes))
                                  .order_by(RunRow.id.desc()).limit(1)).first()
            return _summary(row) if row is not None else None

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

    def summary(self, run_id: int) -> RunSummary | None:
        with self._sessions() as session:
            row = session.get(RunRow, run_id)
            return _summary(row) if row is not None else None

    def operation_count(self, run_id: int) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(OperationRow)
                                  .where(OperationRow.run_id == run_id)) or 0

    def errors(self, run_id: int) -> list[ErrorRecord]:
        with self._sessions() as session:
            rows = session.execute(
                select(ErrorRow.employee_id, ErrorRow.code, ErrorRow.message, ErrorRow.at)
                .where(ErrorRow.run_id == run_id).order_by(ErrorRow.id))
            return [ErrorRecord(emp, code, message, _utc(at)) for emp, code, message, at in rows]

    def people(self, run_id: int, *, offset: int = 0, limit: int = 100,
               search: RunSearch | None = None) -> PeoplePage:
        """People ``offset`` to ``offset + limit`` of the run, in the order each first appears,
        with all their operations (a person is never split across pages), and the total.

        A run's page shows 100 people: reading every operation of a 10,000-person initial sync
        took over a second, so the people, the search and the count are all done in SQL.
        """
        first = func.min(OperationRow.id).label("first")
        people = (select(OperationRow.employee_id, first).where(OperationRow.run_id == run_id)
                  .group_by(OperationRow.employee_id))
        if search is not None:
            people = people.having(_matches(search, self._dialect))
        found = people.subquery()
        with self._sessions() as session:
            page = session.execute(
                select(found.c.employee_id, func.count().over())
                .order_by(found.c.first).limit(limit).offset(offset)).all()
            if page:
                total = page[0][1]
            elif offset:  # past the last page: the count alone
                total = session.scalar(select(func.count()).select_from(found)) or 0
            else:
                total = 0
            ids = [emp for emp, _total in page]
            if not ids:
                return PeoplePage(total, [])
            chosen: ColumnElement[bool] = OperationRow.employee_id.in_([e for e in ids if e is not None])
            if None in ids:
                chosen = or_(chosen, OperationRow.employee_id.is_(None))
            ops = session.execute(_operations().where(OperationRow.run_id == run_id, chosen)
                                  .order_by(OperationRow.id))
            return PeoplePage(total, [OperationRecord(kind, emp, user, outcome, changes, _utc(at))
                                      for kind, emp, user, outcome, changes, at in ops])

    def changes_of(self, run_id: int, fields: Collection[str],
                   employees: Collection[int] | None = None) -> list[tuple[int | None, list[Any]]]:
        """(employee, changes) of the run's operations that may change one of ``fields`` (of these
        ``employees`` only, if given), in order: the names a run recorded, and the ids the page
        shows by name, without reading every operation."""
        if not fields or (employees is not None and not employees):
            return []
        where = [OperationRow.run_id == run_id,
                 or_(*(cast(OperationRow.changes, Text).contains(json.dumps(f), autoescape=True)
                       for f in fields))]
        if employees is not None:
            where.append(OperationRow.employee_id.in_(_inline(employees)))
        with self._sessions() as session:
            # the text, decoded here: 10,000 rows through the JSON type took twice as long
            rows = session.execute(select(OperationRow.employee_id, cast(OperationRow.changes, Text))
                                   .where(*where).order_by(OperationRow.id))
            return [(emp, json.loads(changes) if changes else []) for emp, changes in rows]

    def detail(self, run_id: int) -> RunDetail | None:
        with self._sessions() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                return None
            # plain rows, not ORM objects: an initial sync of 10,000 people has 70,000 of them
            ops = session.execute(_operations().where(OperationRow.run_id == run_id)
                                  .order_by(OperationRow.id))
            errors = session.execute(
                select(ErrorRow.employee_id, ErrorRow.code, ErrorRow.message, ErrorRow.at)
                .where(ErrorRow.run_id == run_id).order_by(ErrorRow.id))
            return RunDetail(
                run=_summary(row),
                operations=[OperationRecord(kind, emp, user, outcome, changes, _utc(at))
                            for kind, emp, user, outcome, changes, at in ops],
                errors=[ErrorRecord(emp, code, message, _utc(at)) for emp, code, message, at in errors],
            )


def _operations() -> Any:
    return select(OperationRow.kind, OperationRow.employee_id, OperationRow.user_id,
                  OperationRow.outcome, OperationRow.changes, OperationRow.at)


#: What a change's JSON holds besides its values: its keys and the text between its strings.
_STRUCTURE = ("name", "before", "after", ": null}, {", ": null, ", ": null}]", "[{")


def _matches(search: RunSearch, dialect: str) -> ColumnElement[bool]:
    """A person (a group of operations by employee) matches when one of their operations does."""
    text = search.text.lower()

    def like(column: ColumnElement[Any] | InstrumentedAttribute[Any], value: str) -> ColumnElement[bool]:
        # SQLite's LIKE already ignores the case of ASCII letters; lower() on 70,000 rows costs
        if dialect == "sqlite":
            return column.contains(value, autoescape=True)
        return column.icontains(value, autoescape=True)

    # changes are stored as JSON, [{"name": ..., "before": ..., "after": ...}], non-ASCII text
    # escaped (\u00fc): the text is looked for escaped too, and where it could be found in the
    # keys or between the strings, they are taken out first (rarely: it costs a third more)
    changes: ColumnElement[str] = cast(OperationRow.changes, Text)
    escaped = json.dumps(text)[1:-1]
    if '"' in escaped or any(escaped in part for part in _STRUCTURE):
        for token in ('"before": null', '"after": null', '"name": ', '"before": ', '"after": '):
            changes = func.replace(changes, token, "")
    hits = [like(OperationRow.user_id, text), like(OperationRow.outcome, text), like(changes, escaped)]
    if escaped != text:
        typed = json.dumps(search.text)[1:-1]  # SQLite's LIKE lowers ASCII letters only: Ä is not ä
        hits += [like(changes, text)] + ([like(changes, typed)] if typed != escaped else [])
    # each LIKE costs on 70,000 rows: the employee id only when the text could be part of one
    employee = cast(OperationRow.employee_id, String)
    if text.isdigit():
        hits.append(employee.contains(text, autoescape=True))
    elif _placeholder(text):
        hits.append(like("employee " + employee, text))
    if search.kinds:
        hits.append(OperationRow.kind.in_(sorted(search.kinds)))
    found = [func.max(case((or_(*hits), 1), else_=0)) == 1]
    named = [e for e in search.employees if e is not None]
    if named:
        found.append(OperationRow.employee_id.in_(_inline(named)))
    if None in search.employees:
        found.append(OperationRow.employee_id.is_(None))
    return or_(*found)


def _inline(employees: Collection[int]) -> Any:
    """Employee ids written into the SQL (integers only): a name may match thousands of employees,
    more than a database accepts as bound parameters."""
    return bindparam("employees", sorted(employees), expanding=True, literal_execute=True)


def _placeholder(text: str) -> bool:
    """Whether ``text`` can be part of ``employee 123``, what the page shows for an unnamed employee."""
    digits = len(text) - len(text.rstrip("0123456789"))
    words = text[:len(text) - digits]
    return "employee ".endswith(words) if digits else words in "employee "


def _summary(row: RunRow) -> RunSummary:
    return RunSummary(row.id, row.command, row.environment, _utc(row.started_at),
                      _utc(row.ended_at) if row.ended_at else None, row.outcome,
                      dict(row.counts or {}), row.message, row.kind or "full")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

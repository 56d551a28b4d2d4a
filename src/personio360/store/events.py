"""The change feed's memory (R17): received deliveries, the poll cursor, and what each employee
was last synced from. Nothing here trusts a delivery's content: an event only names whom to
re-read.

Why the store holds it: a delivery is answered (2xx) only once it is recorded, so a crash after
the answer loses nothing; the cursor and the events move on only in the transaction that
records a completed run (``RunRepository.finish(also=...)``), so a failed or killed run leaves
both as they were, and the next run reads the same changes again.
"""

from __future__ import annotations

__all__ = ["ChangeEvent", "ChangeFeed", "FeedStatus", "Seen", "commit_feed"]

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from personio360.store.tables import ChangeEventRow, EmployeeSeenRow, FeedMarkerRow

#: the marker names (``feed_markers``)
CURSOR = "personio.updated_since"
LAST_POLL = "personio.last_poll"
LAST_EVENT = "last_event"
#: ids per statement: well under SQLite's bound-parameter limit
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A recorded delivery: who it names (an employee, or a 360Learning user), never their data."""

    id: int
    provider: str
    event_name: str
    employee_id: int | None
    user_id: str | None
    occurred_at: dt.datetime | None
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Seen:
    """What a completed run last synced one employee from (R17)."""

    employee_id: int
    last_modified_at: str | None
    supervisor_id: int | None
    in_scope: bool
    digest: str
    email_key: str | None = None


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The change feed at a glance (admin page, ``/metrics``, notifications)."""

    cursor: dt.datetime | None
    last_poll: dt.datetime | None
    last_event: dt.datetime | None
    waiting: int
    oldest_waiting: dt.datetime | None

    def lag(self, now: dt.datetime) -> dt.timedelta | None:
        """How long the oldest waiting event has waited (none waiting: no lag)."""
        return now - self.oldest_waiting if self.oldest_waiting is not None else None


class ChangeFeed:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- deliveries ---------------------------------------------------------------------

    def record(self, provider: str, event_key: str, event_name: str, *, employee_id: int | None = None,
               user_id: str | None = None, occurred_at: dt.datetime | None = None) -> bool:
        """Record one verified delivery; ``False`` for a duplicate (same provider and key),
        which changes nothing: deliveries come at least once."""
        now = dt.datetime.now(dt.UTC)
        try:
            with self._sessions.begin() as session:
                session.add(ChangeEventRow(provider=provider, event_key=event_key[:200],
                                           event_name=event_name[:100], employee_id=employee_id,
                                           user_id=user_id, occurred_at=occurred_at, received_at=now))
                _mark(session, LAST_EVENT, now, None)
        except IntegrityError:
            return False
        return True

    def pending(self) -> list[ChangeEvent]:
        """Every event no completed run has processed yet, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(ChangeEventRow).where(ChangeEventRow.processed_at.is_(None))
                                   .order_by(ChangeEventRow.id))
            return [_event(row) for row in rows]

    def status(self) -> FeedStatus:
        with self._sessions() as session:
            waiting, oldest = session.execute(
                select(func.count(), func.min(ChangeEventRow.received_at))
                .where(ChangeEventRow.processed_at.is_(None))).one()
            markers = {row.name: _utc(row.at) for row in session.scalars(select(FeedMarkerRow))}
        return FeedStatus(cursor=markers.get(CURSOR), last_poll=markers.get(LAST_POLL),
                          last_event=markers.get(LAST_EVENT), waiting=int(waiting or 0),
                          oldest_waiting=_utc(oldest) if oldest is not None else None)

    def cursor(self) -> dt.datetime | None:
        """Where the next poll of ``updated_since`` starts (None: no completed run yet)."""
        with self._sessions() as session:
            row = session.get(FeedMarkerRow, CURSOR)
            return _utc(row.at) if row is not None else None

    # --- what each employee was synced from ---------------------------------------------

    def seen(self, employee_ids: Collection[int]) -> dict[int, Seen]:
        out: dict[int, Seen] = {}
        ids = sorted(set(employee_ids))
        with self._sessions() as session:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                for row in session.scalars(select(EmployeeSeenRow)
                                           .where(EmployeeSeenRow.employee_id.in_(chunk))):
                    out[row.employee_id] = _seen(row)
        return out

    def reports_of(self, supervisor_ids: Collection[int]) -> set[int]:
        """The employees whose supervisor was one of these when last synced (R9)."""
        ids = sorted(set(supervisor_ids))
        found: set[int] = set()
        with self._sessions() as session:
            for start in range(0, len(ids), _CHUNK):
                found.update(session.scalars(
                    select(EmployeeSeenRow.employee_id)
                    .where(EmployeeSeenRow.supervisor_id.in_(ids[start:start + _CHUNK]))))
        return found

    def holders(self, email_keys: Collection[str]) -> dict[str, set[int]]:
        """The in-scope employees last synced with each of these email digests (R15)."""
        keys = sorted(set(email_keys))
        out: dict[str, set[int]] = {}
        with self._sessions() as session:
            for start in range(0, len(keys), _CHUNK):
                rows = session.execute(
                    select(EmployeeSeenRow.email_key, EmployeeSeenRow.employee_id)
                    .where(EmployeeSeenRow.email_key.in_(keys[start:start + _CHUNK]),
                           EmployeeSeenRow.in_scope.is_(True)))
                for key, employee_id in rows:
                    if key is not None:
                        out.setdefault(key, set()).add(employee_id)
        return out

    def in_scope_elsewhere(self) -> frozenset[int]:
        """Employees a completed run last left in scope (R9 for reports of people not re-read)."""
        with self._sessions() as session:
            return frozenset(session.scalars(select(EmployeeSeenRow.employee_id)
                                             .where(EmployeeSeenRow.in_scope.is_(True))))

    def held_back(self) -> set[int]:
        """Employees last seen out of scope: those still linked are held-back leavers (R13b)."""
        with self._sessions() as session:
            return set(session.scalars(select(EmployeeSeenRow.employee_id)
                                       .where(EmployeeSeenRow.in_scope.is_(False))))

    def any_seen(self) -> bool:
        with self._sessions() as session:
            return session.scalar(select(EmployeeSeenRow.employee_id).limit(1)) is not None


def commit_feed(session: Session, run_id: int | None, *, seen: Iterable[Seen], whole: bool,
                events: Collection[int] = (), cursor: dt.datetime | None = None,
                polled_at: dt.datetime | None = None) -> None:
    """What a completed run moves on, in the transaction that records its end (R17).

    ``whole``: ``seen`` is every employee Personio returned (a full sync), so it replaces what
    was seen before, and an employee no longer listed is forgotten; otherwise it updates the
    employees it names. ``events`` are marked processed by ``run_id``; ``cursor`` (if given)
    becomes the next poll's start."""
    seen = list(seen)
    assert run_id is not None or not seen, "what was synced belongs to a run"
    rows = [{"employee_id": s.employee_id, "last_modified_at": s.last_modified_at,
             "supervisor_id": s.supervisor_id, "in_scope": s.in_scope, "digest": s.digest,
             "email_key": s.email_key,
             "run_id": run_id} for s in seen]
    if whole:
        session.execute(delete(EmployeeSeenRow))
    else:
        employees = [s.employee_id for s in seen]
        for start in range(0, len(employees), _CHUNK):
            session.execute(delete(EmployeeSeenRow)
                            .where(EmployeeSeenRow.employee_id.in_(employees[start:start + _CHUNK])))
    if rows:
        session.execute(insert(EmployeeSeenRow), rows)
    now = dt.datetime.now(dt.UTC)
    ids = sorted(events)
    for start in range(0, len(ids), _CHUNK):
        session.execute(update(ChangeEventRow).where(ChangeEventRow.id.in_(ids[start:start + _CHUNK]))
                        .values(processed_at=now, run_id=run_id))
    if cursor is not None:
        _mark(session, CURSOR, cursor, run_id)
    if polled_at is not None:
        _mark(session, LAST_POLL, polled_at, run_id)


def _mark(session: Session, name: str, at: dt.datetime, run_id: int | None) -> None:
    row = session.get(FeedMarkerRow, name)
    if row is None:
        session.add(FeedMarkerRow(name=name, at=at, run_id=run_id))
    else:
        row.at, row.run_id = at, run_id


def _event(row: ChangeEventRow) -> ChangeEvent:
    return ChangeEvent(row.id, row.provider, row.event_name, row.employee_id, row.user_id,
                       _utc(row.occurred_at) if row.occurred_at else None, _utc(row.received_at))


def _seen(row: EmployeeSeenRow) -> Seen:
    return Seen(row.employee_id, row.last_modified_at, row.supervisor_id, bool(row.in_scope), row.digest,
                row.email_key)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

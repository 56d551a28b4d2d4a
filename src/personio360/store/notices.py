"""Repository of the notification state (issue 14): open problems, and the messages sent."""

from __future__ import annotations

__all__ = ["Notice", "NoticeRepository", "SentNotification"]

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from personio360.http.redact import redact
from personio360.store.tables import NoticeRow, NotificationRow


@dataclass(frozen=True, slots=True)
class Notice:
    """An open problem: ``subjects`` are what was already reported of it (skipped employees)."""

    key: str
    kind: str
    opened_at: dt.datetime
    last_sent_at: dt.datetime | None = None
    reminders: int = 0
    subjects: tuple[str, ...] = ()
    summary: str = ""
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class SentNotification:
    """One message, as the admin page lists it: ``failures`` are (masked target, reason)."""

    id: int
    at: dt.datetime
    kind: str
    phase: str
    title: str
    body: str
    targets: int
    delivered: int
    failures: tuple[tuple[str, str], ...] = ()
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.delivered == self.targets


class NoticeRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def open_problems(self) -> dict[str, Notice]:
        with self._sessions() as session:
            return {row.key: _notice(row) for row in session.scalars(select(NoticeRow))}

    def save(self, notice: Notice) -> None:
        """Open the problem, or update it (another process may have opened it meanwhile)."""
        with self._sessions.begin() as session:
            session.merge(NoticeRow(key=notice.key, kind=notice.kind, opened_at=notice.opened_at,
                                    last_sent_at=notice.last_sent_at, reminders=notice.reminders,
                                    subjects=list(notice.subjects), summary=redact(notice.summary)[:2000],
                                    run_id=notice.run_id))

    def close(self, key: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(NoticeRow).where(NoticeRow.key == key))

    def record(self, *, at: dt.datetime, kind: str, phase: str, title: str, body: str, targets: int,
               failures: list[tuple[str, str]], run_id: int | None = None) -> int:
        """Keep a message sent (or tried); text through ``redact`` like every record (R16)."""
        with self._sessions.begin() as session:
            row = NotificationRow(at=at, kind=kind, phase=phase, title=redact(title)[:300], body=redact(body),
                                  targets=targets, delivered=targets - len(failures),
                                  failures=[{"target": t, "error": redact(e)} for t, e in failures],
                                  run_id=run_id)
            session.add(row)
            session.flush()
            return row.id

    def recent(self, limit: int = 20) -> list[SentNotification]:
        with self._sessions() as session:
            rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id.desc()).limit(limit))
            return [_sent(row) for row in rows]

    def totals(self) -> Counter[tuple[str, str]]:
        """Messages by (kind, ``delivered`` or ``failed``): ``failed`` when a target missed it."""
        with self._sessions() as session:
            missed = NotificationRow.delivered < NotificationRow.targets
            rows = session.execute(select(NotificationRow.kind, missed, func.count())
                                   .group_by(NotificationRow.kind, missed))
            return Counter({(kind, "failed" if missed else "delivered"): n for kind, missed, n in rows})


def _notice(row: NoticeRow) -> Notice:
    sent = _utc(row.last_sent_at) if row.last_sent_at else None
    return Notice(row.key, row.kind, _utc(row.opened_at), sent, row.reminders or 0,
                  tuple(row.subjects or ()), row.summary or "", row.run_id)


def _sent(row: NotificationRow) -> SentNotification:
    return SentNotification(row.id, _utc(row.at), row.kind, row.phase, row.title, row.body, row.targets,
                            row.delivered, tuple((f["target"], f["error"]) for f in row.failures or ()),
                            row.run_id)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

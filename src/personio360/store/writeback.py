"""Repository of R18's write-back cursors: how far each item's completions were written."""

from __future__ import annotations

__all__ = ["WritebackCursors"]

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from personio360.store.tables import WritebackCursorRow


class WritebackCursors:
    """The cursors, read before a full sync and moved by it once completed (R18)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def all(self) -> dict[str, dt.datetime]:
        """Item key -> the completion date its next read starts from (UTC)."""
        with self._sessions() as session:
            return {row.item: _utc(row.completed_since)
                    for row in session.scalars(select(WritebackCursorRow))}

    @staticmethod
    def advance(session: Session, cursors: Mapping[str, dt.datetime], run_id: int | None) -> None:
        """Set each item's cursor (in the caller's transaction: the run's end)."""
        now = dt.datetime.now(dt.UTC)
        for item, since in cursors.items():
            row = session.get(WritebackCursorRow, item)
            if row is None:
                session.add(WritebackCursorRow(item=item, completed_since=since, run_id=run_id,
                                               updated_at=now))
            else:
                row.completed_since, row.run_id, row.updated_at = since, run_id, now


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

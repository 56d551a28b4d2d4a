"""Repository of previews made by queue jobs (issue 15): the plan documents a Run now applies.

In single-company mode a preview lives in the server's memory (``web/admin.py``); in a
deployment the preview job runs on some worker and the page is served by another process, so
the plan document (``sync.saved``) is kept here, in the company's own store, where the page,
the Run now job and ``companies show`` read it. Only the latest few are kept.
"""

from __future__ import annotations

__all__ = ["KEPT", "StoredPreview", "StoredPreviews"]

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from personio360.store.tables import PreviewRow

#: previews kept per company (older ones are deleted as new ones are saved)
KEPT = 10


@dataclass(frozen=True, slots=True)
class StoredPreview:
    """A preview as stored: its plan document (``None`` when it could not be made: ``problem``
    says why) and the run of its Run now once one used it up."""

    id: int
    made_at: dt.datetime
    allow_deletions: bool
    job_id: int | None
    summary: dict[str, Any] | None
    document: dict[str, Any] | None
    problem: str | None
    hint: str | None
    run_id: int | None

    @property
    def appliable(self) -> bool:
        """A plan was made and no Run now has used it yet."""
        return self.summary is not None and self.run_id is None


class StoredPreviews:
    """The company's previews, newest last."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, made_at: dt.datetime, *, allow_deletions: bool, job_id: int | None,
             document: dict[str, Any] | None = None, problem: str | None = None,
             hint: str | None = None) -> int:
        """Record a preview (a plan document, or the ``problem`` that stopped it); its id."""
        with self._sessions.begin() as session:
            row = PreviewRow(made_at=made_at, allow_deletions=allow_deletions, job_id=job_id,
                             summary=document["summary"] if document is not None else None,
                             document=document, problem=problem, hint=hint)
            session.add(row)
            session.flush()
            kept = select(PreviewRow.id).order_by(PreviewRow.id.desc()).limit(KEPT).scalar_subquery()
            session.execute(delete(PreviewRow).where(PreviewRow.id.not_in(kept)))
            return row.id

    def latest(self, *, document: bool = False) -> StoredPreview | None:
        """The newest preview; its plan document only when asked (it may hold 10,000 people)."""
        with self._sessions() as session:
            row_id = session.scalar(select(PreviewRow.id).order_by(PreviewRow.id.desc()).limit(1))
        return None if row_id is None else self.get(row_id, document=document)

    def get(self, preview_id: int, *, document: bool = True) -> StoredPreview | None:
        with self._sessions() as session:
            row = session.get(PreviewRow, preview_id)
            if row is None:
                return None
            return StoredPreview(row.id, _utc(row.made_at), row.allow_deletions, row.job_id, row.summary,
                                 row.document if document else None, row.problem, row.hint, row.run_id)

    def used(self, preview_id: int, run_id: int) -> None:
        """A Run now applied the preview (or refused it): it is not applied a second time."""
        with self._sessions.begin() as session:
            session.execute(update(PreviewRow).where(PreviewRow.id == preview_id).values(run_id=run_id))


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

"""Repository of links (R2) and owned custom fields (R8): returns domain objects, hides Sessions."""

from __future__ import annotations

__all__ = ["LinkRepository", "OwnedField", "close_link", "open_link", "own_field"]

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from personio360.domain import Link
from personio360.store.tables import LinkRow, OwnedFieldRow


@dataclass(frozen=True, slots=True)
class OwnedField:
    """R8: the connector owns ``field_id`` for the configured ``name`` of ``attribute``."""

    attribute: str
    name: str
    field_id: str


class LinkRepository:
    """The links the connector holds; a closed link is history, never reused."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def active(self) -> dict[int, Link]:
        """Every open link, by employee id."""
        with self._sessions() as session:
            rows = session.scalars(select(LinkRow).where(LinkRow.closed_at.is_(None)))
            return {row.employee_id: _link(row) for row in rows}

    def employee_of(self, user_id: str) -> int | None:
        """The employee whose open link holds ``user_id``; None: the connector does not manage
        that user (R6). One indexed lookup: the webhook receiver asks on every delivery (R17)."""
        with self._sessions() as session:
            return session.scalar(select(LinkRow.employee_id)
                                  .where(LinkRow.user_id == user_id, LinkRow.closed_at.is_(None))
                                  .limit(1))

    def history(self, employee_id: int) -> list[Link]:
        with self._sessions() as session:
            rows = session.scalars(
                select(LinkRow).where(LinkRow.employee_id == employee_id).order_by(LinkRow.id)
            )
            return [_link(row) for row in rows]

    def owned_fields(self) -> list[OwnedField]:
        with self._sessions() as session:
            rows = session.scalars(select(OwnedFieldRow).order_by(OwnedFieldRow.id))
            return [OwnedField(r.attribute, r.name, r.field_id) for r in rows]


def open_link(session: Session, employee_id: int, user_id: str, origin: str, at: dt.datetime) -> None:
    """Open a link in ``session``'s transaction, closing any other open link of that employee or user."""
    session.execute(
        update(LinkRow)
        .where(LinkRow.closed_at.is_(None))
        .where((LinkRow.employee_id == employee_id) | (LinkRow.user_id == user_id))
        .values(closed_at=at, closed_reason="replaced by a new link")
    )
    session.add(LinkRow(employee_id=employee_id, user_id=user_id, origin=origin, since=at))


def close_link(session: Session, employee_id: int, reason: str, at: dt.datetime) -> None:
    session.execute(
        update(LinkRow)
        .where(LinkRow.closed_at.is_(None), LinkRow.employee_id == employee_id)
        .values(closed_at=at, closed_reason=reason[:200])
    )


def own_field(session: Session, attribute: str, name: str, field_id: str, at: dt.datetime) -> None:
    existing = session.scalar(select(OwnedFieldRow).where(OwnedFieldRow.field_id == field_id))
    if existing is None:
        session.add(OwnedFieldRow(attribute=attribute, name=name, field_id=field_id, since=at))
    else:
        existing.attribute, existing.name = attribute, name


def _link(row: LinkRow) -> Link:
    return Link(
        employee_id=row.employee_id,
        user_id=row.user_id,
        origin=row.origin,
        since=_utc(row.since),
        closed_at=_utc(row.closed_at) if row.closed_at else None,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

"""Group activation (issue 9): which synced groups are active, kept in the state store.

The seed's administrator "activates the integration group by group" from the settings page.
The config's ``enabled`` is only the starting value: once the admin page switches a group,
the state store's choice wins, for the admin page and for ``plan``, ``sync`` and ``check``
alike (``activated`` gives the settings every service plans with).
"""

from __future__ import annotations

__all__ = ["Activation", "ActivationRepository", "ActivationRow", "activated"]

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Boolean, DateTime, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from personio360.config import Settings
from personio360.store.tables import Base


class ActivationRow(Base):
    """One synced group's activation, as last switched on the admin page."""

    __tablename__ = "group_activation"
    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True, slots=True)
class Activation:
    """A stored switch: the group, whether it is active, and when it was switched."""

    group_id: str
    enabled: bool
    changed_at: dt.datetime


class ActivationRepository:
    """The stored switches; a group never switched keeps its config value."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def all(self) -> dict[str, Activation]:
        """Every stored switch, by group id."""
        with self._sessions() as session:
            rows = session.scalars(select(ActivationRow))
            return {r.group_id: Activation(r.group_id, r.enabled, _utc(r.changed_at)) for r in rows}

    def overrides(self) -> dict[str, bool]:
        """Group id -> active, for ``activated``."""
        return {group_id: a.enabled for group_id, a in self.all().items()}

    def set(self, group_id: str, enabled: bool) -> None:
        """Switch one group on or off (the admin page's Activate / Deactivate)."""
        now = dt.datetime.now(dt.UTC)
        with self._sessions.begin() as session:
            row = session.get(ActivationRow, group_id.lower())
            if row is None:
                session.add(ActivationRow(group_id=group_id.lower(), enabled=enabled, changed_at=now))
            else:
                row.enabled, row.changed_at = enabled, now


def activated(settings: Settings, overrides: Mapping[str, bool]) -> Settings:
    """``settings`` with each synced group's ``enabled`` replaced by its stored switch, if any.

    Pure; applying it twice changes nothing. A switch for a group no longer in the config is
    ignored (the config decides which groups are synced, the store only whether they are active).
    """
    if not any(g.id in overrides and overrides[g.id] != g.enabled for g in settings.groups):
        return settings
    groups = [g.model_copy(update={"enabled": overrides.get(g.id, g.enabled)}) for g in settings.groups]
    return settings.model_copy(update={"groups": groups})


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

"""The frozen snapshot ``gather`` reads from both sides and the store; the planner's only input."""

from __future__ import annotations

__all__ = ["Hierarchy", "Snapshot"]

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from personio360.domain import CustomField, CustomValue, Employee, ExternalId, Group, Link, LmsUser


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One synced group and its subgroups (R7), and where each user is a learner in it."""

    top: Group
    children: Mapping[str, tuple[Group, ...]] = field(default_factory=dict)
    learners: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def group_ids(self) -> frozenset[str]:
        ids = {self.top.id}
        for kids in self.children.values():
            ids.update(g.id for g in kids)
        return frozenset(ids)

    def group(self, group_id: str) -> Group | None:
        if group_id == self.top.id:
            return self.top
        for kids in self.children.values():
            for g in kids:
                if g.id == group_id:
                    return g
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Both sides, read fresh, plus the store's links (R2) and owned custom fields (R8).

    ``managers`` and ``custom_values`` are read only for linked users whose employee is in
    scope: the only users whose managers and values the connector may change.
    """

    taken_at: dt.datetime
    employees: Mapping[int, Employee]
    users: Mapping[str, LmsUser]
    links: Mapping[int, Link]
    external_ids: Mapping[str, ExternalId] = field(default_factory=dict)
    hierarchies: Mapping[str, Hierarchy] = field(default_factory=dict)
    managers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    custom_fields: tuple[CustomField, ...] = ()
    custom_values: Mapping[str, tuple[CustomValue, ...]] = field(default_factory=dict)
    #: R8: every field the connector ever owned, field id -> configured name, oldest first
    owned_fields: Mapping[str, str] = field(default_factory=dict)

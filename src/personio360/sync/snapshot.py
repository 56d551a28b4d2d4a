"""The frozen snapshot ``gather`` reads from both sides and the store; the planner's only input."""

from __future__ import annotations

__all__ = ["Hierarchy", "Snapshot"]

import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from personio360.domain import (
    Completion,
    CustomField,
    CustomValue,
    Employee,
    ExternalId,
    Group,
    Link,
    LmsUser,
)


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One synced group and its subgroups (R7), and where each user is a learner in it."""

    top: Group
    children: Mapping[str, tuple[Group, ...]] = field(default_factory=dict)
    learners: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _share_values(self.learners)

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
    #: R17: a changes run reads only these employees (None: everyone, a full sync); the plan
    #: is about them alone, and what it does not read it takes from the store (below)
    covered: frozenset[int] | None = None
    #: R17: the linked employees not covered whom the last run left in scope: their users stay
    #: theirs (R2: adopted by no one else, R15) and they stay their reports' managers (R9)
    in_scope_elsewhere: frozenset[int] = frozenset()
    #: R17: the linked users whose external-ID mappings were read all the same (see
    #: ``gather_changes``): for them a missing mapping is missing, and is set (R2)
    mappings_read: frozenset[str] = frozenset()
    #: R17/R15: a covered employee's email (trimmed, lower-cased) that in-scope employees it
    #: does not cover were last synced with: the duplicate is as real as within the snapshot
    emails_elsewhere: Mapping[str, frozenset[int]] = field(default_factory=dict)
    #: R18: the completions read for write-back, per configured item (``writeback.item_key``);
    #: empty when write-back is off, and in changes runs (they leave write-back to full syncs)
    completions: Mapping[str, tuple[Completion, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _share_values(self.managers)
        _share_values(self.custom_values)


_V = TypeVar("_V", bound=Hashable)


def _share_values(mapping: Mapping[str, _V]) -> None:
    """Make equal values of ``mapping`` one object (when it is a dict): equal, immutable, so
    nothing a reader can tell, but 100,000 users have a few dozen distinct managers, group
    sets and custom values between them, each read into its own copy (SPEC §6: a snapshot
    of 100,000 employees within the plan's memory)."""
    if type(mapping) is not dict:
        return
    seen: dict[_V, _V] = {}
    for key, value in mapping.items():
        shared = seen.setdefault(value, value)
        if shared is not value:
            mapping[key] = shared

"""R1: which employees are in scope, and through which enabled synced groups."""

from __future__ import annotations

__all__ = ["IN_SCOPE_STATUSES", "in_scope", "matches", "selecting_groups"]

from collections.abc import Sequence

from personio360.config import GroupSettings
from personio360.domain import Employee
from personio360.sync.fields import render, same_text

IN_SCOPE_STATUSES = frozenset({"active", "onboarding", "leave"})


def matches(employee: Employee, group: GroupSettings) -> bool:
    """The employee matches the group's ``where`` filter: every attribute equals one listed value."""
    for attribute in group.where:
        value = render(employee.attributes.get(attribute))
        if not any(same_text(value, wanted) for wanted in group.accepted(attribute)):
            return False
    return True


def selecting_groups(employee: Employee, groups: Sequence[GroupSettings]) -> tuple[GroupSettings, ...]:
    """The enabled synced groups whose filter the employee matches (config order)."""
    return tuple(g for g in groups if g.enabled and matches(employee, g))


def in_scope(employee: Employee, groups: Sequence[GroupSettings]) -> bool:
    """R1: status active, onboarding or leave, and matched by at least one enabled group."""
    status = (employee.status or "").strip().lower()
    return status in IN_SCOPE_STATUSES and bool(selecting_groups(employee, groups))

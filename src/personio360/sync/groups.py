"""R7: the target group of an employee within one synced hierarchy, and what a removal cascades to."""

from __future__ import annotations

__all__ = ["cascade", "target_group"]

from collections.abc import Iterable, Sequence

from personio360.domain import Employee
from personio360.sync.fields import render, same_text
from personio360.sync.snapshot import Hierarchy


def target_group(hierarchy: Hierarchy, employee: Employee, levels: Sequence[str]) -> str:
    """Descend from the synced group, level by level, into the child named like the employee's
    value (trimmed, case-insensitive); stop at the first level without a match (R7)."""
    current = hierarchy.top
    for attribute in levels:
        value = render(employee.attributes.get(attribute))
        if value is None:
            break
        child = next(
            (g for g in sorted(hierarchy.children.get(current.id, ()), key=lambda g: g.id)
             if same_text(g.name, value)),
            None,
        )
        if child is None:
            break
        current = child
    return current.id


def cascade(hierarchy: Hierarchy, removed: Iterable[str]) -> frozenset[str]:
    """Groups that lose a learner when it is removed from ``removed``: 360Learning also removes
    it "from the group's public subgroups down to the first private one" (API v2 document)."""
    lost: set[str] = set()
    stack = list(removed)
    while stack:
        group_id = stack.pop()
        if group_id in lost:
            continue
        lost.add(group_id)
        for child in hierarchy.children.get(group_id, ()):
            if child.public is not False:
                stack.append(child.id)
    return frozenset(lost)

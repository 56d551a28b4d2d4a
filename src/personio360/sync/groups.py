"""R7: the target group of an employee within one synced hierarchy, and what a removal cascades to."""

from __future__ import annotations

__all__ = ["GroupIndex", "cascade", "target_group"]

from collections.abc import Iterable, Sequence

from personio360.domain import Employee
from personio360.sync.fields import fold, render
from personio360.sync.snapshot import Hierarchy


class GroupIndex:
    """A hierarchy's children by folded name, built once per plan (100,000 employees, SPEC §6).

    Two siblings with the same folded name: the one with the smaller id wins, every time.
    """

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy
        self.group_ids = hierarchy.group_ids
        self._named: dict[str, dict[str, str]] = {}
        for parent, kids in hierarchy.children.items():
            named: dict[str, str] = {}
            for group in sorted(kids, key=lambda g: g.id, reverse=True):
                named[fold(group.name)] = group.id
            self._named[parent] = named

    def child(self, parent_id: str, value: str) -> str | None:
        return self._named.get(parent_id, {}).get(fold(value))


def target_group(hierarchy: Hierarchy | GroupIndex, employee: Employee, levels: Sequence[str]) -> str:
    """Descend from the synced group, level by level, into the child named like the employee's
    value (trimmed, case-insensitive); stop at the first level without a match (R7)."""
    index = hierarchy if isinstance(hierarchy, GroupIndex) else GroupIndex(hierarchy)
    current = index.hierarchy.top.id
    for attribute in levels:
        value = render(employee.attributes.get(attribute))
        if value is None:
            break
        child = index.child(current, value)
        if child is None:
            break
        current = child
    return current


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

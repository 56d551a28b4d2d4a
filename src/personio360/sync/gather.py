"""The only I/O before apply: read both APIs and the store into a frozen Snapshot.

Reads are fresh every run (diff against live state, not against what was last written:
STYLE §7.4). Any failed or partial read raises, so a bad day upstream never becomes a
deletion (R13a): the caller turns the error into ``RunStopped``. Per-user reads (managers,
custom field values) are made only for linked users whose employee is in scope, in parallel
under the client's read limiter.
"""

from __future__ import annotations

__all__ = ["gather_snapshot", "verify_connector_admin"]

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from personio360.config import Settings
from personio360.domain import CustomValue, Group, LmsUser
from personio360.errors import NotFound, RunStopped
from personio360.learning360 import Learning360Client
from personio360.personio import EmployeeSource
from personio360.store import Store
from personio360.sync.scope import in_scope
from personio360.sync.snapshot import Hierarchy, Snapshot

ADMIN_ROLES = frozenset({"owner", "admin"})
_T = TypeVar("_T")
_R = TypeVar("_R")


def gather_snapshot(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    *,
    workers: int = 8,
    users: Iterable[LmsUser] | None = None,
    groups: Iterable[Group] | None = None,
    focus: int | None = None,
) -> Snapshot:
    """Read everything the planner needs; ``users``/``groups`` may be passed when already read (R10).

    ``focus`` (``sync --employee``) limits the per-user reads to that employee's user: the
    lists are still read whole, since matching and duplicate emails (R2, R15) need them.
    """
    taken_at = dt.datetime.now(dt.UTC)
    employees = {e.id: e for e in personio.iter_employees()}
    all_users = {u.id: u for u in (users if users is not None else lms.iter_users())}
    all_groups = list(groups if groups is not None else lms.iter_groups())
    links = store.links.active()
    platform = settings.learning360.external_id_platform
    external_ids = {m.target_id: m for m in lms.iter_external_ids(platform=platform, target_type="user")}
    hierarchies = _hierarchies(settings, all_groups, lms)
    custom_fields = tuple(lms.iter_custom_fields()) if settings.custom_fields else ()
    owned = {f.field_id: f.name for f in store.links.owned_fields()}
    followed = sorted(
        link.user_id for emp_id, link in links.items()
        if emp_id in employees and in_scope(employees[emp_id], settings.groups)
        and link.user_id in all_users and all_users[link.user_id].status != "deleted"
        and (focus is None or emp_id == focus)
    )
    managers = dict(zip(followed, _parallel(
        workers, followed, lambda u: frozenset(_or_empty(lambda: list(lms.iter_managers(u))))), strict=True))
    values: dict[str, tuple[CustomValue, ...]] = {}
    if settings.custom_fields:
        values = dict(zip(followed, _parallel(
            workers, followed, lambda u: tuple(_or_empty(lambda: lms.get_custom_values(u)))), strict=True))
    return Snapshot(
        taken_at=taken_at, employees=employees, users=all_users, links=links,
        external_ids=external_ids, hierarchies=hierarchies, managers=managers,
        custom_fields=custom_fields, custom_values=values, owned_fields=owned,
    )


def verify_connector_admin(settings: Settings, lms: Learning360Client, groups: list[Group]) -> LmsUser:
    """R10: the connector admin must be a platform owner or admin (owner/admin role on the root group)."""
    email = settings.learning360.connector_admin_email
    user = lms.find_user_by_mail(email)
    fix = ("give that user the platform admin role in 360Learning, or set "
           "learning360.connector_admin_email to a platform admin's email")
    if user is None or user.status == "deleted":
        raise RunStopped(f"the connector admin {email} is not a 360Learning user", hint=fix)
    roots = {g.id for g in groups if g.parent_id is None}
    roles = {r.role for r in lms.iter_user_roles(user.id) if r.group_id in roots}
    if not roles & ADMIN_ROLES:
        raise RunStopped(
            f"the connector admin {email} is not a platform owner or admin "
            f"(roles on the platform: {', '.join(sorted(roles)) or 'none'})", hint=fix)
    return user


def _hierarchies(settings: Settings, groups: list[Group], lms: Learning360Client) -> dict[str, Hierarchy]:
    """R7: each enabled synced group's subtree, and who is a learner where within it."""
    by_id = {g.id: g for g in groups}
    children: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        if g.parent_id:
            children[g.parent_id].append(g)
    out: dict[str, Hierarchy] = {}
    for synced in settings.enabled_groups:
        top = by_id.get(synced.id)
        if top is None:
            raise RunStopped(
                f"the synced group {synced.id} does not exist in 360Learning",
                hint="correct the id in [[groups]] (personio360 check lists the problems), "
                "or set enabled = false for it",
            )
        kids: dict[str, tuple[Group, ...]] = {}
        stack = [top.id]
        while stack:
            gid = stack.pop()
            kids[gid] = tuple(sorted(children.get(gid, ()), key=lambda g: g.id))
            stack.extend(g.id for g in kids[gid])
        learners: dict[str, set[str]] = defaultdict(set)
        for gid in kids:
            try:
                for role in lms.iter_group_roles(gid):
                    if role.role == "learner":
                        learners[role.user_id].add(gid)
            except NotFound:
                continue  # deleted between the two reads: it has no learner left
        out[synced.id] = Hierarchy(top=top, children=kids,
                                   learners={u: frozenset(g) for u, g in learners.items()})
    return out


def _or_empty(read: Callable[[], list[_R]]) -> list[_R]:
    """A user deleted between the user list and this read has nothing left to read."""
    try:
        return read()
    except NotFound:
        return []


def _parallel(workers: int, items: list[_T], fn: Callable[[_T], _R]) -> list[_R]:
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(fn, items))

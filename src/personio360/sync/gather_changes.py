"""R17: a changes run's reads: one Personio list call, then only the covered people's state.

Its cost follows the changes, not the company (SPEC §6): the poll is one ``updated_since`` list
call (Personio ignores ``limit``/``offset`` with it); an employee named by an event and not
listed is one ``GET`` by id. On 360Learning, a few fixed reads (groups, custom fields, the
connector admin, R10) and, per covered employee, at most four: the linked user, its group
roles (R7), managers (R9) and custom values (R8); an unlinked one is matched by its
external-ID mapping and email (R2) instead. Nothing else is read: in particular, neither the
user list nor every group's members, as a full sync must.

What it does not read it takes from the store (``Snapshot.in_scope_elsewhere``): a linked
employee not covered is as the last completed run left them. Any failed read raises, before
any write (R13a); the caller keeps the cursor and the events, so nothing is skipped.
"""

from __future__ import annotations

__all__ = ["Poll", "poll", "read_covered"]

import datetime as dt
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from personio360.config import Settings
from personio360.domain import CustomField, CustomValue, Employee, ExternalId, Link, LmsUser
from personio360.errors import NotFound, RunStopped
from personio360.learning360 import Learning360Client
from personio360.personio import EmployeeSource
from personio360.store import Store
from personio360.store.events import Seen
from personio360.sync import changes
from personio360.sync.fields import clean_email
from personio360.sync.gather import (
    READ_CONCURRENCY,
    hierarchy_trees,
    per_user,
    verify_connector_admin,
    wanted_attributes,
)
from personio360.sync.scope import in_scope
from personio360.sync.snapshot import Hierarchy, Snapshot


@dataclass(frozen=True, slots=True)
class Poll:
    """The poll's answer and what the store adds to it: where the run starts."""

    start: changes.Start
    polled_at: dt.datetime
    links: Mapping[int, Link]


def poll(settings: Settings, personio: EmployeeSource, store: Store, *, allow_deletions: bool) -> Poll:
    """Personio's ``updated_since`` from the stored cursor, and the events waiting (R17)."""
    cursor = store.feed.cursor()
    if cursor is None:
        raise RunStopped(
            "no full sync has completed in this state store yet: a changes run builds on what one "
            "recorded (who was synced, and from when Personio's changes are to be read)",
            hint="run personio360 sync once; changes runs take over from there")
    events = store.feed.pending()
    polled_at = dt.datetime.now(dt.UTC)
    listed = list(personio.iter_employees(attributes=wanted_attributes(settings), updated_since=cursor))
    links = store.links.active()
    ids = {e.id for e in listed} | {e.employee_id for e in events if e.employee_id is not None}
    held = store.feed.held_back() if allow_deletions else ()
    written = store.runs.last_writes({e.user_id for e in events if e.user_id is not None})
    start = changes.start(listed, events, store.feed.seen(ids), links, held_back=held, written=written)
    return Poll(start, polled_at, links)


@dataclass
class _Read:
    """What the per-person reads found, merged."""

    users: dict[str, LmsUser] = field(default_factory=dict)
    external_ids: dict[str, ExternalId] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)
    managers: dict[str, frozenset[str]] = field(default_factory=dict)
    values: dict[str, tuple[CustomValue, ...]] = field(default_factory=dict)
    mappings_read: set[str] = field(default_factory=set)


def read_covered(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    polled: Poll,
) -> Snapshot:
    """The snapshot of a changes run: only the covered employees, and only their users."""
    taken_at = dt.datetime.now(dt.UTC)
    links = polled.links
    platform = settings.learning360.external_id_platform
    values = bool(settings.custom_fields)
    with ThreadPoolExecutor(max_workers=READ_CONCURRENCY, thread_name_prefix="changes") as pool:
        employees: dict[int, Employee | None] = dict(polled.start.listed)
        employees.update(pool.map(lambda i: (i, _employee(personio, i)), sorted(polled.start.named)))
        groups = list(lms.iter_groups())
        verify_connector_admin(settings, lms, groups)
        trees = hierarchy_trees(settings, groups)
        fields: tuple[CustomField, ...] = tuple(lms.iter_custom_fields()) if values else ()
        found = _Read()

        def read_360(batch: Iterable[int]) -> None:
            ids = sorted(batch)
            synced = store.feed.seen([i for i in ids if i in links])
            for part in pool.map(lambda i: _state(lms, settings, employees[i], i, links.get(i), platform,
                                                  mapping=not _synced_in_scope(synced.get(i))), ids):
                _merge(found, part)

        read_360(employees)
        # R9: a supervisor who gains, loses or changes a user changes their reports' manager
        supervisors = changes.affected_supervisors(settings, employees, links, found.users)
        supervisors |= polled.start.restored
        reports = store.feed.reports_of(supervisors) if supervisors else set()
        # R15: whoever shared an email a covered employee no longer has may be unique now
        affected = (reports | _freed(settings, store, employees)) - employees.keys()
        employees.update(pool.map(lambda i: (i, _employee(personio, i)), sorted(affected)))
        read_360(affected)
    by_id = {g.id: g for g in groups}
    hierarchies = {
        synced: Hierarchy(top=by_id[synced], children=kids, learners={
            user: frozenset(g for g in held if g in kids) for user, held in found.roles.items()
            if any(g in kids for g in held)})
        for synced, kids in trees.items()
    }
    covered = frozenset(employees)
    elsewhere = frozenset(links.keys() - covered - store.feed.held_back())
    duplicates = _emails_elsewhere(settings, store, employees, covered)
    return Snapshot(
        taken_at=taken_at,
        employees={i: e for i, e in employees.items() if e is not None},
        users=found.users, links=links, external_ids=found.external_ids, hierarchies=hierarchies,
        managers=found.managers, custom_fields=fields, custom_values=found.values,
        owned_fields={f.field_id: f.name for f in store.links.owned_fields()},
        covered=covered, in_scope_elsewhere=elsewhere, mappings_read=frozenset(found.mappings_read),
        emails_elsewhere=duplicates,
    )


def _keys(settings: Settings, employees: Mapping[int, Employee | None]) -> dict[int, str]:
    """The email digests of the in-scope employees (R15 compares only those)."""
    out: dict[int, str] = {}
    for emp_id, emp in employees.items():
        key = changes.email_key(emp) if emp is not None and in_scope(emp, settings.groups) else None
        if key is not None:
            out[emp_id] = key
    return out


def _freed(settings: Settings, store: Store, employees: Mapping[int, Employee | None]) -> set[int]:
    """The employees last synced with an email a covered one had and has no more."""
    now = _keys(settings, employees)
    before = store.feed.seen(list(employees))
    gone = {s.email_key for i, s in before.items() if s.email_key and s.email_key != now.get(i)}
    return {i for held in store.feed.holders(gone).values() for i in held} if gone else set()


def _emails_elsewhere(settings: Settings, store: Store, employees: Mapping[int, Employee | None],
                      covered: frozenset[int]) -> dict[str, frozenset[int]]:
    """A covered employee's email shared with in-scope employees the run does not cover."""
    keys = _keys(settings, employees)
    holders = store.feed.holders(keys.values()) if keys else {}
    out: dict[str, frozenset[int]] = {}
    for emp_id, key in keys.items():
        others = frozenset(holders.get(key, set()) - covered)
        emp = employees[emp_id]
        email = clean_email(emp.email) if emp is not None else None
        if others and email is not None:
            out[email] = others
    return out


def _synced_in_scope(seen: Seen | None) -> bool:
    """A completed run synced this linked employee in scope, so it set (or checked) their
    user's external-ID mapping (R2) with the link: no need to read it again. Otherwise (a hire
    whose run was cut short after the user was created, a rehire) it is read: one more call."""
    return seen is not None and seen.in_scope


def _employee(personio: EmployeeSource, employee_id: int) -> Employee | None:
    """One employee re-read by id; ``None`` when Personio no longer has them (R5: absent)."""
    try:
        return personio.get_employee(employee_id)
    except NotFound:
        return None


def _state(lms: Learning360Client, settings: Settings, emp: Employee | None, employee_id: int,
           link: Link | None, platform: str, *, mapping: bool) -> _Read:
    """One covered employee's 360Learning side: at most four reads (SPEC §6), five when the
    linked user's ``mapping`` must be read too (``_synced_in_scope``)."""
    out = _Read()
    staying = emp is not None and in_scope(emp, settings.groups)
    if link is not None:
        user = _user(lms, link.user_id)
        if user is not None:
            out.users[user.id] = user
            if staying and user.status != "deleted":
                _follow(lms, settings, user.id, out)
        if staying and mapping:
            for tie in lms.iter_external_ids(platform=platform, target_id=link.user_id):
                out.external_ids[tie.target_id] = tie
            out.mappings_read.add(link.user_id)
        return out
    email = clean_email(emp.email) if emp is not None else None
    if not staying or email is None:
        return out  # out of scope and never linked, or skipped (R15): nothing of theirs to read
    mappings = list(lms.iter_external_ids(platform=platform, value=str(employee_id)))
    for tie in mappings:
        out.external_ids[tie.target_id] = tie
        user = _user(lms, tie.target_id)
        if user is not None:
            out.users[user.id] = user
    by_mail = lms.find_user_by_mail(email)
    if by_mail is not None:
        out.users[by_mail.id] = by_mail
    # the user R2 picks (a live user's mapping, else the email): the only one whose state counts
    chosen = next((m.target_id for m in mappings if m.target_id in out.users
                   and out.users[m.target_id].status != "deleted"), None)
    chosen = chosen or (by_mail.id if by_mail is not None and by_mail.status != "deleted" else None)
    if chosen is not None:
        _follow(lms, settings, chosen, out)
    return out


def _follow(lms: Learning360Client, settings: Settings, user_id: str, out: _Read) -> None:
    """A kept user's group roles (R7), managers (R9) and custom values (R8)."""
    try:
        out.roles[user_id] = {r.group_id for r in lms.iter_user_roles(user_id) if r.role == "learner"}
    except NotFound:
        out.roles[user_id] = set()
    managers, values = per_user(lms, user_id, values=bool(settings.custom_fields))
    out.managers[user_id] = managers
    if values is not None:
        out.values[user_id] = values


def _user(lms: Learning360Client, user_id: str) -> LmsUser | None:
    try:
        return lms.get_user(user_id)
    except NotFound:
        return None


def _merge(into: _Read, part: _Read) -> None:
    into.users.update(part.users)
    into.external_ids.update(part.external_ids)
    into.roles.update(part.roles)
    into.managers.update(part.managers)
    into.values.update(part.values)
    into.mappings_read.update(part.mappings_read)

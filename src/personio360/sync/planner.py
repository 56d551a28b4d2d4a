"""``plan(snapshot, settings)``: the pure heart of the sync, from a Snapshot to a Plan (no I/O).

Deterministic: employees are visited by id, so the same inputs give the same Plan and
``plan --json`` is stable. The rules it applies: R1 scope, R2 matching, R3 creates, R4
default fields, R5 leavers, R6 unmanaged users untouched, R7 target groups, R8 custom
values, R9 managers, R15 per-employee errors. R13's guards act on its result (safety.py).
"""

from __future__ import annotations

__all__ = ["Draft", "draft", "plan"]

import gc
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from personio360.config import GroupSettings, Settings
from personio360.domain import CustomValue, Employee, LmsUser
from personio360.sync import custom
from personio360.sync.fields import MEMO_LIMIT, clean_email, raw_key, render
from personio360.sync.groups import GroupIndex, cascade, target_group
from personio360.sync.leavers import plan_leavers
from personio360.sync.mail_order import order_mail_changes
from personio360.sync.matching import Match, resolve
from personio360.sync.operations import (
    AdoptUser,
    CreateCustomField,
    CreateUser,
    EmployeeError,
    FieldChange,
    MoveUser,
    Operation,
    Plan,
    SetExternalId,
    SetManager,
    UpdateUser,
    in_apply_order,
)
from personio360.sync.scope import IN_SCOPE_STATUSES, selecting_groups
from personio360.sync.snapshot import Snapshot
from personio360.sync.writeback import plan_writeback


@dataclass
class _Work:
    snapshot: Snapshot
    settings: Settings
    ops: list[Operation] = field(default_factory=list)
    errors: list[EmployeeError] = field(default_factory=list)
    indexes: dict[str, GroupIndex] = field(default_factory=dict)
    #: R1: the enabled groups whose filter each in-scope employee matches, computed once
    selected: dict[int, tuple[GroupSettings, ...]] = field(default_factory=dict)
    enabled: tuple[GroupSettings, ...] = ()
    #: R7: each enabled group that has a hierarchy, with its index
    enabled_indexes: tuple[tuple[GroupSettings, GroupIndex], ...] = ()
    #: R8: computed once per plan
    values: custom.ValuesContext | None = None
    #: users another employee adopts, relinks or restores in this run: never a leaver's to delete
    taken_over: dict[str, int] = field(default_factory=dict)
    #: R9: in-scope employees who have a user after the run (None: created in this run)
    managed_after: dict[int, str | None] = field(default_factory=dict)
    #: R7: the group structure's levels, and the targets already found for a selection (the id
    #: of a ``selected`` tuple, which ``choices`` keeps alive) and the levels' values
    levels: tuple[str, ...] = ()
    targets: dict[tuple[int, tuple[object, ...]], list[tuple[str, str]]] = field(default_factory=dict)
    choices: dict[tuple[object, ...], tuple[GroupSettings, ...]] = field(default_factory=dict)
    platform: str = ""
    #: R4: default fields' texts as rendered (names and positions repeat across employees)
    texts: dict[str | None, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """R1 for every employee. Scope and target groups depend on a few attribute values
        only (status, the filters', the levels'), which 100,000 employees share (SPEC §6):
        each distinct combination is decided once."""
        self.indexes = {gid: GroupIndex(h) for gid, h in self.snapshot.hierarchies.items()}
        self.enabled = self.settings.enabled_groups
        self.enabled_indexes = tuple((g, self.indexes[g.id]) for g in self.enabled if g.id in self.indexes)
        self.levels = tuple(self.settings.group_structure.levels)
        self.platform = self.settings.learning360.external_id_platform
        where = tuple(sorted({a for g in self.enabled for a in g.where}))
        statuses: dict[str | None, bool] = {}
        choices = self.choices
        for emp in self.snapshot.employees.values():
            status = emp.status
            kept = statuses.get(status)
            if kept is None:
                kept = statuses[status] = (status or "").strip().lower() in IN_SCOPE_STATUSES
            if not kept:
                continue
            key = raw_key(emp.attributes, where) if where else ()
            groups = choices.get(key)
            if groups is None:
                groups = selecting_groups(emp, self.enabled)
                if len(choices) < MEMO_LIMIT:
                    choices[key] = groups
            if groups:
                self.selected[emp.id] = groups


_pause_lock = threading.Lock()
_pausing = [0, False]  # planners running, and whether the collector was on before the first


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a plan is built (issue 5, SPEC §6).

    A plan of 100,000 employees allocates some 400,000 operations, and every few thousand
    allocations the collector runs; its full collections walk the whole snapshot (a million
    objects) again each time, for nothing: the planner makes no reference cycles, so plain
    reference counting frees all it drops. This is Python's documented use of ``gc.disable``
    (as in ``gc.freeze``'s own rationale). Planners may run in several threads (``sync`` and
    the web UI): the first one in turns the collector off, the last one out restores it as
    the first found it.
    """
    with _pause_lock:
        if _pausing[0] == 0:
            _pausing[1] = gc.isenabled()
            gc.disable()
        _pausing[0] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausing[0] -= 1
            if _pausing[0] == 0 and _pausing[1]:
                gc.enable()


@dataclass
class Draft:
    """The plan as far as the lists decide it; each existing user's managers (R9) and custom
    values (R8) wait for that user's own reads (``finish``).

    Why two stages (issue 5): everything else (creations, updates, external ids, moves,
    leavers, R15 errors, R13b's count) is decided by the page-sized lists, which are read in
    seconds, while the two reads per user take minutes at 50 reads/s. ``sync`` starts the
    list-decided writes while the per-user reads still run, and plans each user's managers
    and values as soon as that user is read. ``plan`` does the same in one go, so both show
    and apply the very same Plan.
    """

    work: _Work
    #: users whose managers and values are still to be compared: user id -> its employee
    waiting: dict[str, Employee]
    in_scope: int

    @property
    def errors(self) -> tuple[EmployeeError, ...]:
        return _sorted_errors(self.work.errors)

    def finish(self, user_id: str, managers: frozenset[str],
               values: Iterable[CustomValue]) -> list[Operation]:
        """The managers and custom values ``user_id`` needs, from its reads (none if not waiting)."""
        emp = self.waiting.get(user_id)
        if emp is None:
            return []
        ops: list[Operation] = []
        _finish(self.work, ops, emp, user_id, managers, values)
        return ops

    def complete(self, finished: Iterable[Operation]) -> Plan:
        """The whole Plan: the list-decided operations and what ``finish`` returned for each user."""
        snapshot, settings = self.work.snapshot, self.work.settings
        with _collector_paused():
            operations = tuple(in_apply_order([*self.work.ops, *finished]))
        return Plan(
            operations=operations,
            errors=self.errors,
            in_scope=self.in_scope,
            managed=len(snapshot.links),
            deletion_limit=settings.safety.deletion_limit(len(snapshot.links)),
        )


def plan(snapshot: Snapshot, settings: Settings, *, employee_id: int | None = None) -> Plan:
    """Every change a sync makes for this snapshot; ``employee_id`` limits it to one person,
    a changes run's snapshot (``covered``, R17) to the people it covers."""
    with _collector_paused():
        drafted = draft(snapshot, settings, employee_id=employee_id)
        managers, values = snapshot.managers, snapshot.custom_values
        finished: list[Operation] = []
        for user_id, emp in drafted.waiting.items():  # Draft.finish for each, in one go
            _finish(drafted.work, finished, emp, user_id, managers.get(user_id, _NONE),
                    values.get(user_id, ()))
        return drafted.complete(finished)


def _finish(work: _Work, ops: list[Operation], emp: Employee, user_id: str,
            managers: frozenset[str], values: Iterable[CustomValue]) -> None:
    """``Draft.finish``: R9 and R8 for one read user, into ``ops``."""
    _plan_manager(ops, emp, user_id, managers, work.managed_after)
    if work.values is not None:
        set_values = custom.plan_values(work.settings, emp, user_id, values, work.values)
        if set_values is not None:
            ops.append(set_values)


def draft(snapshot: Snapshot, settings: Settings, *, employee_id: int | None = None) -> Draft:
    """The list-decided part of the plan (``snapshot.managers``/``custom_values`` are not read)."""
    with _collector_paused():
        return _draft(snapshot, settings, employee_id)


def _draft(snapshot: Snapshot, settings: Settings, employee_id: int | None) -> Draft:
    work = _Work(snapshot, settings)
    focus = snapshot.covered if employee_id is None else frozenset({employee_id})
    scoped = {emp_id: snapshot.employees[emp_id] for emp_id in sorted(work.selected)}
    emails = _valid_emails(scoped, work.errors, snapshot.emails_elsewhere)
    staying = scoped.keys() | snapshot.in_scope_elsewhere if snapshot.in_scope_elsewhere else scoped
    matches, match_errors = resolve(snapshot, emails, staying=staying)
    work.taken_over = {m.user_id: m.employee_id for m in matches.values()
                       if m.user_id is not None and m.how != "link"}
    work.errors.extend(match_errors)
    fields_ops, field_ids = custom.plan_fields(snapshot, settings)
    work.ops.extend(fields_ops)
    if settings.custom_fields:
        work.values = custom.values_context(snapshot, settings, field_ids)
    work.managed_after = _managed_after(snapshot, scoped, matches, focus)
    waiting: dict[str, Employee] = {}
    for emp_id, match in matches.items():
        user_id = _plan_employee(work, scoped[emp_id], emails[emp_id], match)
        if user_id is not None:
            waiting[user_id] = scoped[emp_id]
    leaving, leaving_errors = plan_leavers(snapshot, settings, scoped, work.taken_over)
    work.ops.extend(leaving)
    work.errors.extend(leaving_errors)
    work.ops.extend(plan_writeback(settings, snapshot.completions, snapshot.links, snapshot.employees))
    order_mail_changes(work.ops, snapshot.users)
    if focus is not None:  # the people's operations, and the fields they need (R8)
        work.ops = [op for op in work.ops
                    if op.employee_id in focus or isinstance(op, CreateCustomField)]
        work.errors = [e for e in work.errors if e.employee_id in focus]
        waiting = {u: emp for u, emp in waiting.items() if emp.id in focus}
    return Draft(work, waiting, in_scope=len(scoped))


def _sorted_errors(errors: list[EmployeeError]) -> tuple[EmployeeError, ...]:
    return tuple(sorted(errors, key=lambda e: (e.employee_id or 0, e.code)))


def _valid_emails(scoped: dict[int, Employee], errors: list[EmployeeError],
                  elsewhere: Mapping[str, frozenset[int]]) -> dict[int, str]:
    """R15: missing, invalid and duplicate emails skip the employee, with the reason; a changes
    run's snapshot counts the employees it does not cover too (``elsewhere``, R17)."""
    emails: dict[int, str] = {}
    for emp in scoped.values():
        email = clean_email(emp.email)
        if email is None:
            code = "missing_email" if not (emp.email or "").strip() else "invalid_email"
            detail = "has no email" if code == "missing_email" else f"has an invalid email {emp.email!r}"
            errors.append(EmployeeError(emp.id, code, f"the employee {detail} in Personio; skipped"))
        else:
            emails[emp.id] = email
    counts = Counter(emails.values())
    if len(counts) == len(emails) and not elsewhere:
        return emails  # all unique: the common case
    for email in elsewhere:
        if email in counts:
            counts[email] += len(elsewhere[email])
    holders: dict[str, list[int]] = {}
    for emp_id, email in emails.items():
        if counts[email] > 1:
            holders.setdefault(email, []).append(emp_id)
    for emp_id, email in emails.items():
        if counts[email] > 1:
            others = sorted({i for i in holders[email] if i != emp_id} | elsewhere.get(email, frozenset()))
            errors.append(EmployeeError(
                emp_id, "duplicate_email",
                f"the email {email} is also the email of employee(s) {', '.join(map(str, others))} "
                "in Personio; skipped until it is unique",
            ))
    return {i: e for i, e in emails.items() if counts[e] == 1}


def _managed_after(
    snapshot: Snapshot, scoped: dict[int, Employee], matches: dict[int, Match],
    only: frozenset[int] | None,
) -> dict[int, str | None]:
    """In-scope employees who will have a user after the run: its id, or None if created now.

    R9: a supervisor who is out of scope (a leaver) or unlinked is not among them, so their
    reports' manager is cleared. A changes run (R17) keeps the linked supervisors it did not
    read as the last run left them (``in_scope_elsewhere``).
    """
    elsewhere = snapshot.in_scope_elsewhere
    after: dict[int, str | None] = {
        emp_id: link.user_id for emp_id, link in snapshot.links.items()
        if emp_id in scoped or emp_id in elsewhere
    }
    for emp_id, match in matches.items():
        if match.how in ("create", "restore"):
            if only is None or emp_id in only:  # ``sync --employee`` creates no one else
                after[emp_id] = None
        else:
            after[emp_id] = match.user_id
    return after


def _plan_employee(work: _Work, emp: Employee, email: str, match: Match) -> str | None:
    """The list-decided operations of one in-scope employee; the existing user it keeps, if any."""
    snapshot, settings = work.snapshot, work.settings
    targets = _targets(work, emp)
    mapping_user: str | None = None
    if match.how in ("create", "restore"):
        wanted = emp.email.strip() if emp.email else email
        deleted = snapshot.users.get(match.user_id) if match.how == "restore" and match.user_id else None
        # R4/R5: 360Learning restores a deleted user only when created with ITS mail; a new mail
        # then follows as an update of the restored (same) account.
        mail = deleted.mail.strip() if deleted is not None and deleted.mail else wanted
        first, last, job = _texts(work, emp)
        # positional, in field order (employee_id, user_id, mail, first_name, last_name, job,
        # group_id, restore_of): keywords cost more than the rest of the call, 100,000 times
        work.ops.append(CreateUser(emp.id, None, mail, first, last, job,
                                   targets[0][1] if targets else "", match.user_id))
        follow_up = []
        if deleted is not None and mail.lower() != wanted.lower():
            follow_up.append(FieldChange("mail", mail, wanted))
        if deleted is not None and deleted.job and render(emp.position) is None:
            follow_up.append(FieldChange("job", deleted.job, None))  # a restore keeps the old one
        if deleted is not None and follow_up:
            work.ops.append(UpdateUser(employee_id=emp.id, user_id=deleted.id,
                                       fields_changed=tuple(follow_up)))
        mapping_user = deleted.id if deleted is not None else None
        user_id: str | None = None
        user: LmsUser | None = None
    else:
        user_id = match.user_id
        user = snapshot.users[user_id] if user_id else None
        if match.how in ("email", "external_id"):
            work.ops.append(AdoptUser(employee_id=emp.id, user_id=user_id, how=match.how))
    _plan_external_id(work, emp.id, user_id or mapping_user)
    if user is not None:
        _plan_update(work, emp, user, adopted=match.how in ("email", "external_id"))
    created_in = targets[0][1] if user is None and targets else None
    _plan_memberships(work, emp.id, user_id, targets, created_in)
    if user_id is not None:
        return user_id  # its managers and values are compared once it is read (Draft.finish)
    _plan_manager(work.ops, emp, None, _NONE, work.managed_after)  # a new user has neither yet
    if work.values is not None:
        values = custom.plan_values(settings, emp, None, (), work.values)
        if values is not None:
            work.ops.append(values)
    return None


def _targets(work: _Work, emp: Employee) -> list[tuple[str, str]]:
    """(synced group id, target group id) for each enabled hierarchy the employee's filter selects.

    Found once for each selection and values of the levels (see ``_Work``); shared, not copied."""
    selected = work.selected.get(emp.id, ())
    key = (id(selected), raw_key(emp.attributes, work.levels))
    out = work.targets.get(key)
    if out is None:
        out = [(group.id, target_group(work.indexes[group.id], emp, work.levels))
               for group in selected if group.id in work.indexes]
        if len(work.targets) < MEMO_LIMIT:
            work.targets[key] = out
    return out


def _texts(work: _Work, emp: Employee) -> tuple[str | None, str | None, str | None]:
    """The employee's first name, last name and position as rendered (R4)."""
    texts = work.texts
    try:
        return texts[emp.first_name], texts[emp.last_name], texts[emp.position]
    except KeyError:
        return _text(work, emp.first_name), _text(work, emp.last_name), _text(work, emp.position)


def _text(work: _Work, value: str | None) -> str | None:
    """``render`` of a default field's text, once for each distinct text of the plan."""
    try:
        return work.texts[value]
    except KeyError:
        text = render(value)
        if len(work.texts) < MEMO_LIMIT:
            work.texts[value] = text
        return text


def _plan_external_id(work: _Work, employee_id: int, user_id: str | None) -> None:
    snapshot = work.snapshot
    mapping = snapshot.external_ids.get(user_id) if user_id else None
    if mapping is not None and mapping.value == str(employee_id):
        return
    if mapping is None and snapshot.covered is not None and user_id is not None \
            and user_id not in snapshot.mappings_read:
        link = snapshot.links.get(employee_id)
        if link is not None and link.user_id == user_id:
            return  # R17 reads no mapping of a linked user: set with the link, the full sync checks it
    # positional (employee_id, user_id, platform, mapping_id, before): see CreateUser's
    work.ops.append(SetExternalId(employee_id, user_id, work.platform,
                                  mapping.id if mapping else None, mapping.value if mapping else None))


def _plan_update(work: _Work, emp: Employee, user: LmsUser, *, adopted: bool) -> None:
    """R4: overwrite what differs; never clear a name (360Learning requires one)."""
    changes: list[FieldChange] = []
    want_mail = (emp.email or "").strip()
    if want_mail and user.mail != want_mail and (user.mail or "").strip().lower() != want_mail.lower():
        changes.append(FieldChange("mail", user.mail, want_mail))
    first, last, job = _texts(work, emp)
    if first is not None and first != user.first_name:
        changes.append(FieldChange("first name", user.first_name, first))
    if last is not None and last != user.last_name:
        changes.append(FieldChange("last name", user.last_name, last))
    if job != (user.job or None):
        changes.append(FieldChange("job", user.job, job))
    if adopted and user.to_be_deactivated_at:
        changes.append(FieldChange("to be deactivated at", user.to_be_deactivated_at, None))
    if changes:
        work.ops.append(UpdateUser(employee_id=emp.id, user_id=user.id, fields_changed=tuple(changes)))


def _plan_memberships(
    work: _Work, employee_id: int, user_id: str | None,
    targets: list[tuple[str, str]], created_in: str | None,
) -> None:
    """R7: one learner role per selected hierarchy; none left in the others (enabled ones)."""
    add: list[str] = []
    remove: list[str] = []
    for group, index in work.enabled_indexes:
        hierarchy = index.hierarchy
        target = None
        for top, wanted in targets:
            if top == group.id:
                target = wanted
        have = hierarchy.learners.get(user_id, _NONE) if user_id is not None else _NONE
        if created_in is None and (len(have) == 1 and target in have if target else not have):
            continue  # already right: the common case of a no-change sync
        if created_in is not None and created_in == target and not have:
            continue  # created right there: the common case of a first sync
        current = set(have)
        if created_in in index.group_ids:
            current.add(created_in)
        gone = sorted(current - {target}) if target else sorted(current)
        lost = cascade(hierarchy, gone) if gone else frozenset()
        # a removal the cascade of another removal already makes is not asked for twice
        remove.extend(g for g in gone if not any(g != o and g in cascade(hierarchy, [o]) for o in gone))
        if target and (target not in current or target in lost):
            add.append(target)
    if add or remove:
        work.ops.append(MoveUser(employee_id=employee_id, user_id=user_id,
                                 add=tuple(add), remove=tuple(remove)))


_NONE: frozenset[str] = frozenset()


def _plan_manager(
    ops: list[Operation], emp: Employee, user_id: str | None, current: frozenset[str],
    managed_after: dict[int, str | None],
) -> None:
    """R9: the supervisor's user, through its link; an out-of-scope or unlinked one clears it.

    ``current`` is the user's managers as read (empty for a user created in this run)."""
    sup = emp.supervisor_id
    wanted_emp = sup if sup is not None and sup != emp.id and sup in managed_after else None
    wanted_user = managed_after.get(wanted_emp) if wanted_emp is not None else None
    if wanted_emp is not None and wanted_user is not None and wanted_user in current:
        if len(current) == 1:
            return  # already right: the common case of a no-change sync
        remove = tuple(sorted(current - {wanted_user}))
        if remove:
            ops.append(SetManager(employee_id=emp.id, user_id=user_id, remove=remove))
        return
    if wanted_emp is None and not current:
        return
    # positional (employee_id, user_id, manager_employee_id, manager_user_id, remove)
    ops.append(SetManager(emp.id, user_id, wanted_emp, wanted_user,
                          tuple(sorted(current)) if current else ()))

"""``explain``: why one person is (not) synced, where, and what a sync would change (issue 8), pure.

Everything comes from the snapshot ``plan`` reads and from the planner's own functions (R1
``scope``, R2 the plan's adopt/create operations, R7 ``target_group``, R8 ``custom``, R13b
``hold_back_deletions``): no extra API call, no write. A 360Learning-only email is
explained as an unmanaged user that the connector never touches (R6).
"""

from __future__ import annotations

__all__ = ["Check", "Explanation", "FieldRow", "Placement", "Step", "explain"]

from dataclasses import asdict, dataclass
from typing import Any

from personio360.config import GroupSettings, Settings
from personio360.domain import Employee, LmsUser
from personio360.errors import ConfigError
from personio360.sync import custom
from personio360.sync.fields import render, same_text
from personio360.sync.groups import target_group
from personio360.sync.matching import mail_index
from personio360.sync.operations import AdoptUser, CreateUser, EmployeeError, Operation, Plan
from personio360.sync.planner import plan as make_plan
from personio360.sync.safety import hold_back_deletions
from personio360.sync.scope import IN_SCOPE_STATUSES, in_scope, selecting_groups
from personio360.sync.snapshot import Hierarchy, Snapshot


@dataclass(frozen=True, slots=True)
class Check:
    """One scope test (R1): the employee's ``status``, or one synced group's filter."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Step:
    """One level of R7's descent: the attribute, the employee's value, and where it led."""

    attribute: str
    value: str | None
    group_id: str | None
    group: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Placement:
    """The target group in one synced hierarchy, how it was reached, and the current learner groups."""

    synced_group_id: str
    synced_group: str
    target_id: str
    target: str
    steps: tuple[Step, ...]
    current: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One synced field on both sides (R4, R8); ``in_step`` is false when a sync would set it."""

    name: str
    rule: str
    personio: str | None
    learning360: str | None
    in_step: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer to ``explain``: a verdict, then each reason (scope, link, group, fields, manager)."""

    query: str
    verdict: str
    employee_id: int | None
    name: str | None
    email: str | None
    status: str | None
    in_scope: bool
    scope: tuple[Check, ...]
    decided_by: str
    managed: bool
    link: str
    link_detail: str
    user_id: str | None
    user_mail: str | None
    placements: tuple[Placement, ...] = ()
    fields: tuple[FieldRow, ...] = ()
    custom_fields: tuple[FieldRow, ...] = ()
    manager: str = ""
    operations: tuple[Operation, ...] = ()
    held_back: tuple[Operation, ...] = ()
    errors: tuple[EmployeeError, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items()
                if k not in ("operations", "held_back", "errors")}
        data["operations"] = [op.to_dict() for op in self.operations]
        data["held_back"] = [op.to_dict() for op in self.held_back]
        data["errors"] = [e.to_dict() for e in self.errors]
        return data


def explain(snapshot: Snapshot, settings: Settings, who: str) -> Explanation:
    """Explain the employee ``who`` (a Personio id or an email), or the 360Learning user with that email."""
    query = who.strip()
    employee_id = _find(snapshot, query)
    if isinstance(employee_id, LmsUser):
        return _unmanaged(snapshot, query, employee_id)
    guarded = hold_back_deletions(make_plan(snapshot, settings), allow_deletions=False)
    return _Explainer(snapshot, settings, guarded, employee_id).run(query)


def _find(snapshot: Snapshot, query: str) -> int | LmsUser:
    """The employee id the query names; a user that no employee owns; else ``ConfigError``."""
    if query.isdigit():
        if int(query) in snapshot.employees or int(query) in snapshot.links:
            return int(query)
        raise ConfigError(f"no employee with id {query} in Personio, and none linked",
                          hint="pass a Personio employee id or an email")
    mail = query.lower()
    found = sorted(e.id for e in snapshot.employees.values()
                   if (e.email or "").strip().lower() == mail)
    if found:
        return found[0]
    user_id = mail_index(snapshot.users).get(mail)
    if user_id is None:
        raise ConfigError(f"neither Personio nor 360Learning knows the email {query}",
                          hint="check the spelling, or pass the Personio employee id")
    owner = next((i for i, link in sorted(snapshot.links.items()) if link.user_id == user_id), None)
    mapping = snapshot.external_ids.get(user_id)
    if owner is None and mapping is not None and mapping.value.isdigit() \
            and int(mapping.value) in snapshot.employees:
        owner = int(mapping.value)  # R2(1): the employee this user's external id names
    return owner if owner is not None else snapshot.users[user_id]


def _unmanaged(snapshot: Snapshot, query: str, user: LmsUser) -> Explanation:
    groups = _group_names(snapshot)
    learner_of = sorted(groups.get(g, g) for h in snapshot.hierarchies.values()
                        for g in h.learners.get(user.id, ()))
    where = f" (learner of {', '.join(learner_of)})" if learner_of else ""
    return Explanation(
        query=query, employee_id=None, name=_name(user.first_name, user.last_name), email=user.mail,
        status=None, in_scope=False, scope=(), managed=False,
        decided_by="no Personio employee has this email, and personio360 never linked this user",
        verdict=(f"{user.mail} is an unmanaged 360Learning user{where}: no Personio employee has "
                 "this email and personio360 never linked it, so a sync will not touch it (R6)"),
        link="unmanaged", link_detail=f"user {user.id} ({user.status}); not linked to any employee",
        user_id=user.id, user_mail=user.mail,
    )


class _Explainer:
    """The reasons for one employee, read from the snapshot and the guarded full plan."""

    def __init__(self, snapshot: Snapshot, settings: Settings, plan: Plan, employee_id: int) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self.plan = plan
        self.id = employee_id
        self.emp: Employee | None = snapshot.employees.get(employee_id)
        self.groups = _group_names(snapshot)
        self.ops = tuple(op for op in plan.operations if op.employee_id == employee_id)
        self.held = tuple(op for op in plan.held_back if op.employee_id == employee_id)
        self.errors = tuple(e for e in plan.errors if e.employee_id == employee_id)

    def run(self, query: str) -> Explanation:
        emp = self.emp
        scoped = emp is not None and in_scope(emp, self.settings.groups)
        checks, decided = self._scope()
        link, link_detail, user_id = self._link(scoped)
        user = self.snapshot.users.get(user_id) if user_id else None
        return Explanation(
            query=query, verdict=self._verdict(scoped, decided, link, user),
            employee_id=self.id, name=_name(emp.first_name, emp.last_name) if emp else None,
            email=(emp.email or "").strip() or None if emp else None,
            status=emp.status if emp else None, in_scope=scoped, scope=checks, decided_by=decided,
            managed=self.id in self.snapshot.links, link=link, link_detail=link_detail,
            user_id=user_id, user_mail=user.mail if user else None,
            placements=self._placements(user_id) if scoped and emp else (),
            fields=self._fields(user) if emp else (),
            custom_fields=self._custom(user_id) if emp else (),
            manager=self._manager(user_id) if emp else "",
            operations=self.ops, held_back=self.held, errors=self.errors,
        )

    # --- R1 -----------------------------------------------------------------------------------

    def _scope(self) -> tuple[tuple[Check, ...], str]:
        emp = self.emp
        if emp is None:
            return (Check("in Personio", False, "the employee is no longer in Personio"),), \
                "the employee is no longer in Personio (R5)"
        status = (emp.status or "").strip().lower()
        status_ok = status in IN_SCOPE_STATUSES
        checks = [Check("status", status_ok, f"status {status or 'empty'} ("
                        + ("in scope" if status_ok else "only active, onboarding and leave are in scope")
                        + ")")]
        for index, group in enumerate(self.settings.groups):
            checks.append(self._filter(index, group, emp))
        if not status_ok:
            return tuple(checks), f"status {status or 'empty'} (R1: only active, onboarding and leave)"
        chosen = selecting_groups(emp, self.settings.groups)
        if not chosen:
            failed = "; ".join(c.detail for c in checks[1:])
            return tuple(checks), f"no enabled synced group's filter selects them: {failed}"
        names = ", ".join(self._group_label(g) for g in chosen)
        return tuple(checks), f"status {status} and the filter of {names}"

    def _filter(self, index: int, group: GroupSettings, emp: Employee) -> Check:
        label = f"groups[{index}] {self._group_label(group)}"
        if not group.enabled:
            return Check(label, False, f"{label} is disabled (enabled = false)")
        if not group.where:
            return Check(label, True, f"{label} has no filter: every employee matches")
        parts = []
        ok = True
        for attribute in group.where:
            value = render(emp.attributes.get(attribute))
            accepted = group.accepted(attribute)
            hit = any(same_text(value, wanted) for wanted in accepted)
            ok = ok and hit
            shown = " or ".join(repr(a) for a in accepted)
            parts.append(f"{attribute} is {value!r}" + (" (accepted)" if hit else f", not {shown}"))
        return Check(label, ok, f"{label}: " + "; ".join(parts))

    def _group_label(self, group: GroupSettings) -> str:
        name = self.groups.get(group.id)
        return f"'{name}' ({group.id})" if name else group.id

    # --- R2 -----------------------------------------------------------------------------------

    def _link(self, scoped: bool) -> tuple[str, str, str | None]:
        link = self.snapshot.links.get(self.id)
        if link is not None:
            user = self.snapshot.users.get(link.user_id)
            state = "deleted by hand in 360Learning: a sync restores it (R4)" \
                if user is None or user.status == "deleted" else (user.mail or user.id)
            return "link", (f"linked to user {link.user_id} ({state}), {link.origin} on "
                            f"{link.since:%Y-%m-%d}"), link.user_id
        planned = self._planned_link()
        if planned is not None:
            return planned
        if self.errors:
            return "none", f"not linked: {self.errors[0].message} (R15)", None
        return "none", "not linked" + ("" if scoped else ", and out of scope: a sync creates no user"), None

    def _planned_link(self) -> tuple[str, str, str | None] | None:
        """R2 and R3 as the plan decided them: adopt (by external id or email), restore, create."""
        for op in self.ops:
            if isinstance(op, AdoptUser):
                how = "its external id names this employee (R2 1)" if op.how == "external_id" \
                    else "the same email (R2 2)"
                return op.how, f"the sync will adopt user {op.user_id}: {how}", op.user_id
            if isinstance(op, CreateUser) and op.restore_of:
                return "restore", (f"the deleted user {op.restore_of} has this email: creating "
                                   "it again restores that account (R5)"), op.restore_of
            if isinstance(op, CreateUser):
                return "create", f"no 360Learning user has this email: a sync creates {op.mail} (R3)", None
        return None

    # --- R7 -----------------------------------------------------------------------------------

    def _placements(self, user_id: str | None) -> tuple[Placement, ...]:
        assert self.emp is not None
        out = []
        for group in selecting_groups(self.emp, self.settings.groups):
            hierarchy = self.snapshot.hierarchies.get(group.id)
            if hierarchy is None:
                continue
            target = target_group(hierarchy, self.emp, self.settings.group_structure.levels)
            current = tuple(sorted(self.groups.get(g, g) for g in
                                   hierarchy.learners.get(user_id or "", ())))
            out.append(Placement(group.id, hierarchy.top.name.strip(), target,
                                 self.groups.get(target, target), self._steps(hierarchy), current))
        return tuple(out)

    def _steps(self, hierarchy: Hierarchy) -> tuple[Step, ...]:
        assert self.emp is not None
        steps = []
        current = hierarchy.top
        for attribute in self.settings.group_structure.levels:
            value = render(self.emp.attributes.get(attribute))
            here = current.name.strip()
            if value is None:
                steps.append(Step(attribute, None, None, None,
                                  f"no {attribute} in Personio: stays in '{here}'"))
                break
            kids = sorted(hierarchy.children.get(current.id, ()), key=lambda g: g.id)
            child = next((g for g in kids if same_text(g.name, value)), None)
            if child is None:
                names = ", ".join(repr(g.name.strip()) for g in kids) or "none"
                steps.append(Step(attribute, value, None, None,
                                  f"no subgroup of '{here}' is named {value!r} (its subgroups: {names}): "
                                  f"stays in '{here}'"))
                break
            steps.append(Step(attribute, value, child.id, child.name.strip(),
                              f"{attribute} {value!r} matches the subgroup '{child.name.strip()}'"))
            current = child
        return tuple(steps)

    # --- R4, R8, R9 ---------------------------------------------------------------------------

    def _fields(self, user: LmsUser | None) -> tuple[FieldRow, ...]:
        emp = self.emp
        assert emp is not None
        mapping = self.snapshot.external_ids.get(user.id) if user else None
        want_mail = (emp.email or "").strip() or None
        rows = [
            ("email", want_mail, user.mail if user else None,
             (want_mail or "").lower() == (user.mail or "").strip().lower() if user else False),
            ("first name", render(emp.first_name), user.first_name if user else None, None),
            ("last name", render(emp.last_name), user.last_name if user else None, None),
            ("job title", render(emp.position), (user.job or None) if user else None, None),
            ("external id", str(emp.id), mapping.value if mapping else None, None),
        ]
        return tuple(FieldRow(name, "R2" if name == "external id" else "R4", want, have,
                              (same if same is not None else want == have) if user else want is None)
                     for name, want, have, same in rows)

    def _custom(self, user_id: str | None) -> tuple[FieldRow, ...]:
        emp = self.emp
        assert emp is not None
        _ops, ids = custom.plan_fields(self.snapshot, self.settings)
        values = {v.custom_field_id: v.value for v in self.snapshot.custom_values.get(user_id or "", ())}
        rows = []
        for attribute, name in sorted(self.settings.custom_fields.items()):
            field_id = ids.get(name)
            want = render(emp.attributes.get(attribute)) if attribute in emp.attributes else None
            have = values.get(field_id) if field_id else None
            label = f"{name} (from {attribute})" + ("" if field_id else ", a field the sync creates")
            rows.append(FieldRow(label, "R8", want, have, want == have))
        return tuple(rows)

    def _manager(self, user_id: str | None) -> str:
        current = sorted(self._mail(u) for u in self.snapshot.managers.get(user_id or "", ()))
        return self._supervisor() + (f"; current manager: {', '.join(current)}" if current
                                     else "; no manager now")

    def _supervisor(self) -> str:
        """R9 as the planner resolves it: through the supervisor's link, or their user made this run."""
        assert self.emp is not None
        sup = self.emp.supervisor_id
        if sup is None or sup == self.emp.id:
            return "no supervisor in Personio: no manager (R9)"
        boss = self.snapshot.employees.get(sup)
        if boss is None:
            return f"supervisor employee {sup} is not in Personio: the manager is cleared (R9)"
        who = f"supervisor {_name(boss.first_name, boss.last_name)} (employee {sup})"
        if not in_scope(boss, self.settings.groups):
            return f"{who} is out of scope: the manager is cleared (R9)"
        link = self.snapshot.links.get(sup)
        made = {type(op): op for op in self.plan.operations
                if op.employee_id == sup and isinstance(op, CreateUser | AdoptUser)}
        if link is not None:
            return f"{who} → their linked user {self._mail(link.user_id)}"
        if CreateUser in made:
            return f"{who} → their user, created in the same sync before managers are set"
        adopted = made.get(AdoptUser)
        return (f"{who} → the user {self._mail(adopted.user_id or '')} the sync adopts" if adopted
                else f"{who} has no 360Learning user (skipped): the manager is cleared (R9)")

    def _mail(self, user_id: str) -> str:
        user = self.snapshot.users.get(user_id)
        return (user.mail or user_id) if user else user_id

    # --- the verdict --------------------------------------------------------------------------

    def _verdict(self, scoped: bool, decided: str, link: str, user: LmsUser | None) -> str:
        count = len(self.ops)
        changes = "a sync would change nothing" if not count else \
            f"a sync would make {count} change{'s' if count > 1 else ''}"
        if self.held:
            changes += f" ({len(self.held)} held back by safety.max_deletions, R13b)"
        if not scoped:
            if self.id in self.snapshot.links:
                return f"out of scope ({decided}): their 360Learning user leaves (R5); {changes}"
            return f"out of scope ({decided}): not synced, {changes}"
        if link == "none" and self.errors:
            return f"in scope, but skipped: {self.errors[0].message}"
        where = {"link": f"managed (user {user.mail if user and user.mail else '?'})",
                 "create": "not in 360Learning yet: a sync creates the user",
                 "restore": "their deleted account is restored by the next sync",
                 "email": "a sync adopts the 360Learning user with the same email",
                 "external_id": "a sync adopts the user whose external id names them"}.get(link, link)
        return f"in scope, {where}; {changes}"


def _group_names(snapshot: Snapshot) -> dict[str, str]:
    names: dict[str, str] = {}
    for hierarchy in snapshot.hierarchies.values():
        names[hierarchy.top.id] = hierarchy.top.name.strip()
        for kids in hierarchy.children.values():
            names.update({g.id: g.name.strip() for g in kids})
    return names


def _name(first: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, last) if p) or None


"""Saved plans (issue 8): the Plan as a versioned JSON document, and the check that binds an apply to it.

``plan --out`` writes ``build_document``'s result; ``sync --plan`` loads it (``load_saved``),
gathers both sides again, recomputes the Plan, and ``bind`` gives back exactly the saved
operations, or raises ``RunStopped`` naming what moved: nothing is written then. The
document's schema is published in ``schemas/plan.schema.json``.

What the fingerprint holds, per employee with an operation in the plan: a digest of each
Personio attribute the rules read for them (R1 scope, R4 fields, R7 levels, R8 custom
fields, R9 supervisor), of their link (R2), of the 360Learning users their email and
employee id resolve to (R2), and of that user's fields, learner groups, managers, custom
values and external id; plus platform digests (synced hierarchies, custom fields) and
a digest per config section. Digests (16 hex characters of SHA-256) let the comparison
name each moved input without copying more personal data into the file than the
operations already show.

Binding never trusts the file's operations: it applies the *recomputed* operations, and only
when, for every person the plan concerns, they equal the saved ones. The file can narrow
what a sync does (to what was approved), never widen it.
"""

from __future__ import annotations

__all__ = [
    "FORMAT",
    "VERSION",
    "SavedPlan",
    "bind",
    "build_document",
    "check_age",
    "config_fingerprint",
    "input_fingerprint",
    "load_saved",
]

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from personio360.config import Settings
from personio360.domain import Employee
from personio360.errors import ConfigError, RunStopped
from personio360.sync.fields import clean_email, render, same_text
from personio360.sync.matching import mail_index
from personio360.sync.operations import EmployeeError, Operation, Plan
from personio360.sync.snapshot import Snapshot

FORMAT = "personio360-plan"
VERSION = 1
#: Config sections that do not change what a sync does (``state`` is fingerprinted per link).
#: what shapes no plan: where the store is, when runs happen (R17: [changes], [webhooks]),
#: whom to tell (issue 14: [notify])
_CONFIG_IGNORED = {"source", "schedule", "state", "changes", "webhooks", "notify"}
_STANDARD = ("first_name", "last_name", "email", "status", "position", "supervisor")
_USER_FIELDS = ("mail", "first_name", "last_name", "job", "status", "to_be_deactivated_at")
_CLOCK_SKEW = dt.timedelta(minutes=5)
_ABSENT = "<absent>"
_NEW_PLAN = ("make a new plan (personio360 plan --out FILE), review it, then run "
             "personio360 sync --plan FILE")


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- fingerprints -------------------------------------------------------------------------


def config_fingerprint(settings: Settings) -> dict[str, Any]:
    """A digest per config section that shapes a sync (not ``_CONFIG_IGNORED``, ``plan_max_age``)."""
    data = settings.model_dump(mode="json", exclude=_CONFIG_IGNORED)
    data.get("safety", {}).pop("plan_max_age", None)
    sections = {name: _digest(value) for name, value in sorted(data.items())}
    return {"digest": _digest(sections), "sections": sections}


class _Inputs:
    """Indexes over one snapshot, built once, to compute each person's input digests."""

    def __init__(self, snapshot: Snapshot, settings: Settings) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self.attributes = sorted(set(settings.attributes_named()) - set(_STANDARD))
        self.by_mail = mail_index(snapshot.users)
        self.by_value = {m.value: m.target_id for m in snapshot.external_ids.values()}

    def platform(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for group_id, hierarchy in sorted(self.snapshot.hierarchies.items()):
            groups: list[tuple[str, str, str | None, bool | None]] = [
                (hierarchy.top.id, hierarchy.top.name, None, hierarchy.top.public)]
            for parent, kids in sorted(hierarchy.children.items()):
                groups.extend((g.id, g.name, parent, g.public) for g in kids)
            out[f"360learning:hierarchy:{group_id}"] = _digest(sorted(groups, key=str))
        if self.settings.custom_fields:
            names = list(self.settings.custom_fields.values())
            owned = dict(self.snapshot.owned_fields)
            fields = sorted(
                (f.id, f.name, f.type, f.target_type) for f in self.snapshot.custom_fields
                if f.id in owned or any(same_text(f.name, n) for n in names)
            )
            out["360learning:custom_fields"] = _digest(fields)
            out["store:owned_fields"] = _digest(sorted(owned.items()))
        return out

    def person(self, employee_id: int) -> dict[str, str]:
        emp = self.snapshot.employees.get(employee_id)
        values: dict[str, object] = {"personio:record": emp is not None}
        if emp is not None:
            values.update(_personio_values(emp, self.attributes))
        link = self.snapshot.links.get(employee_id)
        values["store:link"] = link.user_id if link else None
        email = clean_email(emp.email) if emp is not None else None
        owner = self.by_mail.get(email) if email else None
        values["360learning:mail_owner"] = self._user_state(owner)
        values["360learning:external_id_owner"] = self.by_value.get(str(employee_id))
        user_id = link.user_id if link else (
            self.by_value.get(str(employee_id)) or owner)
        values["360learning:user"] = user_id
        if user_id is not None:
            values.update(self._user_values(user_id))
        return {key: _digest(value) for key, value in sorted(values.items())}

    def _user_state(self, user_id: str | None) -> object:
        user = self.snapshot.users.get(user_id) if user_id else None
        return None if user is None else [user.id, user.status]

    def _user_values(self, user_id: str) -> dict[str, object]:
        snap = self.snapshot
        user = snap.users.get(user_id)
        values: dict[str, object] = {
            f"360learning:{name}": getattr(user, name) if user else _ABSENT for name in _USER_FIELDS
        }
        values["360learning:learner_of"] = sorted(
            g for h in snap.hierarchies.values() for g in h.learners.get(user_id, ()))
        values["360learning:managers"] = sorted(snap.managers.get(user_id, ()))
        values["360learning:custom_values"] = sorted(
            (v.custom_field_id, v.type, v.value) for v in snap.custom_values.get(user_id, ()))
        mapping = snap.external_ids.get(user_id)
        values["360learning:external_id"] = mapping.value if mapping else None
        return values


def _personio_values(emp: Employee, attributes: Iterable[str]) -> dict[str, object]:
    values: dict[str, object] = {
        "personio:first_name": emp.first_name, "personio:last_name": emp.last_name,
        "personio:email": emp.email, "personio:status": emp.status,
        "personio:position": emp.position, "personio:supervisor": emp.supervisor_id,
    }
    for key in attributes:
        values[f"personio:{key}"] = render(emp.attributes[key]) if key in emp.attributes else _ABSENT
    return values


def input_fingerprint(snapshot: Snapshot, settings: Settings, employee_ids: Iterable[int]) -> dict[str, Any]:
    """The digests of everything the plan's operations for ``employee_ids`` were computed from."""
    inputs = _Inputs(snapshot, settings)
    platform = inputs.platform()
    people = {str(i): inputs.person(i) for i in sorted(set(employee_ids))}
    return {"digest": _digest([platform, people]), "platform": platform, "employees": people}


# --- the document -------------------------------------------------------------------------


def build_document(
    plan: Plan,
    snapshot: Snapshot,
    settings: Settings,
    *,
    employee_id: int | None = None,
    allow_deletions: bool = False,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The versioned plan document (``schemas/plan.schema.json``) that ``plan --out/--json`` give."""
    entries = [_entry(op, "apply", snapshot) for op in plan.operations]
    entries += [_entry(op, "held_back", snapshot) for op in plan.held_back]
    concerned = {op.employee_id for op in (*plan.operations, *plan.held_back) if op.employee_id is not None}
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(),
        "environment": settings.environment,
        "employee_id": employee_id,
        "allow_deletions": allow_deletions,
        "config_fingerprint": config_fingerprint(settings),
        "inputs": input_fingerprint(snapshot, settings, concerned),
        "summary": {
            "in_scope": plan.in_scope, "managed": plan.managed, "deletion_limit": plan.deletion_limit,
            "counts": plan.counts(), "held_back": len(plan.held_back), "errors": len(plan.errors),
        },
        "operations": entries,
        "errors": [e.to_dict() for e in plan.errors],
        "notes": list(plan.notes),
    }


def _entry(op: Operation, outcome: str, snapshot: Snapshot) -> dict[str, Any]:
    """One operation: its target, before → after, the rule, the R13b outcome, and its own data."""
    detail = op.to_dict()
    changes = detail.pop("changes")
    for key in ("kind", "rule", "employee_id", "user_id", "fields_changed", "values"):
        detail.pop(key, None)
    emp = snapshot.employees.get(op.employee_id) if op.employee_id is not None else None
    user = snapshot.users.get(op.user_id) if op.user_id else None
    email = getattr(op, "mail", None) or (user.mail if user else None) or (
        emp.email.strip() if emp is not None and emp.email else None)
    name = " ".join(p for p in (emp.first_name, emp.last_name) if p) if emp is not None else None
    entry = {
        "kind": op.kind, "rule": op.rule, "outcome": outcome,
        "target": {"employee_id": op.employee_id, "user_id": op.user_id, "email": email,
                   "name": name or None},
        "changes": changes, "detail": detail,
    }
    result: dict[str, Any] = json.loads(json.dumps(entry, ensure_ascii=False))
    return result


# --- loading ------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Target(_Model):
    employee_id: int | None
    user_id: str | None
    email: str | None
    name: str | None


class _Change(_Model):
    name: str
    before: str | None
    after: str | None


class _Entry(_Model):
    kind: str
    rule: str
    outcome: Literal["apply", "held_back"]
    target: _Target
    changes: list[_Change]
    detail: dict[str, Any]


class _Fingerprint(_Model):
    digest: str
    sections: dict[str, str]


class _InputPrints(_Model):
    digest: str
    platform: dict[str, str]
    employees: dict[str, dict[str, str]]


class _Error(_Model):
    employee_id: int | None
    code: str
    message: str


class _Document(_Model):
    format: Literal["personio360-plan"]
    version: Literal[1]
    created_at: AwareDatetime
    environment: Literal["test", "production"]
    employee_id: int | None
    allow_deletions: bool
    config_fingerprint: _Fingerprint
    inputs: _InputPrints
    summary: dict[str, Any]
    operations: list[_Entry]
    errors: list[_Error]
    notes: list[str]


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A loaded, well-formed plan document; ``name`` is how messages call it (its file name)."""

    name: str
    document: Mapping[str, Any]
    created_at: dt.datetime
    employee_id: int | None

    @property
    def errors(self) -> tuple[EmployeeError, ...]:
        return tuple(EmployeeError(e["employee_id"], e["code"], e["message"])
                     for e in self.document["errors"])


def load_saved(path: str | Path) -> SavedPlan:
    """Read a plan document; ``ConfigError`` (exit 2) when it is unreadable or not a plan we know."""
    file = Path(path)
    fix = "pass a file written by personio360 plan --out FILE"
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no saved plan at {file}", hint=fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"the saved plan {file} is not readable JSON: {exc}", hint=fix) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError(f"{file} is not a personio360 plan (no \"format\": \"{FORMAT}\")", hint=fix)
    if raw.get("version") != VERSION:
        raise ConfigError(
            f"the saved plan {file} has format version {raw.get('version')!r}; this personio360 "
            f"reads version {VERSION}", hint="make the plan again with this version of personio360")
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:5])
        raise ConfigError(f"the saved plan {file} is malformed: {where}", hint=fix) from None
    return SavedPlan(name=file.name, document=raw, created_at=doc.created_at,
                     employee_id=doc.employee_id)


# --- binding ------------------------------------------------------------------------------


def check_age(saved: SavedPlan, settings: Settings, now: dt.datetime) -> None:
    """Refuse a plan older than ``safety.plan_max_age`` (or made in the future): its inputs are stale."""
    age = now - saved.created_at
    if age < -_CLOCK_SKEW:
        raise RunStopped(f"the saved plan {saved.name} was made in the future "
                         f"({saved.created_at.isoformat()}); nothing was changed",
                         hint=f"check this machine's clock, or {_NEW_PLAN}")
    if age > settings.safety.max_plan_age:
        hours = age.total_seconds() / 3600
        raise RunStopped(
            f"the saved plan {saved.name} is {hours:.1f} h old, older than safety.plan_max_age "
            f"({settings.safety.plan_max_age}): it was refused and nothing was changed",
            hint=_NEW_PLAN)


def bind(saved: SavedPlan, recomputed: Plan, snapshot: Snapshot, settings: Settings) -> Plan:
    """The saved plan's operations as computed now, or ``RunStopped`` naming every moved input.

    ``recomputed`` must be planned with every deletion let through (``allow_deletions``): each
    saved operation's own R13b outcome decides whether it is applied or held back (a deletion
    the approved plan reported needs no ``--allow-deletions``).
    """
    doc = saved.document
    problems = _config_drift(doc["config_fingerprint"], config_fingerprint(settings))
    people = [int(i) for i in doc["inputs"]["employees"]]
    now = input_fingerprint(snapshot, settings, people)
    problems += _platform_drift(doc["inputs"]["platform"], now["platform"], snapshot)
    for key, before in sorted(doc["inputs"]["employees"].items(), key=lambda kv: int(kv[0])):
        problems += _person_drift(int(key), before, now["employees"][key], snapshot)
    saved_ops = _by_employee(doc["operations"])
    current = [*recomputed.operations, *recomputed.held_back]
    now_ops = _by_employee([_entry(op, "apply", snapshot) for op in current])
    if not problems:
        problems += _operation_drift(saved_ops, now_ops)
    if problems:
        shown = problems[:12] + ([f"and {len(problems) - 12} more"] if len(problems) > 12 else [])
        raise RunStopped(
            f"the saved plan {saved.name} was refused, its inputs changed since it was made: "
            + "; ".join(shown) + ". Nothing was changed",
            hint=_NEW_PLAN)
    outcome = {_comparable(e): e["outcome"] for entries in saved_ops.values() for e in entries}
    apply: list[Operation] = []
    held: list[Operation] = []
    for op in current:
        if op.employee_id not in saved_ops:
            continue  # someone the approved plan does not concern: not part of this apply
        key = _comparable(_entry(op, "apply", snapshot))
        (apply if outcome[key] == "apply" else held).append(op)
    return replace(recomputed, operations=tuple(apply), held_back=tuple(held), errors=saved.errors,
                   notes=tuple(doc["notes"]))


def _comparable(entry: Mapping[str, Any]) -> str:
    """An entry as compared: without its outcome; a deactivation's date is recomputed (always tomorrow)."""
    data = {k: v for k, v in entry.items() if k != "outcome"}
    if data["kind"] == "deactivate_user":
        data["detail"] = {k: v for k, v in data["detail"].items() if k != "at"}
        data["changes"] = []
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _by_employee(entries: Iterable[Mapping[str, Any]]) -> dict[int | None, list[Mapping[str, Any]]]:
    out: dict[int | None, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        out[entry["target"]["employee_id"]].append(entry)
    return dict(out)


def _config_drift(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    old, new = before["sections"], now["sections"]
    moved = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return [f"the config changed ({', '.join(moved)})"] if moved else []


def _platform_drift(before: Mapping[str, str], now: Mapping[str, str], snapshot: Snapshot) -> list[str]:
    out = []
    for key in sorted(set(before) | set(now)):
        if before.get(key) == now.get(key):
            continue
        if key.startswith("360learning:hierarchy:"):
            group_id = key.rsplit(":", 1)[1]
            hierarchy = snapshot.hierarchies.get(group_id)
            name = hierarchy.top.name.strip() if hierarchy else group_id
            out.append(f"the subgroups of the synced group '{name}' changed in 360Learning")
        elif key == "360learning:custom_fields":
            out.append("the synced custom fields changed in 360Learning")
        else:
            out.append("the custom fields personio360 owns changed in the state store (another run?)")
    return out


def _person_drift(employee_id: int, before: Mapping[str, str], now: Mapping[str, str],
                  snapshot: Snapshot) -> list[str]:
    """Name each moved input of one person, the most telling first, without repeating itself."""
    moved = {k for k in set(before) | set(now) if before.get(k) != now.get(k)}
    if not moved:
        return []
    who = f"employee {employee_id}"
    if "personio:record" in moved:
        there = employee_id in snapshot.employees
        return [f"{who} {'is now' if there else 'is no longer'} in Personio"]
    out = [f"{who}'s {_label(k.split(':', 1)[1])} changed in Personio"
           for k in sorted(moved) if k.startswith("personio:")]
    if "store:link" in moved:
        out.append(f"{who}'s link changed in the state store (did another sync run since the plan?)")
    emp = snapshot.employees.get(employee_id)
    email = (emp.email or "").strip() if emp is not None else ""
    if "360learning:mail_owner" in moved:
        out.append(f"a 360Learning user now has the email {email} that the plan gives {who}"
                   if before.get("360learning:mail_owner") == _digest(None)
                   else f"the 360Learning user with {who}'s email {email} changed")
    elif "360learning:external_id_owner" in moved:
        out.append(f"the 360Learning external id that names {who} changed")
    elif "360learning:user" in moved:
        out.append(f"{who}'s 360Learning user changed")
    else:
        out.extend(f"{who}'s 360Learning user: {_label(k.split(':', 1)[1])} changed"
                   for k in sorted(moved) if k.startswith("360learning:"))
    return out


def _label(key: str) -> str:
    return {"learner_of": "learner groups", "custom_values": "custom field values",
            "to_be_deactivated_at": "deactivation date", "mail": "email"}.get(key, key.replace("_", " "))


def _operation_drift(saved: Mapping[int | None, list[Mapping[str, Any]]],
                     now: Mapping[int | None, list[Mapping[str, Any]]]) -> list[str]:
    """The safety net under the fingerprint: what a sync would do now for each person must be the plan."""
    out = []
    for employee_id, entries in sorted(saved.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0)):
        planned = sorted(_comparable(e) for e in entries)
        current = sorted(_comparable(e) for e in now.get(employee_id, []))
        if planned != current:
            kinds = ", ".join(sorted({e["kind"] for e in now.get(employee_id, [])})) or "nothing"
            who = "the platform" if employee_id is None else f"employee {employee_id}"
            out.append(f"what a sync would do for {who} is no longer what the plan says (now: {kinds})")
    return out


"""Pure presentation for the admin page: plans and runs as rows, runs as CSV and JSON (R16).

The same data the CLI renders (``cli/render.py``'s names and labels), shaped for templates.
"""

from __future__ import annotations

__all__ = [
    "NAMED_FIELDS",
    "SHOWN_BY_NAME",
    "Person",
    "Row",
    "SubscriptionLine",
    "by_person",
    "duration",
    "error_rows",
    "plan_counts",
    "plan_rows",
    "recorded_names",
    "run_csv",
    "run_json",
    "run_rows",
    "run_search",
    "subscription_lines",
    "when",
]

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from personio360.cli.render import _LABELS, Names
from personio360.store.runs import ErrorRecord, OperationRecord, RunDetail, RunSearch
from personio360.subscriptions import LmsState, PersonioState, Target, Verdict
from personio360.sync.operations import PHASES, Operation, Plan


@dataclass(frozen=True, slots=True)
class Row:
    """One person's operation: who, what (and by which rule), and each field before → after."""

    who: str
    employee_id: int | None
    user_id: str | None
    label: str
    rule: str
    outcome: str
    changes: tuple[tuple[str, str, str], ...]

    def search_text(self) -> str:
        return " ".join((self.who, str(self.employee_id or ""), self.user_id or "", self.label,
                         self.outcome, *(" ".join(c) for c in self.changes))).casefold()

    def matches(self, query: str) -> bool:
        return not query or query.casefold() in self.search_text()


@dataclass(frozen=True, slots=True)
class Person:
    """Everything one person's rows say, together (a plan lists them by phase, not by person)."""

    who: str
    employee_id: int | None
    user_id: str | None
    rows: tuple[Row, ...]

    def search_text(self) -> str:
        return "\n".join(r.search_text() for r in self.rows)


def by_person(rows: Iterable[Row]) -> list[Person]:
    """Rows grouped per person, in the order each person first appears."""
    grouped: dict[tuple[int | None, str], list[Row]] = {}
    for row in rows:
        key = (row.employee_id, row.who if row.employee_id is None else "")
        grouped.setdefault(key, []).append(row)
    return [Person(items[0].who, items[0].employee_id,
                   next((r.user_id for r in items if r.user_id), None), tuple(items))
            for items in grouped.values()]


def label(kind: str) -> str:
    return _LABELS.get(kind, kind.replace("_", " "))


def plan_counts(plan: Plan) -> list[tuple[str, str, int, bool]]:
    """Counts by kind, as ``plan`` prints them: (label, rule, count, held back)."""
    rules = {op.kind: op.rule for op in (*plan.operations, *plan.held_back)}
    rows = [(label(kind), rules[kind], count, False) for kind, count in plan.counts().items()]
    held = Counter(op.kind for op in plan.held_back)
    rows += [(label(kind), rules[kind], count, True) for kind, count in held.items()]
    return rows


def plan_rows(ops: Iterable[Operation], names: Names, outcome: str = "planned") -> list[Row]:
    return [Row(names.who(op.employee_id), op.employee_id, op.user_id, label(op.kind), op.rule, outcome,
                tuple((c.name, _show(names.value(c.name, c.before)), _show(names.value(c.name, c.after)))
                      for c in op.changes))
            for op in ops]


def run_rows(operations: Sequence[OperationRecord], names: Names) -> list[Row]:
    """A run's operations, named: employees by the names these operations recorded, else ``names``.

    Give every operation of each person shown (``RunRepository.people`` does): a person's name
    may come from any of their operations."""
    recorded = recorded_names((op.employee_id, op.changes) for op in operations)
    rows = []
    for op in operations:
        who = recorded.get(op.employee_id) if op.employee_id is not None else None
        who = f"{who} ({op.employee_id})" if who else names.who(op.employee_id)
        changes = tuple((c["name"], _show(names.value(c["name"], c.get("before"))),
                         _show(names.value(c["name"], c.get("after")))) for c in op.changes)
        rows.append(Row(who, op.employee_id, op.user_id, label(op.kind), _rule(op.kind), op.outcome, changes))
    return rows


#: Fields whose values name an employee: a create records first and last name.
NAMED_FIELDS = ("first name", "last name")
#: Fields whose stored ids the page shows by name: groups by name, managers by email.
SHOWN_BY_NAME = ("learner of", "manager")


def run_search(query: str, names: Names,
               recorded: Callable[[Collection[int] | None], Mapping[int, str]],
               shown: Callable[[], Iterable[tuple[int | None, list[Any]]]]) -> RunSearch:
    """The run page's search (the same as ``Person.search_text`` finds) as the store answers it.

    The store looks for the text in what operations store; the readable names are known only
    here: who each person is (the name the run recorded, else ``names``), each kind's label, and
    groups and managers shown by name, looked for in ``shown()`` (the operations changing
    ``SHOWN_BY_NAME``) only when a group name or a user email contains the text.
    ``recorded(ids)`` gives the names the run recorded for these employees (``None``: all).
    The store also finds groups' and managers' ids, though the page shows their names; what it
    does not find is in the README (Admin page).
    """
    needle = query.casefold()
    by_names = {e for e in names.employees if needle in names.who(e).casefold()}
    # Without a space or parenthesis, a recorded "first last (id)" contains the text only where
    # its first or last name (stored in the run) or id does, which the store finds itself: only
    # the employees found by ``names`` are checked, as the run may know them by another name.
    spans = any(c in needle for c in " ()")
    known = recorded(None if spans else by_names)
    found: set[int | None] = {e for e, name in known.items() if needle in f"{name} ({e})".casefold()}
    found |= {e for e in by_names if e not in known}
    if needle in names.who(None).casefold():
        found.add(None)
    if any(needle in v.casefold() for v in (*names.groups.values(), *names.users.values())):
        for employee_id, changes in shown():
            if any(c.get("name") in SHOWN_BY_NAME and needle in
                   f"{_show(names.value(c['name'], c.get('before')))} "
                   f"{_show(names.value(c['name'], c.get('after')))}".casefold() for c in changes):
                found.add(employee_id)
    kinds = frozenset(k for k in (*_LABELS, *_RULES) if needle in label(k).casefold())
    return RunSearch(query, kinds, frozenset(found))


@dataclass(frozen=True, slots=True)
class SubscriptionLine:
    """One service's webhook subscriptions at a glance (R17): a state word, the verdict, its fix."""

    service: str
    state: str
    ok: bool
    detail: str
    fix: str | None


def subscription_lines(target: Target, personio: PersonioState, learning360: LmsState,
                       verdicts: tuple[Verdict, Verdict]) -> list[SubscriptionLine]:
    """``webhooks status``'s two verdicts, each with the word the Overview shows: Personio's
    webhook at our URL enabled, disabled or missing; 360Learning's subscriptions active,
    inactive or missing (or unreadable, when the API could not be read)."""
    if personio.error is not None:
        p_word = "unreadable"
    else:
        hook = next((h for h in personio.subscriptions if h.url == target.personio_url), None)
        p_word = "missing" if hook is None else hook.status.lower()
    at_url = {s.event_type: s for s in learning360.subscriptions if s.url == target.learning360_url}
    if learning360.error is not None:
        l_word = "unreadable"
    elif any(e not in at_url for e in target.learning360_events):
        l_word = "missing"
    else:
        l_word = "active" if all(s.active for s in at_url.values()) else "inactive"
    return [SubscriptionLine("Personio", p_word, verdicts[0].ok, verdicts[0].detail, verdicts[0].fix),
            SubscriptionLine("360Learning", l_word, verdicts[1].ok, verdicts[1].detail, verdicts[1].fix)]


def error_rows(errors: Sequence[ErrorRecord], names: Names) -> list[Row]:
    return [Row(names.who(e.employee_id), e.employee_id, None, e.code, "R15", "error",
                (("message", "", e.message),)) for e in errors]


def run_json(detail: RunDetail) -> dict[str, Any]:
    """The run as ``personio360 runs show RUN --json`` gives it."""
    return {
        "run": asdict(detail.run),
        "operations": [asdict(o) for o in detail.operations],
        "errors": [asdict(e) for e in detail.errors],
    }


def run_csv(detail: RunDetail) -> str:
    """One line per field change (an operation without changes: one line), then one per error."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["run", "at", "employee_id", "user_id", "operation", "rule", "outcome",
                     "field", "before", "after", "message"])
    run = detail.run.id
    for op in detail.operations:
        at = op.at.isoformat() if op.at else ""
        base = [run, at, op.employee_id or "", op.user_id or "", op.kind, _rule(op.kind), op.outcome]
        for change in op.changes or [{"name": "", "before": None, "after": None}]:
            writer.writerow([*base, change["name"], _cell(change.get("before")),
                             _cell(change.get("after")), ""])
    for error in detail.errors:
        writer.writerow([run, error.at.isoformat() if error.at else "", error.employee_id or "", "",
                         "error", "R15", error.code, "", "", "", _cell(error.message)])
    return out.getvalue()


def when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


#: Each recorded kind's rule, from the operations themselves.
_RULES = {cls.kind: cls.rule for _phase, kinds in PHASES for cls in kinds}


def _rule(kind: str) -> str:
    return _RULES.get(kind, "")


def recorded_names(operations: Iterable[tuple[int | None, list[Any]]]) -> dict[int, str]:
    """Employees' names from a run's own records, (employee, changes) in order: a create carries
    first and last name (the later operation wins)."""
    out: dict[int, str] = {}
    for employee_id, changes in operations:
        fields = {c["name"]: c.get("after") for c in changes}
        name = " ".join(p for p in (fields.get(NAMED_FIELDS[0]), fields.get(NAMED_FIELDS[1])) if p)
        if name and employee_id is not None:
            out[employee_id] = name
    return out


def _show(value: str | None) -> str:
    return "∅" if value is None else value


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

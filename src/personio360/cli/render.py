"""Text output of the CLI (rich): plans, run reports, checks and run history.

Pure presentation: every function takes the same data the JSON output serialises.
"""

from __future__ import annotations

__all__ = ["Names", "render_checks", "render_plan", "render_report", "render_run", "render_runs"]

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from personio360.store.runs import RunDetail, RunSummary
from personio360.sync.check import CheckResult
from personio360.sync.fields import render
from personio360.sync.operations import Operation, Plan
from personio360.sync.report import RunReport
from personio360.sync.snapshot import Snapshot

_LABELS = {
    "create_custom_field": "create custom field",
    "create_user": "create user",
    "adopt_user": "adopt user",
    "set_external_id": "set external id",
    "update_user": "update user",
    "move_user": "move user (group)",
    "set_manager": "set manager",
    "set_custom_values": "set custom values",
    "delete_user": "delete user",
    "deactivate_user": "deactivate user",
    "close_link": "close link",
    "write_attribute": "write to Personio",
}


@dataclass(frozen=True)
class Names:
    """Readable names for ids in a plan: employees by name, groups by name, users by mail."""

    employees: Mapping[int, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot) -> Names:
        groups = {}
        for hierarchy in snapshot.hierarchies.values():
            groups[hierarchy.top.id] = hierarchy.top.name.strip()
            for kids in hierarchy.children.values():
                groups.update({g.id: g.name.strip() for g in kids})
        employees = {e.id: " ".join(p for p in (render(e.first_name), render(e.last_name)) if p)
                     for e in snapshot.employees.values()}
        users = {u.id: u.mail or u.id for u in snapshot.users.values()}
        return cls(employees, groups, users)

    def who(self, employee_id: int | None) -> str:
        if employee_id is None:
            return "platform"
        name = self.employees.get(employee_id)
        return f"{name} ({employee_id})" if name else f"employee {employee_id}"

    def value(self, change: str, value: str | None) -> str | None:
        if value is None:
            return None
        table = self.groups if change == "learner of" else self.users if change == "manager" else None
        if table is None:
            return value
        return ", ".join(table.get(part, part) for part in value.split(", "))


def render_checks(console: Console, results: list[CheckResult]) -> None:
    for result in results:
        mark = "[green]pass[/]" if result.ok else "[red]FAIL[/]"
        console.print(f"{mark}  {escape(result.name)}: {_text(result.detail)}", highlight=False)
        if not result.ok and result.fix:
            console.print(f"      fix: {_text(result.fix)}", highlight=False)
    failed = sum(1 for r in results if not r.ok)
    console.print(f"\n{len(results) - failed} passed, {failed} failed", highlight=False)


def render_plan(console: Console, plan: Plan, *, detail_limit: int | None = None,
                names: Names | None = None) -> None:
    names = names or Names()
    console.print(f"In scope: {plan.in_scope} employees; managed users: {plan.managed}; "
                  f"deletion limit: {plan.deletion_limit}", highlight=False)
    if plan.empty and not plan.errors:
        console.print("[green]Nothing to change: 360Learning is in step with Personio.[/]")
        return
    table = Table(title="Changes by kind", show_edge=False)
    table.add_column("operation")
    table.add_column("rule")
    table.add_column("count", justify="right")
    rules = {op.kind: op.rule for op in (*plan.operations, *plan.held_back)}
    for kind, count in plan.counts().items():
        table.add_row(_LABELS.get(kind, kind), rules[kind], str(count))
    held: defaultdict[str, int] = defaultdict(int)
    for op in plan.held_back:
        held[op.kind] += 1
    for kind, count in held.items():
        table.add_row(f"{_LABELS.get(kind, kind)} [yellow](held back)[/]", rules[kind], str(count))
    if plan.errors:
        table.add_row("[red]employees skipped (errors)[/]", "R15", str(len(plan.errors)))
    console.print(table)
    _render_operations(console, plan.operations, "Per-person changes", detail_limit, names)
    if plan.held_back:
        _render_operations(console, plan.held_back, "Held back (R13b)", detail_limit, names)
    if plan.errors:
        console.print("\n[bold]Errors (R15)[/]")
        for error in plan.errors[: detail_limit or None]:
            console.print(f"  {_text(names.who(error.employee_id))}: {_text(error.message)}", highlight=False)
        _more(console, len(plan.errors), detail_limit)
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def _render_operations(console: Console, ops: tuple[Operation, ...], title: str,
                       limit: int | None, names: Names) -> None:
    if not ops:
        return
    console.print(f"\n[bold]{title}[/]")
    for op in ops[: limit or None]:
        changes = "; ".join(
            f"{c.name}: {_show(names.value(c.name, c.before))} → {_show(names.value(c.name, c.after))}"
            for c in op.changes
        )
        console.print(f"  {_text(names.who(op.employee_id))}: {_LABELS.get(op.kind, op.kind)}: {changes}"
                      f"  [dim]({op.rule})[/]", highlight=False)
    _more(console, len(ops), limit)


def _more(console: Console, total: int, limit: int | None) -> None:
    if limit and total > limit:
        console.print(f"  … and {total - limit} more (plan --json lists everything)", highlight=False)


def _text(message: str) -> str:
    """A message for the terminal: its control characters and rich markup made harmless."""
    return escape(_CONTROL.sub(" ", message))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _show(value: str | None) -> str:
    """A value for the terminal: no control character, no rich markup, at most 60 characters."""
    if value is None:
        return "∅"
    value = render(value) or ""
    return escape(value if len(value) <= 60 else value[:57] + "…")


def render_report(console: Console, report: RunReport) -> None:
    color = {"completed": "green", "stopped": "red"}.get(report.outcome.value, "yellow")
    if report.kind == "changes" and report.run_id is None:  # R17: nothing to do, no run recorded
        console.print(f"Changes: [green]nothing to do[/] in {report.duration:.1f} s "
                      "(no change in Personio, no event waiting)", highlight=False)
        return
    people = f"{report.covered} employee{'' if report.covered == 1 else 's'}"
    kind = f"changes run, {people}" if report.kind == "changes" else None
    console.print(f"Run {report.run_id}{f' ({kind})' if kind else ''}: [{color}]{report.outcome.value}[/] "
                  f"in {report.duration:.1f} s", highlight=False)
    if report.applied:
        applied = ", ".join(f"{_LABELS.get(k, k)}: {v}" for k, v in report.applied.items())
        console.print(f"  applied: {applied}", highlight=False)
    elif report.outcome.value != "stopped":
        console.print("  applied: nothing (already in step)", highlight=False)
    if report.failed:
        console.print(f"  failed: {', '.join(f'{k}: {v}' for k, v in report.failed.items())}",
                      highlight=False)
    if report.errors:
        console.print(f"  errors: {len(report.errors)} (personio360 runs show {report.run_id})",
                      highlight=False)
    if report.held_back:
        console.print(f"  held back: {len(report.held_back)} deletions (R13b)", highlight=False)
    if report.message:
        console.print(f"  {_text(report.message)}", highlight=False)


def render_runs(console: Console, runs: list[RunSummary]) -> None:
    if not runs:
        console.print("No run recorded yet.")
        return
    table = Table(show_edge=False)
    for column in ("run", "started (UTC)", "command", "env", "outcome", "duration", "applied", "errors"):
        table.add_column(column)
    for run in runs:  # a changes run's command says so: sync --changes (R17)
        applied = sum((run.counts.get("applied") or {}).values())
        table.add_row(
            str(run.id), run.started_at.strftime("%Y-%m-%d %H:%M:%S"), run.command, run.environment,
            run.outcome, f"{run.duration:.1f} s" if run.duration is not None else "—",
            str(applied), str(run.counts.get("errors", 0)),
        )
    console.print(table)


def render_run(console: Console, detail: RunDetail) -> None:
    run = detail.run
    console.print(f"Run {run.id}: {run.command} ({run.environment}), {run.outcome}", highlight=False)
    console.print(f"  started {run.started_at:%Y-%m-%d %H:%M:%S} UTC"
                  + (f", took {run.duration:.1f} s" if run.duration is not None else ""), highlight=False)
    if run.message:
        console.print(f"  {run.message}", highlight=False)
    if detail.operations:
        table = Table(title="Operations", show_edge=False)
        for column in ("employee", "user", "operation", "outcome", "before → after"):
            table.add_column(column)
        for op in detail.operations:
            changes = "; ".join(
                f"{c['name']}: {_show(c['before'])} → {_show(c['after'])}" for c in op.changes
            )
            table.add_row(str(op.employee_id or "—"), op.user_id or "—", _LABELS.get(op.kind, op.kind),
                          op.outcome, changes)
        console.print(table)
    if detail.errors:
        table = Table(title="Errors", show_edge=False)
        for column in ("employee", "code", "message"):
            table.add_column(column)
        for error in detail.errors:
            table.add_row(str(error.employee_id or "—"), error.code, error.message)
        console.print(table)

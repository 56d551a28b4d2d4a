"""Reviewable changes on the command line (issue 8): ``explain``, and the saved plan of ``plan --out``.

``explain EMPLOYEE`` reads what ``plan`` reads (``--employee`` focus for an id), then prints
the pure explanation of ``sync/explain.py``. ``plan_document`` and ``save_plan`` give
``plan --json`` and ``plan --out`` the versioned document of ``sync/saved.py``.
"""

from __future__ import annotations

__all__ = ["explain", "plan_document", "render_explanation", "save_plan"]

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from personio360.cli.companies import company_options

if TYPE_CHECKING:
    from personio360.cli.render import Names
    from personio360.config import Settings
    from personio360.sync.explain import Explanation, FieldRow
    from personio360.sync.run import Prepared


def plan_document(prepared: Prepared, settings: Settings, *, employee_id: int | None,
                  allow_deletions: bool) -> dict[str, Any]:
    """The versioned plan document (``schemas/plan.schema.json``) of a prepared plan."""
    from personio360.sync.saved import build_document

    return build_document(prepared.plan, prepared.snapshot, settings, employee_id=employee_id,
                          allow_deletions=allow_deletions)


def save_plan(document: dict[str, Any], out: str | Path) -> None:
    """Write the document for review and ``sync --plan`` (UTF-8, stable key order)."""
    Path(out).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@click.command("explain")
@click.argument("employee")
@click.option("--config", "config", metavar="PATH",
              help="config file (default: $PERSONIO360_CONFIG, else ./personio360.toml)")
@click.option("--json", "as_json", is_flag=True, help="print the explanation as JSON")
@company_options
def explain(employee: str, config: str | None, as_json: bool, company: str | None,
            database: str | None) -> None:
    """Why one person (Personio id or email) is or is not synced, where, and what a sync would
    change now. Changes nothing."""
    from personio360.cli import main  # at call time: main registers this command

    main._boundary(_explain)(employee, config, as_json, company, database)


def _explain(employee: str, config: str | None, as_json: bool, company: str | None = None,
             database: str | None = None) -> int:
    from personio360.cli.render import Names
    from personio360.store.activation import activated
    from personio360.sync.explain import explain as explain_one
    from personio360.sync.run import prepare_plan
    from personio360.wiring import load_target, open_context

    target = load_target(config, company=company, database=database)
    settings = target.settings
    focus = int(employee.strip()) if employee.strip().isdigit() else None
    with open_context(settings, environ=target.environ) as ctx:
        prepared = prepare_plan(settings, ctx.personio, ctx.lms, ctx.store, employee_id=focus)
        settings = activated(settings, ctx.store.activation.overrides())  # as plan saw them (issue 9)
    result = explain_one(prepared.snapshot, settings, employee)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        render_explanation(Console(highlight=False, soft_wrap=True), result,
                           names=Names.of(prepared.snapshot))
    return 0


def render_explanation(console: Console, result: Explanation, *, names: Names | None = None) -> None:
    """The explanation as text: the verdict first, then each rule's reasons (ids shown by ``names``)."""
    from personio360.cli.render import _LABELS, Names

    names = names or Names()

    who = result.name or result.user_mail or result.query
    ident = f" (employee {result.employee_id})" if result.employee_id is not None else ""
    extra = ", ".join(p for p in (result.email, f"status {result.status}" if result.status else None) if p)
    console.print(f"[bold]{who}{ident}[/]" + (f", {extra}" if extra else ""))
    console.print(f"  {result.verdict}")
    if result.scope:
        console.print(f"\n[bold]Scope (R1):[/] {'in scope' if result.in_scope else 'out of scope'}; "
                      f"decided by {result.decided_by}")
        for check in result.scope:
            console.print(f"  {'[green]yes[/]' if check.ok else '[red]no[/] '} {check.detail}")
    console.print(f"\n[bold]360Learning user (R2):[/] {result.link}: {result.link_detail}")
    for place in result.placements:
        console.print(f"\n[bold]Group (R7):[/] in '{place.synced_group}' the target is '{place.target}'")
        for step in place.steps:
            console.print(f"  {step.detail}")
        console.print(f"  learner of now: {', '.join(place.current) or 'none'}")
    if result.fields or result.custom_fields:
        console.print()
        _fields(console, (*result.fields, *result.custom_fields), synced=result.in_scope)
    if result.manager:
        console.print(f"\n[bold]Manager (R9):[/] {result.manager}")
    if result.errors:
        console.print("\n[bold]Errors (R15):[/]")
        for error in result.errors:
            console.print(f"  {error.message}")
    console.print("\n[bold]What a sync would do now:[/]" + ("" if result.operations or result.held_back
                                                         else " nothing"))
    for op in result.operations:
        changes = "; ".join(f"{c.name}: {names.value(c.name, c.before) or '∅'} → "
                            f"{names.value(c.name, c.after) or '∅'}" for c in op.changes)
        console.print(f"  {_LABELS.get(op.kind, op.kind)}: {changes}  [dim]({op.rule})[/]")
    for op in result.held_back:
        console.print(f"  {_LABELS.get(op.kind, op.kind)} [yellow](held back, R13b)[/]  [dim]({op.rule})[/]")


def _fields(console: Console, rows: tuple[FieldRow, ...], *, synced: bool) -> None:
    table = Table(title="Fields (R4, R8)", show_edge=False, title_justify="left")
    for column in ("field", "Personio", "360Learning", ""):
        table.add_column(column)
    for row in rows:
        state = "[green]in step[/]" if row.in_step else "[yellow]a sync sets it[/]" if synced \
            else "not synced"
        table.add_row(row.name, row.personio or "∅", row.learning360 or "∅", state)
    console.print(table)

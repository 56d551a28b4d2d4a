"""``personio360 webhooks setup | status | remove``: the subscriptions that feed R17.

The commands parse, load the config, call ``personio360.subscriptions`` for each service and
render with rich (or ``--json``). Exit codes (SPEC §2): 0 everything in place; 1 done, but
something is left for the administrator (manual steps, a secret to add, a subscription not
enabled); 2 bad config (no ``[webhooks]``, no ``PERSONIO_WEBHOOK_TOKEN`` for setup); 3 an API
failed (its ``error:`` and ``fix:`` lines are printed, the other service is still handled).

In a multi-company deployment (issue 15), ``--company NAME`` (with ``--database URL``) takes
the place of ``--config``: that company's stored config, credentials and webhook secrets.
"""

# ruff: noqa: PLC0415 - main imports this module to register the group: services load lazily (fast --help)

from __future__ import annotations

__all__ = ["webhooks"]

import json
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from personio360.cli.companies import company_options

if TYPE_CHECKING:
    from personio360.subscriptions import LmsState, PersonioState, SideReport, Target, Verdict

CONFIG_HELP = "config file (default: $PERSONIO360_CONFIG, else ./personio360.toml)"


def _boundary(function: Any, *args: Any) -> None:
    from personio360.cli import main  # at call time: main registers this group

    main._boundary(function)(*args)


@click.group("webhooks")
def webhooks() -> None:
    """Register, show or remove the webhook subscriptions of R17 (Personio and 360Learning)."""


@webhooks.command("setup")
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@company_options
@click.option("--rotate-token", is_flag=True,
              help="also send PERSONIO_WEBHOOK_TOKEN to Personio (Personio never shows the token back)")
@click.option("--json", "as_json", is_flag=True, help="print what was done as JSON")
def setup(config: str | None, company: str | None, database: str | None, rotate_token: bool,
          as_json: bool) -> None:
    """Create or update our subscriptions, enabled; a second run changes nothing."""
    _boundary(_setup, config, company, database, rotate_token, as_json)


@webhooks.command("status")
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@company_options
@click.option("--limit", type=int, default=10, show_default=True,
              help="recent delivery attempts / events to show per subscription")
@click.option("--json", "as_json", is_flag=True, help="print the state as JSON")
def status(config: str | None, company: str | None, database: str | None, limit: int, as_json: bool) -> None:
    """Show our subscriptions and their recent deliveries, changing nothing."""
    _boundary(_status, config, company, database, limit, as_json)


@webhooks.command("remove")
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@company_options
@click.option("--json", "as_json", is_flag=True, help="print what was done as JSON")
def remove(config: str | None, company: str | None, database: str | None, as_json: bool) -> None:
    """Delete our subscriptions (never anyone else's); nothing to delete is fine."""
    _boundary(_remove, config, company, database, as_json)


# --- the commands ------------------------------------------------------------------------------


def _setup(config: str | None, company: str | None, database: str | None, rotate_token: bool,
           as_json: bool) -> int:
    from personio360.config import load_webhook_secrets
    from personio360.errors import ConfigError
    from personio360.subscriptions import open_webhook_clients, setup_learning360, setup_personio, target_of
    from personio360.wiring import load_target

    settings, environ = _loaded(load_target(config, company=company, database=database))
    target = target_of(settings)
    secrets = load_webhook_secrets(settings, environ)
    token = _current_token(settings, environ)
    if token is None:
        raise ConfigError("PERSONIO_WEBHOOK_TOKEN is not set: Personio's deliveries would carry no token",
                          hint="set PERSONIO_WEBHOOK_TOKEN to a long random value (e.g. the output of "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) in the "
                          "environment or .env, for setup and for serve")
    with open_webhook_clients(settings, environ) as (personio, lms):
        reports = [setup_personio(personio, target, token, rotate_token=rotate_token),
                   setup_learning360(lms, target, secrets.learning360_secrets)]
    return _finish(reports, as_json, nothing="nothing to change: the subscriptions were already in place")


def _status(config: str | None, company: str | None, database: str | None, limit: int, as_json: bool) -> int:
    from personio360.config import load_webhook_secrets
    from personio360.subscriptions import (
        inspect_learning360,
        inspect_personio,
        open_webhook_clients,
        target_of,
    )
    from personio360.wiring import load_target

    settings, environ = _loaded(load_target(config, company=company, database=database))
    target = target_of(settings)
    secrets = load_webhook_secrets(settings, environ)
    with open_webhook_clients(settings, environ) as (personio, lms):
        p_state = inspect_personio(personio, target, activity=max(limit, 0))
        l_state = inspect_learning360(lms, target, secrets.learning360_secrets, events=max(limit, 0))
    verdicts = (p_state.verdict(target, token_set=bool(secrets.personio_tokens)), l_state.verdict(target))
    _tell_notify(settings, environ, {"personio": (p_state.error, verdicts[0].ok),
                            "360learning": (l_state.error, verdicts[1].ok)})
    if as_json:
        click.echo(json.dumps(_status_json(target, p_state, l_state, verdicts), indent=2, ensure_ascii=False))
    else:
        _render_status(_console(), p_state, l_state, verdicts)
    _print_errors([s.error for s in (p_state, l_state) if s.error is not None and not _forbidden(s)])
    if any(s.error is not None and not _forbidden(s) for s in (p_state, l_state)):
        return 3
    return 0 if all(v.ok for v in verdicts) else 1


def _tell_notify(settings: Any, environ: Any, found: dict[str, tuple[object, bool]]) -> None:
    """Issue 14: a subscription found disabled (or missing) is notified once, and cleared when it
    is back; a service that could not be read says nothing either way. Never fails the command."""
    from personio360 import notify
    from personio360.wiring import open_store_only

    readable = {name: ok for name, (error, ok) in found.items() if error is None}
    if not readable:
        return
    store = open_store_only(settings)
    try:
        notify.observe_webhooks(settings, store, readable, environ=environ)
    finally:
        store.close()


def _remove(config: str | None, company: str | None, database: str | None, as_json: bool) -> int:
    from personio360.subscriptions import open_webhook_clients, remove_learning360, remove_personio, target_of
    from personio360.wiring import load_target

    settings, environ = _loaded(load_target(config, company=company, database=database))
    target = target_of(settings)
    with open_webhook_clients(settings, environ) as (personio, lms):
        reports = [remove_personio(personio, target), remove_learning360(lms, target)]
    return _finish(reports, as_json, nothing="nothing to remove: no subscription of ours exists")


def _loaded(target: Any) -> tuple[Any, Any]:
    """A ``wiring.Target``'s settings and environment (None: the process's, with ``.env``)."""
    return target.settings, target.environ


def _current_token(settings: Any, environ: Any = None) -> str | None:
    """``PERSONIO_WEBHOOK_TOKEN`` itself (``load_webhook_secrets`` lists current, then previous,
    dropping unset ones): with only ``PERSONIO_WEBHOOK_TOKEN_PREVIOUS`` set, there is none."""
    import os

    from personio360.config import WEBHOOK_VARS, load_webhook_secrets

    tokens = [t.get_secret_value() for t in load_webhook_secrets(settings, environ).personio_tokens]
    probe = load_webhook_secrets(settings, {**(environ if environ is not None else os.environ),
                                            WEBHOOK_VARS[0]: "-"}).personio_tokens
    previous = probe[1].get_secret_value() if len(probe) > 1 else None
    if len(tokens) == 2 or (tokens and previous is None):
        return tokens[0]
    return None


# --- rendering ----------------------------------------------------------------------------------


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _forbidden(state: PersonioState | LmsState) -> bool:
    return bool(getattr(state, "forbidden", False))


def _finish(reports: list[SideReport], as_json: bool, *, nothing: str) -> int:
    if as_json:
        click.echo(json.dumps({"reports": [r.to_dict() for r in reports]}, indent=2, ensure_ascii=False))
    else:
        console = _console()
        for report in reports:
            _render_report(console, report)
        if all(r.actions and not r.changed and r.error is None for r in reports):
            console.print(nothing)
    _print_errors([r.error for r in reports if r.error is not None])
    if any(r.error is not None for r in reports):
        return 3
    return 1 if any(r.todo for r in reports) else 0


_LABELS = {"personio": "Personio", "learning360": "360Learning"}


def _render_report(console: Console, report: SideReport) -> None:
    console.print(f"[bold]{_LABELS[report.service]}[/]")
    for action in report.actions:
        console.print(f"  {action.verb:<9} {escape(action.what)}")
        for change in action.changes:
            console.print(f"            {escape(change)}")
    for todo in report.todo:
        console.print(f"  [yellow]to do:[/] {escape(todo)}")
    if report.error is not None:
        console.print(f"  [red]failed:[/] {escape(str(report.error))}")


def _print_errors(errors: list[Any]) -> None:
    from personio360.http.redact import redact

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for error in errors:
        err.print(f"[red]error:[/] {escape(redact(str(error)))}")
        if error.hint:
            err.print(f"[bold]fix:[/] {escape(redact(error.hint))}")


def _render_status(console: Console, personio: PersonioState, lms: LmsState,
                   verdicts: tuple[Verdict, Verdict]) -> None:
    ok, line = _verdict(verdicts[0])
    console.print(f"[bold]Personio[/]  {'[green]ok[/]' if ok else '[red]not in place[/]'}: {escape(line)}")
    for hook in personio.subscriptions:
        console.print(f"  webhook {hook.id}  {hook.status}  {escape(hook.url)}")
        console.print(f"    events: {', '.join(hook.enabled_events)}")
        _table(console, "recent deliveries", ("completed", "event", "delivered", "status", "error"),
               [(a.completed_at.strftime("%Y-%m-%d %H:%M:%S"), a.event_name or "", "yes" if a.delivered
                 else "no", "" if a.status_code is None else str(a.status_code), a.error or "")
                for a in personio.activity.get(hook.id, [])])
    ok, line = _verdict(verdicts[1])
    if lms.forbidden:
        line += f"; {verdicts[1].fix}"
    console.print(f"[bold]360Learning[/]  {'[green]ok[/]' if ok else '[red]not in place[/]'}: {escape(line)}")
    for sub in lms.subscriptions:
        known = "unknown" if lms.secrets is None else ("configured" if lms.secrets.get(sub.id) else "MISSING")
        console.print(f"  {sub.event_type:<17} {sub.id}  {sub.status}  {escape(sub.url)}  secret: {known}")
        _table(console, "recent events", ("created", "event", "status", "user"),
               [(e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.type or "", e.status, e.user_id or "")
                for e in lms.events.get(sub.id, [])])


def _verdict(verdict: Verdict) -> tuple[bool, str]:
    return verdict.ok, verdict.detail


def _table(console: Console, title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        console.print(f"    {title}: none")
        return
    table = Table(title=None, box=None, padding=(0, 2), show_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(f"    {title}:")
    console.print(table)


def _status_json(target: Target, personio: PersonioState, lms: LmsState,
                 verdicts: tuple[Verdict, Verdict]) -> dict[str, Any]:
    (p_ok, p_line), (l_ok, l_line) = _verdict(verdicts[0]), _verdict(verdicts[1])
    return {
        "personio": {
            "url": target.personio_url, "ok": p_ok, "summary": p_line,
            "error": None if personio.error is None else str(personio.error),
            "subscriptions": [{
                "id": h.id, "url": h.url, "description": h.description, "status": h.status,
                "auth_type": h.auth_type, "enabled_events": list(h.enabled_events),
                "activity": [{"completed_at": a.completed_at.isoformat(), "event_name": a.event_name,
                              "delivered": a.delivered, "status_code": a.status_code,
                              "attempt": a.attempt, "error": a.error}
                             for a in personio.activity.get(h.id, [])],
            } for h in personio.subscriptions],
        },
        "learning360": {
            "url": target.learning360_url, "ok": l_ok, "summary": l_line,
            "error": None if lms.error is None else str(lms.error),
            "manual_steps": target.manual_steps() if lms.forbidden else None,
            "subscriptions": [{
                "id": s.id, "event_type": s.event_type, "name": s.name, "url": s.url, "status": s.status,
                "secret_configured": None if lms.secrets is None else bool(lms.secrets.get(s.id)),
                "events": [{"id": e.id, "created_at": e.created_at.isoformat(), "status": e.status,
                            "type": e.type, "user_id": e.user_id} for e in lms.events.get(s.id, [])],
            } for s in lms.subscriptions],
        },
    }

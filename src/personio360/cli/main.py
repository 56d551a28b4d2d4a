"""The ``personio360`` command line (SPEC §2), with one error boundary for every command.

Each command parses its options, loads the config, calls one service through ``wiring``,
renders the result, and exits with the code SPEC §2 gives: 0 success; 1 completed with
per-employee errors or held-back deletions; 2 bad config or usage; 3 the run stopped
(R10, R13a, an unreachable API); 4 another run holds the state store's lock. Expected
failures print ``error:`` and ``fix:`` lines, never a traceback.
"""

from __future__ import annotations

__all__ = ["main"]

import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click
import structlog
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from personio360.cli import companies, notify, review, serve, webhooks
from personio360.cli.companies import company_options
from personio360.config import Settings, load_config
from personio360.errors import ConfigError, Personio360Error
from personio360.http.redact import redact, structlog_processor

_F = TypeVar("_F", bound=Callable[..., Any])
CONFIG_HELP = "config file (default: $PERSONIO360_CONFIG, else ./personio360.toml)"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _configure_logging() -> None:
    """Structured logs to stderr, redacted (R16); quiet unless PERSONIO360_LOG_LEVEL says otherwise."""
    as_json = os.environ.get("PERSONIO360_LOG_FORMAT", "").lower() == "json"  # one JSON object a line
    default = "INFO" if as_json else "ERROR"
    level = getattr(logging, os.environ.get("PERSONIO360_LOG_LEVEL", default).upper(), logging.ERROR)
    shared: list[Any] = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
                         structlog_processor]
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(
        colors=False)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    handler = logging.StreamHandler(sys.stderr)
    if as_json:  # the libraries' lines as JSON too, through the same redaction
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer,
                                                                 foreign_pre_chain=shared))
    logging.basicConfig(level=level, handlers=[handler])


def _boundary(command: _F) -> _F:
    """The one error boundary: expected failures become ``error:``/``fix:`` lines and an exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = command(*args, **kwargs)
        except Personio360Error as exc:
            err = Console(stderr=True, highlight=False, soft_wrap=True)
            err.print(f"[red]error:[/] {escape(redact(str(exc)))}", markup=True)
            if exc.hint:
                err.print(f"[bold]fix:[/] {escape(redact(exc.hint))}")
            sys.exit(exc.exit_code)
        sys.exit(code or 0)

    return wrapper  # type: ignore[return-value]


def _settings(config: str | None) -> Settings:
    return load_config(config)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="personio360")
def cli() -> None:
    """Keep 360Learning users in step with Personio employees, safely.

    Start with `personio360 check`, review `personio360 plan`, then `personio360 sync`.
    """
    _configure_logging()


@cli.command()
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@company_options
@_boundary
def check(config: str | None, company: str | None, database: str | None) -> int:
    """Verify everything a sync needs, changing nothing (R11)."""
    from personio360.cli.render import render_checks
    from personio360.sync.check import run_checks
    from personio360.wiring import load_target, open_context

    target = load_target(config, company=company, database=database)
    settings = target.settings
    with open_context(settings, environ=target.environ) as ctx:
        results = run_checks(settings, ctx.personio, ctx.lms, activation=ctx.store.activation.overrides(),
                             writer=ctx.writer, writer_missing=ctx.writer_missing)
    render_checks(_console(), results)
    return 0 if all(r.ok for r in results) else 3


@cli.command()
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="print the plan document (JSON) instead")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="also save the plan document, for review and sync --plan FILE")
@click.option("--employee", type=int, metavar="ID", help="plan for one Personio employee only")
@click.option("--allow-deletions", is_flag=True, help="show deletions over the limit as applied")
@click.option("--changes", is_flag=True, help="plan the next changes run only (R17): who changed since")
@click.option("--limit", type=int, default=50, show_default=True, help="per-person lines to print (0: all)")
@company_options
@_boundary
def plan(
    config: str | None,
    company: str | None,
    database: str | None,
    as_json: bool,
    out: str | None,
    employee: int | None,
    allow_deletions: bool,
    changes: bool,
    limit: int,
) -> int:
    """Show exactly what `sync` would change, and change nothing (R13c)."""
    from personio360.cli.render import Names, render_plan
    from personio360.cli.review import plan_document, save_plan
    from personio360.sync.run import prepare_plan
    from personio360.sync.run_changes import prepare_changes
    from personio360.wiring import load_target, open_context

    if changes and (employee is not None or out):
        raise ConfigError("--changes cannot be combined with --employee or --out",
                          hint="a changes run covers whoever changed; save a full plan with plan --out FILE")
    target = load_target(config, company=company, database=database)
    settings = target.settings
    with open_context(settings, environ=target.environ) as ctx:
        if changes:
            prepared = prepare_changes(settings, ctx.personio, ctx.lms, ctx.store,
                                       allow_deletions=allow_deletions)
        else:
            prepared = prepare_plan(settings, ctx.personio, ctx.lms, ctx.store,
                                    allow_deletions=allow_deletions, employee_id=employee)
    data = plan_document(prepared, settings, employee_id=employee, allow_deletions=allow_deletions)
    if out:
        save_plan(data, out)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        render_plan(_console(), prepared.plan, detail_limit=limit or None, names=Names.of(prepared.snapshot))
        if out:
            _console().print(f"\nPlan saved to {out}")
    return 0


@cli.command()
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@click.option("--allow-deletions", is_flag=True, help="apply deletions even over safety.max_deletions (R13b)")
@click.option("--employee", type=int, metavar="ID", help="sync one Personio employee now")
@click.option("--json", "as_json", is_flag=True, help="print the run report as JSON")
@click.option("--plan", "plan_file", metavar="FILE",
              help="apply exactly this saved plan (plan --out), or refuse if its inputs moved")
@click.option("--changes", is_flag=True,
              help="a changes run (R17): only the employees that changed since the last run")
@company_options
@_boundary
def sync(config: str | None, allow_deletions: bool, employee: int | None, as_json: bool,
         plan_file: str | None, changes: bool, company: str | None, database: str | None) -> int:
    """Plan, then apply the plan to 360Learning, recording every change (R16)."""
    from personio360 import notify
    from personio360.cli.render import render_report
    from personio360.sync.run import run_sync
    from personio360.sync.run_changes import run_changes
    from personio360.sync.saved import load_saved
    from personio360.wiring import load_target, open_context

    if plan_file and (allow_deletions or employee is not None or changes):
        raise ConfigError("--plan cannot be combined with --allow-deletions, --employee or --changes",
                          hint="the saved plan decides both: save it with plan --allow-deletions "
                          "or plan --employee ID, then run sync --plan FILE")
    if changes and employee is not None:
        raise ConfigError("--changes cannot be combined with --employee",
                          hint="sync --employee ID syncs one person now; sync --changes whoever changed")
    saved = load_saved(plan_file) if plan_file else None
    target = load_target(config, company=company, database=database)
    settings = target.settings
    console = _console()
    with open_context(settings, environ=target.environ) as ctx, \
            _progress(console, enabled=not as_json) as progress:
        if changes:
            report = run_changes(settings, ctx.personio, ctx.lms, ctx.store,
                                 allow_deletions=allow_deletions, progress=progress, writer=ctx.writer)
        else:
            report = run_sync(
                settings,
                ctx.personio,
                ctx.lms,
                ctx.store,
                allow_deletions=allow_deletions,
                employee_id=employee,
                progress=progress,
                saved=saved,
                writer=ctx.writer,
            )
        notify.observe(settings, ctx.store, report)  # issue 14: never fails the run
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        render_report(console, report)
    if report.outcome.value == "stopped":
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[red]error:[/] {escape(redact(report.message or 'the run stopped'))}")
        if report.hint:
            err.print(f"[bold]fix:[/] {escape(redact(report.hint))}")
    elif report.hint:
        console.print(f"[bold]next:[/] {escape(report.hint)}")
    return report.exit_code


class _progress:
    """A progress bar on an interactive terminal only; a no-op callback otherwise."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self._bar = (
            Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            )
            if enabled and console.is_terminal
            else None
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        if self._bar is None:
            return None
        self._bar.start()
        return self._update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _update(self, phase: str, done: int, total: int) -> None:
        assert self._bar is not None
        with self._lock:
            if phase not in self._tasks:
                self._tasks[phase] = self._bar.add_task(phase, total=total)
            self._bar.update(self._tasks[phase], completed=done, total=total)


@cli.group(invoke_without_command=True)
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@click.option("--limit", type=int, default=20, show_default=True, help="how many runs to list")
@company_options
@click.pass_context
def runs(ctx: click.Context, config: str | None, limit: int, company: str | None,
         database: str | None) -> None:
    """List recent runs (R16); `runs show RUN` shows one run's operations and errors."""
    ctx.ensure_object(dict)
    ctx.obj.update(config=config, company=company, database=database)
    if ctx.invoked_subcommand is None:
        _list_runs(config, limit, company, database)


@_boundary
def _list_runs(config: str | None, limit: int, company: str | None, database: str | None) -> int:
    from personio360.cli.render import render_runs
    from personio360.wiring import load_target, open_store_only

    store = open_store_only(load_target(config, company=company, database=database).settings)
    try:
        render_runs(_console(), store.runs.recent(limit))
    finally:
        store.close()
    return 0


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="print the run as JSON")
@company_options
@click.pass_context
@_boundary
def runs_show(ctx: click.Context, run_id: int, config: str | None, as_json: bool, company: str | None,
              database: str | None) -> int:
    """Show one run: every operation (who, what, before → after) and every error."""
    from personio360.cli.render import render_run
    from personio360.wiring import load_target, open_store_only

    store = open_store_only(load_target(config or ctx.obj.get("config"), company=company or ctx.obj.get(
        "company"), database=database or ctx.obj.get("database")).settings)
    try:
        detail = store.runs.detail(run_id)
    finally:
        store.close()
    if detail is None:
        raise ConfigError(f"no run {run_id} in this state store", hint="personio360 runs lists the runs")
    if as_json:
        click.echo(json.dumps(_run_json(detail), indent=2, ensure_ascii=False, default=str))
    else:
        render_run(_console(), detail)
    return 0


def _run_json(detail: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "run": asdict(detail.run),
        "operations": [asdict(o) for o in detail.operations],
        "errors": [asdict(e) for e in detail.errors],
    }


@cli.command()
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@click.option("--metrics-port", type=int, metavar="PORT",
              help="serve /metrics, /healthz and /readyz on this port (issue 14)")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="address for --metrics-port")
@_boundary
def schedule(config: str | None, metrics_port: int | None, metrics_host: str) -> int:
    """Sync on the configured interval until stopped (production only, R12)."""
    from personio360.cli.render import render_report
    from personio360.notify.service import observing
    from personio360.scheduler import Schedule, Timetable, refuse_unless_production
    from personio360.sync.report import RunReport
    from personio360.sync.run import run_sync
    from personio360.sync.run_changes import run_changes
    from personio360.wiring import open_context

    settings = _settings(config)
    refuse_unless_production(settings)
    console = _console()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    address = (metrics_host, metrics_port) if metrics_port is not None else None
    with open_context(settings) as ctx, observing(settings, ctx.store, metrics_address=address) as observe:

        def on_report(report: RunReport) -> None:
            if report.run_id is None:
                return  # a changes poll with nothing to do (R17): no run, nothing to say
            render_report(console, report)
            observe(report)  # notifications (issue 14): never fail the schedule

        def problem(message: str) -> None:
            err.print(f"[yellow]warning:[/] {escape(redact(message))}")

        def full() -> RunReport:
            return run_sync(settings, ctx.personio, ctx.lms, ctx.store, writer=ctx.writer)

        plan: Schedule | Timetable
        if settings.changes_on:  # R17: polls Personio's changes between the full syncs
            poll = settings.changes_or_default.poll_interval
            plan = Timetable(run_full=full, run_changes=lambda: run_changes(
                settings, ctx.personio, ctx.lms, ctx.store, writer=ctx.writer),
                full_every=settings.full_sync_interval.total_seconds(),
                poll_every=poll.total_seconds() if poll else None, on_report=on_report,
                on_problem=problem, jitter=0.05)
            every = (f"a full sync every {settings.full_sync_every}, changes every "
                     f"{settings.changes_or_default.poll_every}")
        else:
            plan = Schedule(run_once=full, interval=settings.full_sync_interval.total_seconds(),
                            on_report=on_report, on_problem=problem, jitter=0.05)
            every = f"every {settings.full_sync_every}"
        halt = plan.halt if isinstance(plan, Timetable) else plan.stop.set
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: halt())
        console.print(f"Syncing {every}; stop with Ctrl-C or SIGTERM.")
        plan.run_forever()
    console.print(f"Schedule stopped after {plan.runs} runs.")
    return 0


@cli.command()
@click.argument("service", type=click.Choice(["personio", "360learning"]))
@click.option("--port", type=int, default=0, show_default=True, help="port on 127.0.0.1 (0: a free one)")
@click.option("--company", type=click.Path(exists=True, dir_okay=False), help="a company JSON file to serve")
@click.option(
    "--generate", type=int, default=200, show_default=True, help="generate a company of N employees"
)
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the generated company")
@click.option("--client-id", help="the client id it accepts (default: the emulator's documented one)")
@click.option("--client-secret", help="the client secret it accepts (default: the emulator's documented one)")
@click.option("--no-rate-limits", is_flag=True, help="do not enforce the published rate limits")
@_boundary
def emulate(
    service: str,
    port: int,
    company: str | None,
    generate: int,
    seed: int,
    client_id: str | None,
    client_secret: str | None,
    no_rate_limits: bool,
) -> int:
    """Serve an emulator of Personio or 360Learning until interrupted (SPEC §5)."""
    from personio360.emulators.serve import serve_forever

    return serve_forever(
        service,
        port=port,
        company_file=company,
        size=generate,
        seed=seed,
        client_id=client_id,
        client_secret=client_secret,
        rate_limits=not no_rate_limits,
        echo=click.echo,
    )


@cli.command()
@click.option("--size", type=int, default=300, show_default=True, help="employees in the sample company")
@click.option("--seed", type=int, default=7, show_default=True, help="seed of the sample company")
@_boundary
def demo(size: int, seed: int) -> int:
    """Run the whole story against the built-in emulators: check, plan, sync, HR changes, history."""
    from personio360.demo import run_demo

    return run_demo(_console(), size=size, seed=seed)


cli.add_command(review.explain)
cli.add_command(serve.serve)
cli.add_command(webhooks.webhooks)
cli.add_command(notify.notify)
cli.add_command(companies.companies)
cli.add_command(companies.worker)


def main() -> None:
    """Entry point of the ``personio360`` script and ``python -m personio360``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cli(prog_name="personio360")

"""``personio360 companies ...`` and ``personio360 worker``: a multi-company deployment (issue 15).

``--company NAME`` (with ``--database URL`` or ``$PERSONIO360_DATABASE_URL``) is accepted by every
command that reads a company's state, as ``--config`` is; ``company_options`` adds both, and
``wiring.load_target`` resolves them in one place.
"""

from __future__ import annotations

__all__ = ["companies", "company_options", "serve_companies", "worker"]

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

_F = TypeVar("_F", bound=Callable[..., Any])
DATABASE_HELP = "the deployment's PostgreSQL (default: $PERSONIO360_DATABASE_URL)"


def company_options(command: _F) -> _F:
    """``--company NAME`` and ``--database URL``: a company of a deployment, instead of --config."""
    command = click.option("--database", "database", metavar="URL", help=DATABASE_HELP)(command)
    return click.option("--company", "company", metavar="NAME",
                        help="a company of a multi-company deployment (instead of --config)")(command)


def _boundary(function: Callable[..., int]) -> Callable[..., Any]:
    from personio360.cli import main  # at call time: main imports this module

    return main._boundary(function)


def _deployment(database: str | None) -> Any:
    from personio360.service.companies import Registry
    from personio360.service.database import Database, database_url

    return Registry(Database(database_url(database)))


@click.group()
def companies() -> None:
    """The companies of a multi-company deployment (PostgreSQL; issue 15)."""


@companies.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="the company's name (default: the file's stem)")
@click.option("--secrets", "secrets_file", type=click.Path(dir_okay=False, path_type=Path), metavar="ENVFILE",
              help="the company's credentials, VAR=value lines as in a .env (sealed, never shown again)")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def add(file: Path, name: str | None, secrets_file: Path | None, database: str | None) -> None:
    """Register a company: FILE is its config (today's TOML, without [state])."""
    _boundary(_add)(file, name, secrets_file, database)


def _add(file: Path, name: str | None, secrets_file: Path | None, database: str | None) -> int:
    from personio360.cli.main import _console
    from personio360.service.sealing import Sealer

    sealer = Sealer.from_environ()
    registry = _deployment(database)
    try:
        company = registry.add(file, secrets_file, sealer, name=name)
    finally:
        registry.database.close()
    _console().print(f"Added company {company.name} ({company.environment}); its credentials "
                     f"({len(company.secret_names)} values) are sealed.")
    return 0


@companies.command("list")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def list_(database: str | None) -> None:
    """List the companies, with each one's last run."""
    _boundary(_list)(database)


def _list(database: str | None) -> int:
    from personio360.cli.main import _console
    from personio360.cli.render_companies import render_companies
    from personio360.service.status import company_statuses

    registry = _deployment(database)
    try:
        statuses = company_statuses(registry)
    finally:
        registry.database.close()
    render_companies(_console(), statuses)
    return 0


@companies.command("show")
@click.argument("name")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def show(name: str, database: str | None) -> None:
    """Show one company: its config file, environment, secrets' names (never their values), runs."""
    _boundary(_show)(name, database)


def _show(name: str, database: str | None) -> int:
    from personio360.cli.main import _console
    from personio360.cli.render_companies import render_company
    from personio360.service.status import company_status

    registry = _deployment(database)
    try:
        status = company_status(registry, registry.get(name))
    finally:
        registry.database.close()
    render_company(_console(), status)
    return 0


@companies.command("remove")
@click.argument("name")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
@click.option("--yes", is_flag=True, help="do not ask: remove the company and its whole state")
def remove(name: str, database: str | None, yes: bool) -> None:
    """Remove a company and its whole state (links, runs, change feed) from the deployment."""
    _boundary(_remove)(name, database, yes)


def _remove(name: str, database: str | None, yes: bool) -> int:
    from personio360.cli.main import _console

    registry = _deployment(database)
    try:
        registry.get(name)
        if not yes and not click.confirm(f"Remove company {name} and its whole state?", default=False):
            _console().print("Nothing removed.")
            return 1
        registry.remove(name)
    finally:
        registry.database.close()
    _console().print(f"Removed company {name} and its state; its users in 360Learning are untouched.")
    return 0


@companies.command("new-key")
def new_key() -> None:
    """Print a new PERSONIO360_SECRET_KEY (for a new deployment; keep it like a password)."""
    from personio360.service.sealing import new_key as make

    click.echo(make())


@companies.command("sync")
@click.argument("name")
@click.option("--changes", is_flag=True, help="a changes run (R17) instead of a full sync")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def sync(name: str, changes: bool, database: str | None) -> None:
    """Put a full sync (or a changes run) of company NAME on the queue; print its job id."""
    _boundary(_sync)(name, changes, database)


def _sync(name: str, changes: bool, database: str | None) -> int:
    from personio360.cli.main import _console
    from personio360.service.tasks import defer, opened

    kind = "changes" if changes else "full"
    registry = _deployment(database)
    try:
        registry.get(name)
        with opened(registry.database) as app:
            job_id, new = defer(app, name, kind)
    finally:
        registry.database.close()
    what = "a changes run" if changes else "a full sync"
    if new:
        _console().print(f"Queued {what} of {name}: job {job_id}")
    else:
        _console().print(f"{what.capitalize()} of {name} is already waiting: job {job_id}")
    return 0


@companies.command("preview")
@click.argument("name")
@click.option("--allow-deletions", is_flag=True, help="let the plan through deletions over the limit (R13b)")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def preview(name: str, allow_deletions: bool, database: str | None) -> None:
    """Put a preview of company NAME on the queue (what a full sync would do; the admin page
    shows it and its Run now applies exactly it); print its job id."""
    _boundary(_preview)(name, allow_deletions, database)


def _preview(name: str, allow_deletions: bool, database: str | None) -> int:
    from personio360.cli.main import _console
    from personio360.service.tasks import defer, opened

    registry = _deployment(database)
    try:
        registry.get(name)
        with opened(registry.database) as app:
            job_id, new = defer(app, name, "preview", allow_deletions=allow_deletions)
    finally:
        registry.database.close()
    if new:
        _console().print(f"Queued a preview of {name}: job {job_id}")
    else:
        _console().print(f"A preview of {name} is already waiting: job {job_id}")
    return 0


@companies.command("jobs")
@click.argument("name", required=False)
@click.option("--limit", type=int, default=30, show_default=True, help="how many jobs to list")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def jobs(name: str | None, limit: int, database: str | None) -> None:
    """List queued, running and finished jobs (of company NAME), newest first."""
    _boundary(_jobs)(name, limit, database)


def _jobs(name: str | None, limit: int, database: str | None) -> int:
    from personio360.cli.main import _console
    from personio360.cli.render_companies import render_jobs
    from personio360.service.tasks import jobs_of, opened

    registry = _deployment(database)
    try:
        if name:
            registry.get(name)
        with opened(registry.database) as app:
            found = jobs_of(app, name)
    finally:
        registry.database.close()
    render_jobs(_console(), found[:limit] if limit > 0 else found)
    return 0


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="jobs of different companies this worker runs at once")
@click.option("--stalled-after", type=click.FloatRange(3, 3600), default=30.0, show_default=True,
              metavar="SECONDS", help="a worker silent this long is dead: its jobs are queued again")
@click.option("--database", "database", metavar="URL", help=DATABASE_HELP)
def worker(concurrency: int, stalled_after: float, database: str | None) -> None:
    """Run a queue worker: the full syncs and changes runs of every company (issue 15)."""
    _boundary(_worker)(concurrency, stalled_after, database)


def _worker(concurrency: int, stalled_after: float, database: str | None) -> int:
    from personio360.service.worker import run_worker

    return run_worker(database, concurrency=concurrency, stalled_after=stalled_after)


def serve_companies(host: str, port: int, database: str | None) -> int:
    """``serve --companies``: every company's webhook receivers (each recorded event queues one
    changes run of its company) and, with ``PERSONIO360_ADMIN_PASSWORD`` set, the deployment's
    admin page: the companies at ``/``, each company's pages at ``/companies/NAME/``."""
    import os

    import uvicorn
    from rich.console import Console

    from personio360.service.limits import DeploymentLimit
    from personio360.service.sealing import Sealer
    from personio360.service.tasks import defer, opened
    from personio360.web.auth import PASSWORD_ENV, SessionCodec, Throttle, admin_password
    from personio360.web.companies_admin import CompanyPages, create_deployment_app
    from personio360.web.company_hooks import CompanyHooks
    from personio360.web.site import Gate
    from personio360.wiring import share_personio_budget

    password = admin_password(os.environ) if os.environ.get(PASSWORD_ENV) else None
    sealer = Sealer.from_environ()
    registry = _deployment(database)
    console = Console(highlight=False, soft_wrap=True)
    budget: DeploymentLimit | None = None
    try:
        registry.migrate()
        budget = DeploymentLimit(registry.database)  # the pages' Personio reads count as the workers' do
        share_personio_budget(budget)
        with opened(registry.database) as app:

            def queue_changes(company: str) -> None:
                defer(app, company, "changes")  # already waiting: the queueing lock coalesces

            hooks = CompanyHooks(registry, sealer, queue_changes)
            gate = Gate(password, codec=SessionCodec(), throttle=Throttle()) if password is not None else None
            pages = CompanyPages(registry, sealer, app, gate) if gate is not None else None
            console.print(f"personio360 webhook receivers of every company on http://{host}:{port}"
                          "/companies/NAME/hooks/; stop with Ctrl-C.")
            if pages is not None:
                console.print(f"The deployment's admin page on http://{host}:{port}/ "
                              f"(sign in with {PASSWORD_ENV}).")
            else:
                console.print(f"No admin page: {PASSWORD_ENV} is not set (the receivers need none).")
            try:
                uvicorn.run(create_deployment_app(hooks, pages), host=host, port=port, log_level="warning",
                            proxy_headers=True)
            finally:
                hooks.close()
                if pages is not None:
                    pages.close()
    finally:
        share_personio_budget(None)
        if budget is not None:
            budget.close()
        registry.database.close()
    return 0

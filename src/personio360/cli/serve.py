"""``personio360 serve``: the admin page under uvicorn; in production it also runs the schedule (R12).

The schedule and the page's Run now share the state store's lock with the CLI (R14): one run
at a time, whoever starts it. In the test environment nothing runs unless asked (R12).
"""

from __future__ import annotations

__all__ = ["serve"]

import os
import threading

import click

CONFIG_HELP = "config file (default: $PERSONIO360_CONFIG, else ./personio360.toml)"


@click.command("serve")
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=8360, show_default=True, help="port to listen on")
@click.option("--companies", "companies", is_flag=True,
              help="a multi-company deployment: its admin page and every company's webhook receivers "
              "(issue 15)")
@click.option("--database", "database", metavar="URL",
              help="with --companies: the deployment's PostgreSQL (default: $PERSONIO360_DATABASE_URL)")
def serve(config: str | None, host: str, port: int, companies: bool, database: str | None) -> None:
    """Serve the admin page: set up, activate groups, preview, run, and read every run.

    Sign in with the password in PERSONIO360_ADMIN_PASSWORD (12 characters or more).
    With --companies: the deployment's admin page (the companies at /, each company's pages at
    /companies/NAME/, the same password; without it set, no page) and the webhook receivers of
    every company, each at /companies/NAME/hooks/personio and /companies/NAME/hooks/360learning.
    """
    from personio360.cli import main  # at call time: main registers this command

    if companies:
        from personio360.cli.companies import serve_companies

        main._boundary(serve_companies)(host, port, database)  # exits with its code
        return
    main._boundary(_serve)(config, host, port)


def _serve(config: str | None, host: str, port: int) -> int:
    import uvicorn
    from rich.console import Console

    from personio360.config import load_config
    from personio360.web.admin import Admin
    from personio360.web.app import create_app
    from personio360.web.auth import admin_password
    from personio360.wiring import open_context

    password = admin_password(os.environ)
    settings = load_config(config)
    console = Console(highlight=False, soft_wrap=True)
    with open_context(settings) as ctx:
        admin = Admin(settings, ctx)
        app = create_app(admin, password)
        schedule = None
        if settings.environment == "production":
            schedule = threading.Thread(target=admin.schedule().run_forever, daemon=True,
                                        name="personio360-schedule")
            schedule.start()
            if settings.changes_on:  # the change feed watched between runs (issue 14)
                from personio360.notify.service import FeedWatch

                watch = FeedWatch(settings, ctx.store, stop=admin.stop, environ=admin.environ)
                threading.Thread(target=watch.run_forever, daemon=True, name="personio360-feed-watch").start()
            changes = (f"; changes every {settings.changes_or_default.poll_every} and on each webhook "
                       "delivery (R17)") if settings.changes_on else ""
            console.print(f"Syncing every {settings.full_sync_every}{changes} (production, R12).")
        console.print(f"personio360 admin page on http://{host}:{port}/ ({settings.environment}); "
                      "stop with Ctrl-C.")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True)
        finally:
            admin.close()
            if schedule is not None:
                schedule.join(timeout=60)
    return 0

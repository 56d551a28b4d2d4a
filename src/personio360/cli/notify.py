"""``personio360 notify test``: a test message to every notification target, each result (issue 14)."""

from __future__ import annotations

__all__ = ["notify"]

import click

CONFIG_HELP = "config file (default: $PERSONIO360_CONFIG, else ./personio360.toml)"


@click.group("notify")
def notify() -> None:
    """Notifications ([notify] in the config): try the targets."""


@notify.command("test")
@click.option("--config", "config", metavar="PATH", help=CONFIG_HELP)
def test(config: str | None) -> None:
    """Send a test message to every target and report each; exit 1 if any failed."""
    from personio360.cli import main  # at call time: main registers this command

    main._boundary(_test)(config)


def _test(config: str | None) -> int:
    from rich.console import Console
    from rich.markup import escape

    from personio360 import notify as service
    from personio360.config import load_config
    from personio360.wiring import open_store_only

    settings = load_config(config)
    store = open_store_only(settings)
    try:
        results = service.send_test(settings, store)
    finally:
        store.close()
    console = Console(highlight=False, soft_wrap=True)
    for result in results:
        if result.ok:
            console.print(f"[green]sent[/]   {escape(result.target)}")
        else:
            reason = escape(result.error or "not delivered")
            console.print(f"[red]failed[/] {escape(result.target)}: {reason}")
    failed = sum(not r.ok for r in results)
    console.print(f"{len(results) - failed} of {len(results)} targets received the test message.")
    return 1 if failed else 0

"""Group activation in the state store (issue 9): honoured by the CLI's plan and sync, shown by check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from personio360.cli.main import cli
from personio360.config import load_config
from personio360.store import open_store
from personio360.store.activation import activated
from personio360.sync.check import run_checks
from personio360.sync.run import prepare_plan, run_sync
from personio360.web.admin import Admin
from personio360.wiring import Context, open_context

from .conftest import make_sandbox


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Any, str, Context]]:
    """A sandbox with 'London academy' as a second synced group, and an open context."""
    sb, academy = make_sandbox(tmp_path)
    with sb, open_context(load_config(sb.config_path), environ=sb.environ,
                          rate_limit_factor=sb.client_rate_factor) as ctx:
        yield sb, academy, ctx


def _academy_learners(sb: Any, academy: str) -> set[str]:
    return {r.user_id for r in sb.lms.state.roles_of_group(academy)}


def test_migration_0002_adds_the_activation_table(tmp_path: Path) -> None:
    """A new store has the group_activation table; a switch survives reopening the store."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    assert "group_activation" in inspect(store.engine).get_table_names()
    store.activation.set("65003000000000000000000F", False)
    store.close()
    store = open_store(url)
    assert store.activation.overrides() == {"65003000000000000000000f": False}
    store.close()


def test_activated_overrides_only_the_switched_groups(world: tuple[Any, str, Context]) -> None:
    """The store's switch replaces enabled; other groups keep the config's value; unknown ids are ignored."""
    _sb, academy, ctx = world
    settings = ctx.settings
    assert activated(settings, {}) is settings
    off = activated(settings, {academy: False, "0" * 24: True})
    assert [g.enabled for g in off.groups] == [True, False]
    assert activated(off, {academy: False}) == off  # idempotent
    assert settings.groups[1].enabled  # the original is untouched


def test_a_deactivated_group_is_left_out_of_plan_and_sync(world: tuple[Any, str, Context]) -> None:
    """Deactivated in the store, the academy gets no learner from plan or sync; activated, it does."""
    sb, academy, ctx = world
    settings = ctx.settings
    ctx.store.activation.set(academy, False)
    plan = prepare_plan(settings, ctx.personio, ctx.lms, ctx.store).plan
    assert not any(academy in (c.after or "") for op in plan.operations for c in op.changes)
    run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
    assert _academy_learners(sb, academy) == set()

    ctx.store.activation.set(academy, True)
    run_sync(settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
    londoners = [e["id"] for e in sb.personio.state.employees() if e.get("office") == "London"]
    linked = ctx.store.links.active()
    assert {linked[i].user_id for i in londoners if i in linked} <= _academy_learners(sb, academy)


def test_check_shows_the_activation_from_the_admin_page(world: tuple[Any, str, Context]) -> None:
    """check names a group switched on the admin page, in the library and through the CLI."""
    sb, academy, ctx = world
    ctx.store.activation.set(academy, False)
    results = run_checks(ctx.settings, ctx.personio, ctx.lms, activation=ctx.store.activation.overrides())
    line = next(r for r in results if r.name.startswith(f"synced group {academy}"))
    assert "deactivated on the admin page" in line.detail
    with contextlib.chdir(sb.directory):
        output = CliRunner().invoke(cli, ["check", "--config", str(sb.config_path)]).output
    assert "'London academy', deactivated on the admin page: left alone entirely" in output


def test_admin_refuses_to_switch_a_group_the_config_does_not_list(world: tuple[Any, str, Context]) -> None:
    """Only the config's [[groups]] can be activated: the store never widens what is synced."""
    _sb, _academy, ctx = world
    admin = Admin(ctx.settings, ctx, environ=_sb.environ)
    with pytest.raises(Exception, match="not a synced group"):
        admin.set_active("0" * 24, True)
    assert ctx.store.activation.overrides() == {}

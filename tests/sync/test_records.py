"""R16 end to end: every run is recorded with one row per operation and per error; one run at a time."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import pytest

from personio360.errors import RunLocked
from personio360.sync.run import run_sync

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv


@pytest.fixture
def env(flat_env: SyncEnv) -> SyncEnv:
    """These rules do not depend on group structure or custom fields: the lighter company."""
    return flat_env


def test_r16_a_run_records_start_end_environment_outcome_and_counts(env: SyncEnv) -> None:
    """The run row says when, where, how it ended, and the counts per operation of the report."""
    report = env.sync()

    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    run = detail.run
    assert run.environment == "test"
    assert run.command == "sync"
    assert run.outcome == report.outcome.value
    assert run.ended_at is not None
    assert run.started_at <= run.ended_at
    assert run.counts["applied"] == report.applied
    assert run.counts["errors"] == len(report.errors)


def test_r16_one_operation_row_per_applied_operation_and_one_error_row_per_error(env: SyncEnv) -> None:
    """Rows match the report exactly: kinds and counts of operations, employees and codes of errors."""
    report = env.sync()

    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    assert dict(Counter(row.kind for row in detail.operations)) == report.applied
    assert all(row.outcome == "applied" for row in detail.operations)
    assert sorted((e.employee_id, e.code) for e in detail.errors) == \
        sorted((e.employee_id, e.code) for e in report.errors)
    links = env.links()
    for row in detail.operations:
        if row.employee_id is not None and row.employee_id in links:
            assert row.user_id == links[row.employee_id].user_id, row


def test_r16_rows_say_who_what_before_and_after(env: SyncEnv) -> None:
    """An edit's row names the employee, the user and each field's before → after; a create its values."""
    env.sync()
    employee_id = next(i for i in env.clean_ids() if i not in env.edge("adoptable"))
    user = env.user_of(employee_id)
    env.personio.update(employee_id, position="Head of Snacks", last_name="Ångström")
    env.personio.terminate(next(i for i in reversed(env.clean_ids())
                                if i not in env.edge("adoptable") and i != employee_id))
    hired = env.personio.hire(first_name="Jo", last_name="Rowe", email="jo.rowe@newco.example",
                              position="Intern")

    report = env.sync()

    detail = env.ctx.store.runs.detail(report.run_id or 0)
    assert detail is not None
    update = next(r for r in detail.operations if r.kind == "update_user")
    assert (update.employee_id, update.user_id) == (employee_id, user.id)
    changes = {c["name"]: (c["before"], c["after"]) for c in update.changes}
    assert changes["job"] == (user.job, "Head of Snacks")
    assert changes["last name"] == (user.last_name, "Ångström")
    create = next(r for r in detail.operations if r.kind == "create_user")
    assert create.employee_id == hired
    assert create.user_id == env.user_id_of(hired)
    assert {c["name"]: c["after"] for c in create.changes}["mail"] == "jo.rowe@newco.example"
    delete = next(r for r in detail.operations if r.kind == "delete_user")
    assert [(c["before"], c["after"]) for c in delete.changes] == [("active", "deleted")]


def test_r16_secrets_never_appear_in_run_records(make_env: MakeEnv) -> None:
    """Neither client secret shows in any run, operation or error row, even after failures."""
    env = make_env(levels=(), custom_fields={})
    env.sync()
    with env.open(environ={**env.sb.environ, "LEARNING360_CLIENT_SECRET": "s3cr3t-wrong-value"}) as ctx:
        run_sync(env.settings, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
    secrets = [env.sb.environ["LEARNING360_CLIENT_SECRET"], env.sb.environ["PERSONIO_CLIENT_SECRET"],
               "s3cr3t-wrong-value"]

    texts = []
    for run in env.ctx.store.runs.recent(50):
        detail = env.ctx.store.runs.detail(run.id)
        assert detail is not None
        texts.append(repr(detail))
    dump = "\n".join(texts)
    assert "stopped" in dump
    for secret in secrets:
        assert secret not in dump


def test_one_run_at_a_time_a_second_sync_raises_run_locked(env: SyncEnv) -> None:
    """While the store's lock is held, run_sync raises RunLocked, records no run and writes nothing."""
    runs = env.ctx.store.runs.count()
    with env.ctx.store.lock.held(), pytest.raises(RunLocked):
        env.sync()

    assert env.ctx.store.runs.count() == runs
    assert env.writes() == 0
    assert env.sync().run_id is not None  # released: the next run goes


def test_one_run_at_a_time_across_two_contexts_on_the_same_store(env: SyncEnv) -> None:
    """A second context (another process's view) on the same store is refused while a run holds it."""
    with env.open() as other, other.store.lock.held(), pytest.raises(RunLocked):
        env.sync()

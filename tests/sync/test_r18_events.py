"""R18 within seconds: 360Learning's completion events, delivered over HTTP to ``serve``'s
receivers, make the next changes run write that learner's completion back to Personio.

The 360Learning emulator emits ``path.session.user.status.updated`` for a learner's path
completion (always: it is the learner's doing); the receivers record it for managed users of
configured paths only; ``sync --changes`` re-reads that employee, reads that user's statistics
in bulk (``userId[in]``) and writes the attribute, exactly as the full sync would (which then
has nothing left to write).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from personio360.emulators.learning360.learning import PathRecord
from personio360.emulators.personio.state import PersonioState
from personio360.emulators.server import serve_in_thread
from personio360.sync.report import Outcome, RunReport
from personio360.sync.run import run_sync
from personio360.sync.run_changes import run_changes
from personio360.web.admin import Admin
from personio360.web.app import create_app
from personio360.wiring import Context

from .conftest import MakeEnv, SyncEnv

ATTRIBUTE = "dynamic_1000042"
PATH_EVENT = "path.session.user.status.updated"
DONE = (Outcome.COMPLETED, Outcome.COMPLETED_WITH_ERRORS)


def _behind() -> dt.datetime:
    """Personio's clock a few seconds behind ours (see test_r17_changes)."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)


@dataclass
class Completions:
    env: SyncEnv
    ctx: Context
    path: PathRecord
    other: PathRecord

    def settle(self) -> None:
        assert self.env.sb.lms.deliveries.wait_idle(20)

    def complete(self, employee_id: int, path: PathRecord | None = None) -> dt.date:
        """The learner completes the path now (after the write-back cursor); the day written."""
        stat = self.env.lms.learning.complete_path((path or self.path).id, self.env.user_id_of(employee_id))
        assert stat.completed_at is not None
        return dt.datetime.fromisoformat(stat.completed_at.replace("Z", "+00:00")).date()

    def changes(self, *, writer: bool = True) -> RunReport:
        return run_changes(self.env.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                           bulk_poll_interval=0.01, writer=self.ctx.writer if writer else None)

    def full(self) -> RunReport:
        return run_sync(self.env.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                        writer=self.ctx.writer, bulk_poll_interval=0.01)

    def value(self, employee_id: int) -> object:
        return self.env.personio.employee(employee_id).get(ATTRIBUTE)

    def stats_reads(self) -> int:
        return sum(n for endpoint, n in self.env.sb.lms.stats.snapshot()["by_endpoint"].items()
                   if "/stats" in endpoint)


@pytest.fixture
def completions(make_env: MakeEnv) -> Iterator[Completions]:
    """A company synced with write-back on for one path, its completion events delivered to a
    served ``serve`` app."""
    env = make_env(size=20, levels=(), custom_fields={},
                   personio_options={"state": PersonioState(clock=_behind)})
    env.personio.define_attribute(ATTRIBUTE, "Data protection done", "date")
    path = env.lms.learning.add_path("Data protection")
    other = env.lms.learning.add_path("Not written back")
    env.reconfigure(extra_toml=(f'\n[[writeback.items]]\npath = "{path.id}"\nattribute = "{ATTRIBUTE}"\n'
                                'value = "completed_at"\n'))
    lms_hooks = env.sb.lms.webhooks
    sub = lms_hooks.create(PATH_EVENT, "personio360 (test) " + PATH_EVENT, "http://127.0.0.1:9/hooks/360learning")
    environ = {**env.sb.environ, "LEARNING360_WEBHOOK_SECRET": lms_hooks.secret(sub["_id"])}
    with contextlib.ExitStack() as stack:
        ctx = stack.enter_context(env.open(environ=environ))
        found = Completions(env, ctx, path, other)
        assert found.full().outcome in DONE
        admin = Admin(env.settings, ctx, environ=environ)
        stack.callback(admin.close)
        server = serve_in_thread(create_app(admin, "a-long-admin-password-for-r18"))
        stack.callback(server.stop)
        lms_hooks.update(sub["_id"], {"url": f"{server.url}/hooks/360learning"})
        yield found


def test_r18_a_completion_event_is_written_back_by_the_next_changes_run(completions: Completions) -> None:
    c = completions
    first, second = c.env.clean_ids()[:2]
    day = c.complete(first)
    c.settle()
    waiting = c.ctx.store.feed.pending()
    assert [(e.event_name, e.employee_id) for e in waiting] == [(PATH_EVENT, first)]
    c.env.sb.lms.stats.reset()

    report = c.changes()
    assert report.outcome is Outcome.COMPLETED, report
    assert report.applied.get("write_attribute") == 1
    assert c.value(first) == day
    assert c.value(second) is None
    assert c.stats_reads() == 1  # one bulk read (userId[in]) for the one item, not the company
    run = c.ctx.store.runs.detail(report.run_id)
    assert run is not None
    assert run.run.kind == "changes"
    assert [op.kind for op in run.operations if op.kind == "write_attribute"] == ["write_attribute"]
    assert c.ctx.store.feed.pending() == []

    # the full sync (the safety net) agrees: nothing left to write
    c.env.sb.personio.stats.reset()
    again = c.full()
    assert again.outcome in DONE
    assert "write_attribute" not in again.applied
    assert c.env.sb.personio.stats.count("write") == 0


def test_r18_completion_events_of_unmanaged_users_and_other_paths_record_nothing(
        completions: Completions) -> None:
    c = completions
    outsider = c.env.lms.add_user("outsider@example.com", "Out", "Sider")
    c.env.lms.learning.complete_path(c.path.id, outsider.id)
    c.complete(c.env.clean_ids()[0], c.other)
    c.settle()
    assert c.ctx.store.feed.pending() == []
    assert c.changes().run_id is None  # nothing to do: no 360Learning call, no run
    assert c.env.personio.employee(c.env.clean_ids()[0]).get(ATTRIBUTE) is None


def test_r18_a_changes_run_without_the_write_credential_stops_and_keeps_the_event(
        completions: Completions) -> None:
    c = completions
    employee = c.env.clean_ids()[0]
    day = c.complete(employee)
    c.settle()
    report = c.changes(writer=False)
    assert report.outcome is Outcome.STOPPED
    assert "write credential" in (report.message or "")
    assert c.value(employee) is None
    assert len(c.ctx.store.feed.pending()) == 1  # kept: the next run with the credential writes it
    assert c.changes().outcome is Outcome.COMPLETED
    assert c.value(employee) == day

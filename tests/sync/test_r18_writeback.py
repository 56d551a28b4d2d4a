"""R18 write-back end to end over real HTTP: 360Learning completions into Personio custom attributes.

Both emulators serve a generated company; a path and a Personio date attribute are added, the
config gains ``[[writeback.items]]``, and each test reads outcomes from the emulator states and
the run reports (never call order; Personio write calls are counted where the rule is about them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from personio360.emulators.faults import Fault
from personio360.emulators.learning360.learning import PathRecord
from personio360.emulators.personio import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from personio360.sync.check import run_checks
from personio360.sync.operations import WriteAttribute
from personio360.sync.report import Outcome, RunReport
from personio360.sync.run import prepare_plan, run_sync
from personio360.wiring import Context

from .conftest import MakeEnv, SyncEnv

ATTRIBUTE = "dynamic_1000042"


class WritebackEnv:
    """A synced sandbox with one path written back to ``ATTRIBUTE`` (``value``)."""

    def __init__(self, make_env: MakeEnv, *, value: str = "completed_at", attribute: str = ATTRIBUTE,
                 environ: Mapping[str, str] | None = None) -> None:
        self.env: SyncEnv = make_env(size=20, levels=(), custom_fields={})
        self.env.personio.define_attribute(ATTRIBUTE, "Data protection done", "date")
        self.env.personio.define_attribute("dynamic_1000043", "Data protection score", "integer")
        self.path: PathRecord = self.env.lms.learning.add_path("Data protection")
        assert self.env.sync().outcome is not Outcome.STOPPED  # linked (the company plants R15 errors)
        self.env.reconfigure(extra_toml=(
            f'\n[[writeback.items]]\npath = "{self.path.id}"\nattribute = "{attribute}"\n'
            f'value = "{value}"\n'))
        self.ctx: Context = self.env._stack.enter_context(
            self.env.open(environ={**self.env.sb.environ, **(environ or {})}))
        self.ids = self.env.clean_ids()

    def sync(self, **options: Any) -> RunReport:
        return run_sync(self.env.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                        writer=self.ctx.writer, bulk_poll_interval=0.01, **options)

    def complete(self, employee_id: int, at: str = "2026-03-01T10:00:00.000Z", **options: Any) -> None:
        self.env.lms.learning.complete_path(self.path.id, self.env.user_id_of(employee_id),
                                            completed_at=at, **options)

    def value(self, employee_id: int) -> Any:
        return self.env.personio.employee(employee_id).get(ATTRIBUTE)

    def personio_writes(self) -> int:
        return self.env.sb.personio.stats.count("write")


def test_r18_a_completion_reaches_the_mapped_attribute(make_env: MakeEnv) -> None:
    """A managed user's path completion is written as its date into the employee's attribute, recorded."""
    wb = WritebackEnv(make_env)
    first, second = wb.ids[:2]
    wb.complete(first)
    report = wb.sync()
    assert written_back_errors(report) == []
    assert wb.value(first) == dt.date(2026, 3, 1)
    assert wb.value(second) is None
    assert report.applied.get("write_attribute") == 1
    run = wb.ctx.store.runs.detail(report.run_id)
    assert run is not None
    recorded = [op.changes for op in run.operations if op.kind == "write_attribute"]
    assert recorded == [[{"name": f"Personio {ATTRIBUTE}", "before": None, "after": "2026-03-01"}]]


def test_r18_plan_shows_the_write_before_and_after(make_env: MakeEnv) -> None:
    """``plan`` lists the write-back as an R18 operation with before → after, and changes nothing."""
    wb = WritebackEnv(make_env)
    wb.complete(wb.ids[0])
    planned = prepare_plan(wb.env.settings, wb.ctx.personio, wb.ctx.lms, wb.ctx.store).plan
    writes = [op for op in planned.operations if isinstance(op, WriteAttribute)]
    assert [(op.employee_id, op.rule, op.before, op.after) for op in writes] == [
        (wb.ids[0], "R18", None, "2026-03-01")]
    assert wb.personio_writes() == 0


def test_r18_an_unchanged_completion_writes_nothing(make_env: MakeEnv) -> None:
    """A second run, or a completion Personio already holds, makes no Personio write (R14)."""
    wb = WritebackEnv(make_env)
    wb.complete(wb.ids[0])
    wb.env.personio.update(wb.ids[1], **{ATTRIBUTE: dt.date(2026, 3, 1)})
    wb.complete(wb.ids[1])
    assert wb.sync().applied.get("write_attribute") == 1
    wb.env.sb.personio.stats.reset()
    again = wb.sync()
    assert again.outcome is not Outcome.STOPPED
    assert "write_attribute" not in again.applied
    assert wb.personio_writes() == 0


def test_r18_an_unmanaged_users_completion_writes_nothing(make_env: MakeEnv) -> None:
    """A completion of a user personio360 never linked (R6) writes nothing, whatever their email."""
    wb = WritebackEnv(make_env)
    employee = wb.env.personio.employee(wb.ids[0])
    stranger = wb.env.lms.add_user("stranger@example.com", "Str", "Anger")
    wb.env.lms.learning.complete_path(wb.path.id, stranger.id)
    wb.env.sb.personio.stats.reset()
    report = wb.sync()
    assert "write_attribute" not in report.applied
    assert wb.personio_writes() == 0
    assert wb.env.personio.employee(wb.ids[0]) == employee


def test_r18_a_personio_422_skips_that_employee_only(make_env: MakeEnv) -> None:
    """Personio refusing one employee's write is their R15 error; the others land; the next run retries."""
    wb = WritebackEnv(make_env)
    refused, accepted = wb.ids[:2]
    wb.complete(refused)
    wb.complete(accepted)
    wb.env.sb.personio.faults.replace([Fault(kind="status", status=422, method="PATCH",
                                             path=f"^/v1/company/employees/{refused}$")])
    report = wb.sync()
    assert report.outcome is Outcome.COMPLETED_WITH_ERRORS
    assert [e.employee_id for e in written_back_errors(report)] == [refused]
    assert wb.value(accepted) == dt.date(2026, 3, 1)
    assert wb.value(refused) is None
    wb.env.sb.personio.faults.replace([])
    assert written_back_errors(wb.sync()) == []
    assert wb.value(refused) == dt.date(2026, 3, 1), "the refused completion is read again"


def test_r18_the_read_credential_alone_can_never_write(make_env: MakeEnv) -> None:
    """Given the read credential as the write one, Personio refuses: nothing is written, check says so."""
    wb = WritebackEnv(make_env, environ={"PERSONIO_WRITE_CLIENT_ID": DEFAULT_CLIENT_ID,
                                         "PERSONIO_WRITE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET})
    wb.complete(wb.ids[0])
    report = wb.sync()
    assert report.outcome is Outcome.STOPPED
    assert "PERSONIO_WRITE_CLIENT_ID" in (report.hint or "")
    assert wb.value(wb.ids[0]) is None
    lines = {r.name: r for r in run_checks_of(wb, wb.ctx)}
    line = lines["Personio: write credential may write (R18)"]
    assert not line.ok
    assert line.fix


def test_r18_without_the_write_credential_sync_stops_before_any_change(make_env: MakeEnv) -> None:
    """[writeback] on and no PERSONIO_WRITE_* set: the sync stops, naming them, and changes nothing."""
    env = make_env(size=10, levels=(), custom_fields={})
    path = env.lms.learning.add_path("Safety")
    env.personio.define_attribute(ATTRIBUTE, "Safety done", "date")
    env.reconfigure(extra_toml=f'\n[[writeback.items]]\npath = "{path.id}"\nattribute = "{ATTRIBUTE}"\n'
                    'value = "completed_at"\n')
    bare = {k: v for k, v in env.sb.environ.items() if not k.startswith("PERSONIO_WRITE_")}
    (env.sb.directory / ".env").write_text("", encoding="utf-8")
    with env.open(environ=bare) as ctx:
        assert ctx.writer is None
        report = run_sync(env.settings, ctx.personio, ctx.lms, ctx.store, writer=ctx.writer)
        assert report.outcome is Outcome.STOPPED
        assert "PERSONIO_WRITE_CLIENT_ID" in (report.hint or "")
        assert env.writes() == 0
        line = next(r for r in run_checks(env.settings, ctx.personio, ctx.lms, writer=ctx.writer,
                                          writer_missing=ctx.writer_missing)
                    if r.name.startswith("Personio: write credential"))
        assert not line.ok
        assert "PERSONIO_WRITE_CLIENT_ID" in line.detail


def test_r18_check_refuses_unknown_and_non_writable_attributes(make_env: MakeEnv) -> None:
    """check fails an unknown attribute, a standard one, and one of the wrong type, each with its fix."""
    wb = WritebackEnv(make_env)
    wb.env.personio.define_attribute("dynamic_1", "IBAN", universal_id="iban")
    lines = {r.name: r for r in run_checks_of(wb)}
    assert lines["Personio: write credential may write (R18)"].ok
    good = lines[f"Personio: attribute {ATTRIBUTE!r} writable (writeback.items[0].attribute)"]
    assert good.ok
    for attribute, why in (("dynamic_9999999", "does not exist"), ("dynamic_1", "standard attribute"),
                           ("dynamic_1000043", "type 'integer'")):
        wb.env.reconfigure(extra_toml=(
            f'\n[[writeback.items]]\npath = "{wb.path.id}"\nattribute = "{attribute}"\n'
            'value = "completed_at"\n'))
        lines = {r.name: r for r in run_checks_of(wb)}
        line = lines[f"Personio: attribute {attribute!r} writable (writeback.items[0].attribute)"]
        assert not line.ok
        assert why in line.detail
        assert line.fix


def test_r18_check_fails_an_unknown_path(make_env: MakeEnv) -> None:
    """A path id 360Learning does not know fails its check line, naming the key to correct."""
    wb = WritebackEnv(make_env)
    wb.env.reconfigure(extra_toml=(f'\n[[writeback.items]]\npath = "507f1f77bcf86cd799439011"\n'
                                   f'attribute = "{ATTRIBUTE}"\nvalue = "completed_at"\n'))
    line = next(r for r in run_checks_of(wb) if r.name.startswith("360Learning: path"))
    assert not line.ok
    assert "writeback.items[0].path" in (line.fix or "")


def test_r18_score_and_status_values(make_env: MakeEnv) -> None:
    """value = "score" writes the percentage; an integer attribute holding it already is left alone."""
    wb = WritebackEnv(make_env, value="score", attribute="dynamic_1000043")
    wb.complete(wb.ids[0], score=85)
    wb.complete(wb.ids[1], score=60)
    wb.env.personio.update(wb.ids[1], dynamic_1000043=60)
    report = wb.sync()
    assert report.applied.get("write_attribute") == 1
    assert wb.env.personio.employee(wb.ids[0])["dynamic_1000043"] == 85


def written_back_errors(report: RunReport) -> list[Any]:
    return [e for e in report.errors if getattr(e, "code", "") == "write_attribute_failed"]


def run_checks_of(wb: WritebackEnv, ctx: Context | None = None) -> list[Any]:
    """``check`` as the CLI runs it: with the write credential's client (a fresh one per config)."""
    if ctx is not None:
        return run_checks(wb.env.settings, ctx.personio, ctx.lms, writer=ctx.writer,
                          writer_missing=ctx.writer_missing)
    with wb.env.open(settings=wb.env.settings) as opened:
        return run_checks_of(wb, opened)

"""The queue's tasks (issue 15, procrastinate): one per kind of job, each run under its company's lock.

* ``full(company)`` and ``changes(company)`` call the very services ``personio360 sync`` and
  ``sync --changes`` call, on the company opened through the registry; the run's report goes to
  ``notify`` as the CLI's does. Arguments are a company name, nothing else.
* ``preview(company)`` computes what a full sync would do (``prepare_plan``, as ``plan --out``)
  and keeps the plan document in the company's store (``store.previews``), where the admin page
  of the deployment shows it; ``apply(company, preview)`` is that page's Run now: exactly that
  document, as ``sync --plan`` applies a saved plan, refused (nothing written) if an input moved.
  A preview is a job rather than the page's own thread because the page and the workers are
  different processes, and a preview reads both APIs at the company's rate limits.
* Each job carries ``lock="company:<name>"`` (two jobs of one company never overlap, on any
  worker) and a queueing lock ``<kind>:<name>`` (while one is waiting, deferring another is a
  no-op: a burst of 500 deliveries queues one changes run, ten presses of Preview one preview).
* ``tick`` (periodic, every few seconds, never two at once) defers each production company's
  due full syncs and polls (``timetable.py``) and puts the jobs of dead workers (no heartbeat
  for ``stalled_after`` seconds) back on the queue: they run again and converge (R14).

Nothing here leaks into ``sync/``: the runs do not know they are on a queue.
"""

from __future__ import annotations

__all__ = ["JOB_KINDS", "TICK_CRON", "Deployment", "apply", "changes", "defer", "full", "jobs_of",
           "make_app", "opened", "preview", "queue_schema", "tick"]

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text

from personio360.errors import RunLocked
from personio360.http.redact import redact
from personio360.service.companies import CompanyTarget, Registry
from personio360.service.database import SHARED_SCHEMA, Database
from personio360.service.sealing import Sealer
from personio360.service.timetable import due_jobs

log = logging.getLogger("personio360.service")
#: a job's kind -> its task's name
JOB_KINDS = {"full": "p360.full", "changes": "p360.changes", "preview": "p360.preview", "apply": "p360.apply"}
_QUEUE_KEY = 360_360_363
_TICK_QUEUE = "tick"
#: every 5 seconds: procrastinate's optional 6th cron field is the seconds (not the first)
TICK_CRON = "* * * * * */5"


@dataclass
class Deployment:
    """What a worker's tasks reach: the registry, the key to open credentials, the queue."""

    registry: Registry
    sealer: Sealer
    stalled_after: float = 30.0

    def target(self, company: str) -> CompanyTarget:
        return self.registry.target(company, self.sealer)


_RETRY = procrastinate.RetryStrategy(max_attempts=4, wait=15, retry_exceptions={RunLocked})


def _deployment(context: procrastinate.JobContext) -> Deployment:
    deployment = context.additional_context["deployment"]
    assert isinstance(deployment, Deployment)
    return deployment


def full(context: procrastinate.JobContext, company: str) -> None:
    """A full sync of ``company`` (``personio360 sync``)."""
    from personio360 import notify  # noqa: PLC0415 (a task's services load with it)
    from personio360.sync.run import run_sync  # noqa: PLC0415
    from personio360.wiring import open_context  # noqa: PLC0415

    target = _deployment(context).target(company)
    with open_context(target.settings, environ=target.environ) as ctx:
        report = run_sync(target.settings, ctx.personio, ctx.lms, ctx.store, writer=ctx.writer)
        notify.observe(target.settings, ctx.store, report)
    log.info("company %s: full sync run %s %s", company, report.run_id, report.outcome.value)


def changes(context: procrastinate.JobContext, company: str) -> None:
    """A changes run of ``company`` (``personio360 sync --changes``, R17)."""
    from personio360 import notify  # noqa: PLC0415
    from personio360.sync.run_changes import run_changes  # noqa: PLC0415
    from personio360.wiring import open_context  # noqa: PLC0415

    target = _deployment(context).target(company)
    with open_context(target.settings, environ=target.environ) as ctx:
        report = run_changes(target.settings, ctx.personio, ctx.lms, ctx.store, writer=ctx.writer)
        if report.run_id is not None:  # a poll with nothing to do is no run (R17)
            notify.observe(target.settings, ctx.store, report)
    log.info("company %s: changes run %s %s", company, report.run_id, report.outcome.value)


def preview(context: procrastinate.JobContext, company: str, allow_deletions: bool = False) -> None:
    """What a full sync of ``company`` would do, kept as a plan document in its store (the admin
    page's Preview; ``personio360 plan --out``); a preview that cannot read keeps why."""
    from personio360.errors import ConfigError, RunStopped  # noqa: PLC0415
    from personio360.sync.run import prepare_plan  # noqa: PLC0415
    from personio360.sync.saved import build_document  # noqa: PLC0415
    from personio360.wiring import open_context  # noqa: PLC0415

    target = _deployment(context).target(company)
    job_id = context.job.id
    with open_context(target.settings, environ=target.environ) as ctx:
        made_at = dt.datetime.now(dt.UTC)
        try:
            prepared = prepare_plan(target.settings, ctx.personio, ctx.lms, ctx.store,
                                    allow_deletions=allow_deletions)
        except (RunStopped, ConfigError) as exc:
            ctx.store.previews.save(made_at, allow_deletions=allow_deletions, job_id=job_id,
                                    problem=redact(str(exc)), hint=redact(exc.hint) if exc.hint else None)
            log.warning("company %s: preview stopped: %s", company, redact(str(exc)))
            return
        document = build_document(prepared.plan, prepared.snapshot, target.settings,
                                  allow_deletions=allow_deletions, created_at=made_at)
        preview_id = ctx.store.previews.save(made_at, allow_deletions=allow_deletions, job_id=job_id,
                                             document=document)
    log.info("company %s: preview %s made", company, preview_id)


def apply(context: procrastinate.JobContext, company: str, preview: int) -> None:
    """Run now: apply exactly preview ``preview`` of ``company`` (``sync --plan``, issue 8), or
    refuse with nothing written when Personio or 360Learning moved since; used up either way."""
    from personio360 import notify  # noqa: PLC0415
    from personio360.sync.run import run_sync  # noqa: PLC0415
    from personio360.sync.saved import SavedPlan  # noqa: PLC0415
    from personio360.wiring import open_context  # noqa: PLC0415

    target = _deployment(context).target(company)
    with open_context(target.settings, environ=target.environ) as ctx:
        stored = ctx.store.previews.get(preview)
        if stored is None or stored.document is None or stored.run_id is not None:
            log.warning("company %s: preview %s is gone, failed or already used: nothing applied",
                        company, preview)
            return
        saved = SavedPlan(name=f"preview-{stored.id}", document=stored.document,
                          created_at=stored.made_at, employee_id=None)
        report = run_sync(target.settings, ctx.personio, ctx.lms, ctx.store, saved=saved,
                          writer=ctx.writer)
        if report.run_id is not None:
            ctx.store.previews.used(preview, report.run_id)
        notify.observe(target.settings, ctx.store, report)
    log.info("company %s: preview %s applied by run %s %s", company, preview, report.run_id,
             report.outcome.value)


async def tick(context: procrastinate.JobContext, timestamp: int) -> None:
    """Defer due periodic jobs, retry dead workers' jobs, forget old ticks."""
    deployment = _deployment(context)
    app = context.app
    assert app is not None
    now = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    for company, kind in await asyncio.to_thread(_due, deployment.registry, now):
        await asyncio.to_thread(defer, app, company, kind)
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=deployment.stalled_after):
        log.warning("job %s (%s) of a dead worker: queued again", job.id, job.task_name)
        await app.job_manager.retry_job(job)
    await app.job_manager.delete_old_jobs(nb_hours=1, queue=_TICK_QUEUE)


def _due(registry: Registry, now: dt.datetime) -> list[tuple[str, str]]:
    """Each production company's due jobs, with its timetable moved on (R12: test runs on demand)."""
    due: list[tuple[str, str]] = []
    for company in registry.list():
        if company.environment != "production":
            continue
        settings = registry.settings_of(company.name)
        poll = settings.changes_or_default.poll_interval if settings.changes_on else None
        found = due_jobs(company.name, now, full_every=settings.full_sync_interval, poll_every=poll,
                         next_full_at=company.next_full_at, next_poll_at=company.next_poll_at)
        due += [(company.name, kind) for kind, on in (("full", found.full), ("changes", found.changes)) if on]
        registry.set_next(company.name, full=found.next_full_at, poll=found.next_poll_at)
    return due


def defer(app: procrastinate.App, company: str, kind: str, **arguments: int | bool) -> tuple[int, bool]:
    """Put a ``kind`` job of ``company`` on the queue: (its id, True) or, when one is already
    waiting (the queueing lock), (the waiting one's id, False). ``arguments`` are the task's
    other small JSON-plain ones (a preview's ``allow_deletions``, an apply's ``preview`` id)."""
    task = app.tasks[JOB_KINDS[kind]]
    queueing_lock = f"{kind}:{company}"
    if arguments.get("allow_deletions"):  # approving deletions is not the plain preview waiting
        queueing_lock = f"{kind}-allowing-deletions:{company}"
    try:
        job_id = task.configure(lock=f"company:{company}", queueing_lock=queueing_lock).defer(
            company=company, **arguments)
    except AlreadyEnqueued:
        waiting = list(app.job_manager.list_jobs(queueing_lock=queueing_lock, status="todo"))
        return (waiting[0].id or 0 if waiting else 0), False
    return job_id, True


def make_app(database: Database) -> procrastinate.App:
    """procrastinate over the deployment's PostgreSQL, its tables in the shared schema."""
    connector = procrastinate.PsycopgConnector(
        conninfo=database.libpq_url, kwargs={"options": f"-c search_path={SHARED_SCHEMA}"},
        min_size=1, max_size=8)
    app = procrastinate.App(connector=connector)
    app.task(name=JOB_KINDS["full"], pass_context=True, retry=_RETRY)(full)
    app.task(name=JOB_KINDS["changes"], pass_context=True, retry=_RETRY)(changes)
    app.task(name=JOB_KINDS["preview"], pass_context=True, retry=_RETRY)(preview)
    app.task(name=JOB_KINDS["apply"], pass_context=True, retry=_RETRY)(apply)
    ticker = app.task(name="p360.tick", pass_context=True, lock="tick", queueing_lock="tick",
                      queue=_TICK_QUEUE)
    app.periodic(cron=TICK_CRON)(ticker(tick))
    return app


def queue_schema(database: Database) -> None:
    """procrastinate's tables in the shared schema, created once (under a lock) if missing."""
    database.ensure_schema(SHARED_SCHEMA)
    with database.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _QUEUE_KEY})
        present = connection.execute(text("SELECT to_regclass(:t)"),
                                     {"t": f"{SHARED_SCHEMA}.procrastinate_jobs"}).scalar()
        if present is None:
            sql = procrastinate.App(connector=procrastinate.PsycopgConnector()).schema_manager.get_schema()
            cursor = connection.connection.cursor()  # the DBAPI's own: the script's % are not placeholders
            try:
                cursor.execute(sql)
            finally:
                cursor.close()


@contextlib.contextmanager
def opened(database: Database) -> Iterator[procrastinate.App]:
    """The queue opened for deferring and listing (the CLI): its schema in place first."""
    queue_schema(database)
    app = make_app(database)
    with app.open():
        yield app


def jobs_of(app: procrastinate.App, company: str | None) -> list[dict[str, Any]]:
    """Queued, running and finished jobs (of one company), newest first."""
    names = {v: k for k, v in JOB_KINDS.items()}
    found = app.job_manager.list_jobs(lock=f"company:{company}") if company else app.job_manager.list_jobs()
    rows = [{"id": job.id, "company": job.task_kwargs.get("company", ""), "kind": names[job.task_name],
             "status": job.status, "attempts": job.attempts, "scheduled": job.scheduled_at,
             "detail": _detail(job.task_kwargs)}
            for job in found if job.task_name in names]
    return sorted(rows, key=lambda r: -int(r["id"] or 0))


def _detail(arguments: dict[str, Any]) -> str:
    """A job's arguments beside its company, in words (``companies jobs``, the admin page)."""
    words = []
    if "preview" in arguments:
        words.append(f"preview {arguments['preview']}")
    if arguments.get("allow_deletions"):
        words.append("deletions allowed")
    return ", ".join(words)

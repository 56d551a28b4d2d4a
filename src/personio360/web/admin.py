"""What the admin page does, over the same services as the CLI (issue 9, STYLE §7.6).

``Admin`` holds the settings and the opened context (both clients and the store) for the
server's lifetime, and offers each page its data: the integration and its checks (R10, R11),
the groups and their activation, the change feed and ``webhooks status`` (R17), the Preview
(``prepare_plan`` saved as a plan document, issue 8) and Run now (``run_sync`` bound to
exactly that document), the run history (R16) and ``explain``. Routes only call these
methods and render what they return.

On a deployment's pages (issue 15) ``queue`` is set: Preview and Run now then put jobs on the
queue (``web/queued.py``) instead of running in this process, and the preview shown is the
latest one a job stored in the company's store. The other services are the same.
"""

from __future__ import annotations

__all__ = ["Admin", "FeedView", "Found", "GroupView", "PeopleReport", "Preview", "ReportLine", "RunView",
           "WebhookView"]

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from personio360 import notify
from personio360.cli.render import Names
from personio360.config import Settings, load_credentials, load_webhook_secrets
from personio360.errors import ApiError, ConfigError, Personio360Error
from personio360.http.redact import mask, redact
from personio360.scheduler import Schedule, Timetable
from personio360.store.activation import activated
from personio360.store.events import FeedStatus
from personio360.store.runs import ErrorRecord, RunDetail, RunSummary
from personio360.subscriptions import (
    LmsState,
    PersonioState,
    Target,
    Verdict,
    inspect_learning360,
    inspect_personio,
    open_webhook_clients,
    target_of,
)
from personio360.sync.check import CheckResult, run_checks
from personio360.sync.explain import Explanation, explain
from personio360.sync.operations import AdoptUser, CreateUser, Plan
from personio360.sync.report import RunReport
from personio360.sync.run import Prepared, prepare_plan, run_sync
from personio360.sync.run_changes import run_changes
from personio360.sync.saved import SavedPlan, build_document
from personio360.sync.scope import in_scope
from personio360.web import present
from personio360.web.jobs import Job, Jobs
from personio360.web.present import Person, Row, by_person, error_rows, plan_rows, run_rows
from personio360.web.queued import JobQueue, Queued, QueuedPreview, preview_view
from personio360.wiring import Context

log = logging.getLogger("personio360.web")
#: Group names are read again from 360Learning at most this often (seconds).
GROUP_NAMES_TTL = 300.0
#: The run list filters over this many recent runs.
RUN_WINDOW = 1000
#: How many finished runs' recorded names are kept in memory for their pages' searches.
RUN_CACHE = 8
#: Our webhook subscriptions (R17) are read again from both APIs at most this often (seconds).
WEBHOOKS_TTL = 60.0
#: Recent delivery attempts (Personio) and events (360Learning) shown per subscription.
WEBHOOK_ACTIVITY = 10


@dataclass(frozen=True, slots=True)
class GroupView:
    """A configured synced group as the Integration page shows it."""

    id: str
    name: str | None
    enabled: bool
    configured: bool
    where: str
    changed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Preview:
    """A prepared plan, and the plan document (issue 8) that Run now applies exactly."""

    prepared: Prepared
    document: dict[str, Any]
    names: Names
    made_at: dt.datetime
    allow_deletions: bool
    settings: Settings
    #: the plan's operations per person, as the pages show them (made once, with the preview)
    people: list[Person]

    @property
    def plan(self) -> Plan:
        return self.prepared.plan

    def saved(self) -> SavedPlan:
        """The previewed plan as a saved plan: what Run now hands to ``run_sync`` (issue 8)."""
        return SavedPlan(name=f"preview-{self.made_at:%Y-%m-%dT%H:%M:%SZ}", document=self.document,
                         created_at=self.made_at, employee_id=None)


@dataclass(frozen=True, slots=True)
class RunView:
    """One page of a run's page: the run, this page's people with all their operations, how many
    people match in all, how many operations the run has, and its errors that match."""

    run: RunSummary
    people: list[Person]
    total: int
    operations: int
    errors: list[Row]


@dataclass(frozen=True, slots=True)
class FeedView:
    """The change feed (R17) as the Overview shows it: the store's markers and the poll interval."""

    status: FeedStatus
    poll_every: str
    lag: float | None


@dataclass(frozen=True, slots=True)
class WebhookView:
    """``webhooks status`` (R17) as the pages show it: what was read at ``at``, or why nothing was."""

    at: dt.datetime
    target: Target | None = None
    personio: PersonioState | None = None
    learning360: LmsState | None = None
    verdicts: tuple[Verdict, Verdict] | None = None
    problem: str | None = None
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """A People search: the explanation, or the employees whose name matched, or why none."""

    query: str
    explanation: Explanation | None = None
    names: Names | None = None
    matches: tuple[tuple[int, str, str, str], ...] = ()
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One person of the People report: who, and why (the rule)."""

    who: str
    email: str
    reason: str
    employee_id: int | None = None


@dataclass(frozen=True, slots=True)
class PeopleReport:
    """From the last Preview: users no employee is linked to (R6), employees without a user."""

    made_at: dt.datetime
    unlinked_users: tuple[ReportLine, ...]
    employees_without_user: tuple[ReportLine, ...]


@dataclass
class Admin:
    """The admin page's services; one per server."""

    settings: Settings
    ctx: Context
    environ: Mapping[str, str] | None = None
    bulk_poll_interval: float = 1.0
    jobs: Jobs = field(default_factory=Jobs)
    checks: tuple[dt.datetime, list[CheckResult]] | None = None
    preview: Preview | None = None
    next_run: dt.datetime | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    #: a deployment's queue (issue 15): Preview and Run now become its jobs; None: this process runs them
    queue: JobQueue | None = None
    _names: tuple[float, dict[str, str]] | None = None
    _recorded: dict[int, dict[int, str]] = field(default_factory=dict)
    _managed: tuple[object, float, int] | None = None
    _last_names: Names | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timetable: Timetable | None = None
    _webhooks: tuple[float, WebhookView] | None = None
    _stored: QueuedPreview | None = None

    # --- the integration (R10, R11) and group activation --------------------------------

    def integration(self) -> dict[str, str]:
        """What the seed's setup step shows: URLs, masked client ids, the connector admin."""
        creds = load_credentials(self.settings, self.environ)
        return {
            "environment": self.settings.environment,
            "personio_url": self.settings.personio.base_url,
            "personio_client_id": mask(creds.personio_client_id.get_secret_value()),
            "learning360_url": self.settings.learning360.base_url,
            "learning360_client_id": mask(creds.learning360_client_id.get_secret_value()),
            "connector_admin": self.settings.learning360.connector_admin_email,
            "platform": self.settings.learning360.external_id_platform,
            "schedule": self.settings.full_sync_every,
            "state": make_url(self.settings.state_url).render_as_string(hide_password=True),
        }

    def effective(self) -> Settings:
        """The settings as activated on this page: what plan, sync and check use."""
        return activated(self.settings, self.ctx.store.activation.overrides())

    def verify(self) -> list[CheckResult]:
        """``check`` (R11), with this page's activation shown; never changes anything."""
        results = run_checks(self.settings, self.ctx.personio, self.ctx.lms,
                             activation=self.ctx.store.activation.overrides(),
                             writer=self.ctx.writer, writer_missing=self.ctx.writer_missing)
        self.checks = (dt.datetime.now(dt.UTC), results)
        self._names = None
        return results

    def group_names(self) -> dict[str, str]:
        """360Learning group names by id, cached a few minutes; empty when 360Learning is unreachable."""
        now = time.monotonic()
        if self._names is None or now - self._names[0] > GROUP_NAMES_TTL:
            try:
                names = {g.id: g.name.strip() for g in self.ctx.lms.iter_groups()}
            except ApiError as exc:
                log.warning("group names unavailable: %s", redact(str(exc)))
                names = {}
            self._names = (now, names)
        return self._names[1]

    def groups(self) -> list[GroupView]:
        stored = self.ctx.store.activation.all()
        names = self.group_names()
        out = []
        for group in self.settings.groups:
            switch = stored.get(group.id)
            where = "; ".join(f"{k} = {' or '.join(group.accepted(k))}" for k in group.where)
            out.append(GroupView(group.id, names.get(group.id),
                                 switch.enabled if switch else group.enabled, group.enabled,
                                 where or "every employee", switch.changed_at if switch else None))
        return out

    def set_active(self, group_id: str, enabled: bool) -> None:
        """Activate or deactivate one configured group; the Preview made before no longer holds."""
        if group_id not in {g.id for g in self.settings.groups}:
            raise ConfigError(f"{group_id} is not a synced group of this config",
                              hint="only the groups listed in [[groups]] can be activated")
        self.ctx.store.activation.set(group_id, enabled)
        self.preview = None

    # --- the change feed and our webhook subscriptions (R17) ----------------------------

    def feed(self) -> FeedView | None:
        """The change feed from the store (no API call); ``None`` while changes are off."""
        if not self.settings.changes_on:
            return None
        status = self.ctx.store.feed.status()
        lag = status.lag(dt.datetime.now(dt.UTC))
        return FeedView(status, self.settings.changes_or_default.poll_every,
                        lag.total_seconds() if lag is not None else None)

    def webhooks(self, *, fresh: bool = False) -> WebhookView:
        """``webhooks status``, read with the CLI's functions and kept ``WEBHOOKS_TTL`` seconds
        (a failed read too), so page views do not hammer the APIs; ``fresh`` reads again."""
        now = time.monotonic()
        cached = self._webhooks
        if cached is not None and not fresh and now - cached[0] < WEBHOOKS_TTL:
            return cached[1]
        view = self._read_webhooks()
        self._webhooks = (time.monotonic(), view)
        return view

    def _read_webhooks(self) -> WebhookView:
        at = dt.datetime.now(dt.UTC)
        try:
            target = target_of(self.settings)
            secrets = load_webhook_secrets(self.settings, self.environ)
            with open_webhook_clients(self.settings, self.environ) as (personio, lms):
                p_state = inspect_personio(personio, target, activity=WEBHOOK_ACTIVITY)
                l_state = inspect_learning360(lms, target, secrets.learning360_secrets,
                                              events=WEBHOOK_ACTIVITY)
        except Personio360Error as exc:
            log.warning("webhook subscriptions unavailable: %s", redact(str(exc)))
            return WebhookView(at, problem=redact(str(exc)), fix=redact(exc.hint) if exc.hint else None)
        verdicts = (p_state.verdict(target, token_set=bool(secrets.personio_tokens)),
                    l_state.verdict(target))
        return WebhookView(at, target, p_state, l_state, verdicts)

    # --- Preview and Run now (R13c, issue 8) ---------------------------------------------

    def start_preview(self, *, allow_deletions: bool = False) -> Job | Queued:
        if self.queue is not None:
            return self.queue.defer("preview", allow_deletions=allow_deletions)
        return self.jobs.start("preview", lambda _job: self._preview(allow_deletions))

    def _preview(self, allow_deletions: bool) -> Preview:
        self.preview = None
        prepared = prepare_plan(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                                allow_deletions=allow_deletions)
        made_at = dt.datetime.now(dt.UTC)
        document = build_document(prepared.plan, prepared.snapshot, self.settings,
                                  allow_deletions=allow_deletions, created_at=made_at)
        names = Names.of(prepared.snapshot)
        people = by_person(plan_rows(prepared.plan.operations, names))
        self.preview = Preview(prepared, document, names, made_at, allow_deletions, self.effective(), people)
        self._last_names = names
        return self.preview

    def start_run(self, *, preview_id: int | None = None) -> Job | Queued:
        """Run now: apply exactly the previewed plan, or refuse (nothing written) if it moved.
        On a deployment's page, ``preview_id`` is the stored preview the page showed: Run now
        applies that one only, never a newer one its administrator has not seen."""
        if self.queue is not None:
            return self._queue_run(self.queue, preview_id)
        preview = self.preview
        if preview is None:
            raise ConfigError("there is no preview to apply", hint="press Preview, review it, then Run now")
        return self.jobs.start("run", lambda job: self._run(job, preview))

    def _run(self, job: Job, preview: Preview) -> RunReport:
        try:
            report = run_sync(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                              progress=job.progress, bulk_poll_interval=self.bulk_poll_interval,
                              saved=preview.saved(), writer=self.ctx.writer)
            notify.observe(self.settings, self.ctx.store, report, environ=self.environ)  # issue 14
            return report
        finally:
            if self.preview is preview:
                self.preview = None

    def _queue_run(self, queue: JobQueue, preview_id: int | None) -> Queued:
        stored = self.ctx.store.previews.latest()
        if stored is None or not stored.appliable:
            raise ConfigError("there is no preview to apply",
                              hint="press Preview, wait for its job to finish, review it, then Run now")
        if preview_id is not None and preview_id != stored.id:
            raise ConfigError(f"preview {preview_id} is no longer the latest: preview {stored.id} "
                              "was made since",
                              hint="review the latest preview on the overview, then Run now")
        return queue.defer("apply", preview=stored.id)

    def shown_preview(self) -> Preview | QueuedPreview | None:
        """The preview the pages show: this process's, or on a deployment's page the latest a
        preview job stored (its document read again only when a newer one was made or used)."""
        if self.queue is None:
            return self.preview
        latest = self.ctx.store.previews.latest()
        if latest is None:
            return None
        cached = self._stored
        if cached is None or cached.id != latest.id:
            full = self.ctx.store.previews.get(latest.id)
            if full is None:
                return None
            cached = preview_view(full, Names(groups=self.group_names()))
            self._stored = cached
        if cached.run_id != latest.run_id:
            cached = dataclasses.replace(cached, run_id=latest.run_id)
            self._stored = cached
        return cached

    def run_scheduled(self) -> RunReport:
        """One scheduled run (R12, production only): a fresh plan, applied under the store's lock."""
        report = run_sync(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                          bulk_poll_interval=self.bulk_poll_interval, writer=self.ctx.writer)
        notify.observe(self.settings, self.ctx.store, report, environ=self.environ)  # issue 14
        return report

    def run_changes_scheduled(self) -> RunReport:
        """One changes run by the timetable (R17, production only); nothing to do records nothing."""
        report = run_changes(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                             bulk_poll_interval=self.bulk_poll_interval, writer=self.ctx.writer)
        if report.run_id is not None:
            notify.observe(self.settings, self.ctx.store, report, environ=self.environ)  # issue 14
        return report

    def schedule(self) -> Schedule | Timetable:
        """The production schedule (R12); the caller runs ``run_forever`` in a thread. With
        changes on (R17) a ``Timetable``: full syncs, polls, and changes runs on deliveries."""
        if self.settings.environment != "production":
            raise ConfigError("the test environment never runs on a schedule (R12)")
        if self.settings.changes_on:
            poll = self.settings.changes_or_default.poll_interval
            timetable = Timetable(
                run_full=self.run_scheduled, run_changes=self.run_changes_scheduled,
                full_every=self.settings.full_sync_interval.total_seconds(),
                poll_every=poll.total_seconds() if poll else None,
                coalesce=self.settings.changes_or_default.coalesce_delay.total_seconds(),
                on_problem=lambda message: log.warning("scheduled run: %s", redact(message)),
                jitter=0.05, stop=self.stop,
                on_next_full=lambda delay: setattr(self, "next_run", dt.datetime.now(dt.UTC)
                                                   + dt.timedelta(seconds=delay)))
            self._timetable = timetable
            return timetable

        def wait(delay: float) -> bool:
            self.next_run = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
            return self.stop.wait(delay)

        def problem(message: str) -> None:
            log.warning("scheduled run: %s", redact(message))

        return Schedule(run_once=self.run_scheduled,
                        interval=self.settings.full_sync_interval.total_seconds(),
                        on_problem=problem, jitter=0.05, stop=self.stop, wait=wait)

    # --- history (R16) ------------------------------------------------------------------

    def last_run(self) -> RunSummary | None:
        recent = self.ctx.store.runs.recent(1)
        return recent[0] if recent else None

    def managed_users(self) -> int:
        """Open links (R2). Links change only during a run, so the count is kept until the latest run
        changes (any run: this page's, the CLI's, the schedule's), and for 5 s while one is running."""
        last = self.last_run()
        key = (last.id, last.outcome, last.ended_at) if last else None
        cached = self._managed
        if cached is not None and cached[0] == key and (
                last is None or last.ended_at is not None or time.monotonic() - cached[1] < 5):
            return cached[2]
        count = len(self.ctx.store.links.active())
        self._managed = (key, time.monotonic(), count)
        return count

    def runs(self, *, outcome: str = "", since: dt.date | None = None,
             until: dt.date | None = None, kind: str = "") -> tuple[list[RunSummary], bool]:
        """Recent runs matching the filters (``kind``: full or changes, R17), newest first;
        ``True`` when older runs were not searched."""
        recent = self.ctx.store.runs.recent(RUN_WINDOW)
        chosen = [r for r in recent
                  if (not outcome or r.outcome == outcome)
                  and (not kind or r.kind == kind)
                  and (since is None or r.started_at.date() >= since)
                  and (until is None or r.started_at.date() <= until)]
        return chosen, len(recent) >= RUN_WINDOW

    def run(self, run_id: int) -> RunDetail | None:
        """Every record of a run (its downloads)."""
        return self.ctx.store.runs.detail(run_id)

    def run_errors(self, run_id: int) -> list[ErrorRecord]:
        return self.ctx.store.runs.errors(run_id)

    def run_view(self, run_id: int, query: str = "", page: int = 1, per_page: int = 100) -> RunView | None:
        """One page of a run's people, searched in the store: a run may hold 70,000 operations."""
        runs = self.ctx.store.runs
        run = runs.summary(run_id)
        if run is None:
            return None
        names = self.names()
        search = present.run_search(query, names, lambda ids: self._recorded_names(run, ids),
                                    lambda: runs.changes_of(run_id, present.SHOWN_BY_NAME)) if query else None
        found = runs.people(run_id, offset=(page - 1) * per_page, limit=per_page, search=search)
        errors = [r for r in error_rows(runs.errors(run_id), names) if r.matches(query)]
        return RunView(run, by_person(run_rows(found.operations, names)), found.total,
                       runs.operation_count(run_id), errors)

    def _recorded_names(self, run: RunSummary, employees: Collection[int] | None) -> Mapping[int, str]:
        """The names a run recorded, for its search: of these ``employees``, or all (a finished run's
        are kept for the last few runs: reading 10,000 takes a tenth of a second)."""
        cached = self._recorded.get(run.id)
        if cached is not None:
            return cached
        changes = self.ctx.store.runs.changes_of(run.id, present.NAMED_FIELDS, employees)
        names = present.recorded_names(changes)
        if employees is None and run.ended_at is not None:
            with self._lock:
                self._recorded[run.id] = names
                while len(self._recorded) > RUN_CACHE:
                    self._recorded.pop(next(iter(self._recorded)))
        return names

    def names(self) -> Names:
        """Readable names for ids: those of the latest Preview (kept after its run), else the groups'."""
        if self.preview is not None:
            self._last_names = self.preview.names
        return self._last_names or Names(groups=self.group_names())

    # --- People (explain, issue 8) -------------------------------------------------------

    def find(self, query: str) -> Found:
        """An id or an email: ``explain``; a name: the employees it matches (one match: explained)."""
        query = query.strip()
        try:
            if query.isdigit() or "@" in query:
                return self._explain(query)
            words = query.casefold().split()
            matches = []
            for emp in self.ctx.personio.iter_employees():
                name = " ".join(p for p in (emp.first_name, emp.last_name) if p)
                if all(w in name.casefold() for w in words):
                    matches.append((emp.id, name, (emp.email or "").strip(), emp.status or ""))
            if len(matches) == 1:
                return self._explain(str(matches[0][0]))
            return Found(query, matches=tuple(sorted(matches, key=lambda m: (m[1].casefold(), m[0]))[:100]),
                         problem=None if matches else f"no employee's name contains {query!r}")
        except (ApiError, Personio360Error) as exc:
            fix = f" (fix: {redact(exc.hint)})" if exc.hint else ""
            return Found(query, problem=redact(str(exc)) + fix)

    def _explain(self, query: str) -> Found:
        focus = int(query) if query.isdigit() else None
        prepared = prepare_plan(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                                employee_id=focus)
        result = explain(prepared.snapshot, self.effective(), query)
        return Found(query, explanation=result, names=Names.of(prepared.snapshot))

    def people_report(self) -> PeopleReport | None:
        """R6 and R3/R15 in one view, from the last Preview (nothing is read again)."""
        preview = self.preview
        if preview is None:
            return None
        snap, plan, settings = preview.prepared.snapshot, preview.prepared.plan, preview.settings
        linked = {link.user_id for link in snap.links.values()}
        ops = {(op.employee_id, type(op)): op for op in plan.operations
               if isinstance(op, CreateUser | AdoptUser)}
        adopted = {op.user_id for (_e, kind), op in ops.items() if kind is AdoptUser}
        unlinked = []
        for hierarchy in snap.hierarchies.values():
            for user_id in sorted(set(hierarchy.learners) - linked):
                user = snap.users.get(user_id)
                if user is None or user.status == "deleted":
                    continue
                reason = "the next sync adopts this user: an in-scope employee has the same email (R2)" \
                    if user_id in adopted else "no employee is linked: left alone by every sync (R6)"
                where = f"learner of '{hierarchy.top.name.strip()}'"
                unlinked.append(ReportLine(_name(user.first_name, user.last_name) or user.id,
                                           user.mail or "", f"{where}: {reason}"))
        errors = {e.employee_id: e.message for e in plan.errors}
        without = []
        for emp in sorted(snap.employees.values(), key=lambda e: e.id):
            if emp.id in snap.links or not in_scope(emp, settings.groups):
                continue
            if emp.id in errors:
                reason = f"skipped: {errors[emp.id]} (R15)"
            elif (emp.id, AdoptUser) in ops:
                reason = "the next sync adopts the 360Learning user with this email (R2)"
            elif (emp.id, CreateUser) in ops:
                reason = "not created yet: the next sync creates the user (R3)"
            else:
                reason = "no user yet, and the plan makes none (see explain)"
            without.append(ReportLine(_name(emp.first_name, emp.last_name) or str(emp.id),
                                      (emp.email or "").strip(), reason, emp.id))
        return PeopleReport(preview.made_at, tuple(unlinked), tuple(without))

    def changes_arrived(self) -> None:
        """A webhook receiver recorded a new event (R17): the changes runner hooks in here, to
        start a changes run within seconds in production, coalescing a burst into one run. In
        test nothing runs by itself (R12): recorded events wait for ``sync --changes``. Called on
        the server's event loop, so it must only signal, never run or block."""
        if self._timetable is not None:
            self._timetable.arrived()

    def close(self) -> None:
        self.stop.set()
        if self._timetable is not None:
            self._timetable.halt()
        self.jobs.join(timeout=30)


def _name(first: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, last) if p) or None


"""The changes run (R17): poll → R13a → only the covered people → the same planner → R13b → apply.

``prepare_changes`` is what ``personio360 plan --changes`` shows; ``run_changes`` computes the
very same Plan and applies it (R13c), under the store's one-run-at-a-time lock, recorded as a
run of kind ``changes`` (R16). Nothing to do (the poll listed no one new and no event waits)
is no run at all: one Personio call, no 360Learning call, nothing recorded but the cursor.

R18: where a learner's completion event arrived, the run also writes that user's completions
back to Personio (read in bulk, ``userId[in]``); the write-back cursors stay the full sync's
(a write refused here is read and tried again by the next full sync).

The cursor and the events move on only with a completed run (``commit_feed`` in the
transaction that records its end): a run that cannot read Personio, stops part-way or is
killed leaves both, so the next one reads the same changes again and converges (R14).
"""

from __future__ import annotations

__all__ = ["prepare_changes", "run_changes"]

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.orm import Session

from personio360.config import Settings
from personio360.errors import ApiError, ConfigError, RunStopped
from personio360.learning360 import Learning360Client
from personio360.personio import EmployeeSource
from personio360.store import Store
from personio360.store.activation import activated
from personio360.store.events import Seen, commit_feed
from personio360.sync import changes
from personio360.sync.executor import AttributeWriter, Executor, Progress
from personio360.sync.gather import read_completions_of
from personio360.sync.gather_changes import Poll, poll, read_covered
from personio360.sync.operations import Plan
from personio360.sync.planner import plan as make_plan
from personio360.sync.report import Outcome, RunReport
from personio360.sync.run import WRITER_HINT, Prepared, finish_run, guard, reading_failed, record_errors
from personio360.sync.safety import check_attributes
from personio360.sync.snapshot import Snapshot

COMMAND = "sync --changes"
KIND = "changes"


def prepare_changes(
    settings: Settings, personio: EmployeeSource, lms: Learning360Client, store: Store,
    *, allow_deletions: bool = False,
) -> Prepared:
    """What the next changes run would do; reads only, and moves neither cursor nor events."""
    settings = activated(settings, store.activation.overrides())
    polled = _poll(settings, personio, store, allow_deletions=allow_deletions)
    if polled.start.idle:
        empty = Snapshot(taken_at=polled.polled_at, employees={}, users={}, links=polled.links,
                         covered=frozenset())
        return Prepared(make_plan(empty, settings), empty)
    snapshot = _read(settings, personio, lms, store, polled)
    return Prepared(guard(make_plan(snapshot, settings), settings, store, allow_deletions=allow_deletions),
                    snapshot)


def run_changes(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    *,
    allow_deletions: bool = False,
    progress: Progress | None = None,
    workers: int = 8,
    bulk_poll_interval: float = 1.0,
    writer: AttributeWriter | None = None,
) -> RunReport:
    """One changes run; its report's outcome gives ``sync``'s exit code (SPEC §2).

    ``allow_deletions`` approves the removals held back by earlier runs too (R13b): the
    changes run then re-reads the held-back leavers. ``writer`` (R18): the Personio write
    credential's client, required with ``[writeback]`` as by the full sync."""
    settings = activated(settings, store.activation.overrides())
    with store.lock.held():
        started = dt.datetime.now(dt.UTC)
        try:
            polled = _poll(settings, personio, store, allow_deletions=allow_deletions)
        except RunStopped as exc:
            if store.feed.cursor() is None:
                raise  # no full sync yet: nothing to record, the fix says what to do
            run_id = store.runs.start(COMMAND, settings.environment, kind=KIND)
            return finish_run(store, run_id, started, Outcome.STOPPED, message=str(exc), hint=exc.hint,
                              kind=KIND)
        if polled.start.idle:
            _idle(store, polled, settings)
            return RunReport(run_id=None, outcome=Outcome.COMPLETED, started_at=started,
                             ended_at=dt.datetime.now(dt.UTC), kind=KIND, covered=0,
                             message="nothing changed since the last run")
        run_id = store.runs.start(COMMAND, settings.environment, kind=KIND)
        executor = Executor(lms, store, run_id, send_invitations=settings.environment == "production",
                            workers=workers, progress=progress, bulk_poll_interval=bulk_poll_interval,
                            writer=writer)
        if settings.writeback_on and writer is None:
            return finish_run(store, run_id, started, Outcome.STOPPED, hint=WRITER_HINT, kind=KIND,
                              message="[writeback] is configured but no Personio write credential was "
                              "given: nothing was changed")
        plan: Plan | None = None
        covered: int | None = None
        try:
            snapshot = _read(settings, personio, lms, store, polled)
            covered = len(snapshot.covered or ())
            plan = guard(make_plan(snapshot, settings), settings, store, allow_deletions=allow_deletions)
            record_errors(store, run_id, plan)
            executor.apply(plan)
        except (RunStopped, ConfigError) as exc:
            return finish_run(store, run_id, started, Outcome.STOPPED, message=str(exc), hint=exc.hint,
                              kind=KIND, covered=covered)
        except ApiError as exc:
            applied = sum(executor.applied.values())
            return finish_run(store, run_id, started, Outcome.STOPPED, plan=plan, executor=executor,
                              errors=(*plan.errors, *executor.errors) if plan else tuple(executor.errors),
                              message=f"stopped after {applied} changes: {exc}; the next run picks up "
                              "from here", hint=exc.hint, kind=KIND, covered=covered)
        except BaseException as exc:  # a bug or an interrupt: record the run as ended, then re-raise
            finish_run(store, run_id, started, Outcome.FAILED, plan=plan, executor=executor,
                       message=f"ended by {type(exc).__name__}: {exc}"[:500], kind=KIND)
            raise
        errors = (*plan.errors, *executor.errors)
        outcome = (Outcome.HELD_BACK if plan.held_back
                   else Outcome.COMPLETED_WITH_ERRORS if errors else Outcome.COMPLETED)
        message = plan.notes[-1] if plan.held_back and plan.notes else None
        hint = ("review the held-back deletions, then run: personio360 sync --changes --allow-deletions "
                "(or a full personio360 sync --allow-deletions)") if plan.held_back else None
        return finish_run(store, run_id, started, outcome, plan=plan, executor=executor, errors=errors,
                          message=message, hint=hint, kind=KIND, covered=covered,
                          also=_completed(settings, run_id, polled, snapshot))


def _poll(settings: Settings, personio: EmployeeSource, store: Store, *, allow_deletions: bool) -> Poll:
    try:
        return poll(settings, personio, store, allow_deletions=allow_deletions)
    except ApiError as exc:
        raise reading_failed(exc) from None  # R13a: nothing changed, the cursor stays


def _read(settings: Settings, personio: EmployeeSource, lms: Learning360Client, store: Store,
          polled: Poll) -> Snapshot:
    try:
        snapshot = read_covered(settings, personio, lms, store, polled)
        if settings.writeback_on and polled.start.completed:
            snapshot = replace(snapshot, completions=read_completions_of(
                settings, lms, store.writeback.all(), polled.start.completed))
    except ApiError as exc:
        raise reading_failed(exc) from None
    check_attributes(snapshot, settings)  # R13a: an attribute no one carries is unreadable
    return snapshot


def _idle(store: Store, polled: Poll, settings: Settings) -> None:
    """Nothing to do: the poll succeeded, so the cursor moves on; events that named no one of
    ours (unmanaged users, R6) are answered."""
    with store.transaction() as session:
        commit_feed(session, None, seen=(), whole=False, events=polled.start.events,
                    cursor=changes.next_cursor(polled.polled_at, settings), polled_at=polled.polled_at)


def _completed(settings: Settings, run_id: int, polled: Poll,
               snapshot: Snapshot) -> Callable[[Session], None]:
    """What a completed changes run moves on, with its end: the covered people as synced,
    its events answered, the cursor past its poll."""
    seen: list[Seen] = [changes.seen_of(emp, settings) for emp in snapshot.employees.values()]
    seen += [changes.gone(i) for i in (snapshot.covered or ()) if i not in snapshot.employees]

    def commit(session: Session) -> None:
        commit_feed(session, run_id, seen=seen, whole=False, events=polled.start.events,
                    cursor=changes.next_cursor(polled.polled_at, settings), polled_at=polled.polled_at)

    return commit

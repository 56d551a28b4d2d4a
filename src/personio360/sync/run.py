"""The sync service: R10 → gather → R13a → plan → R13b → apply, recorded as one run (R16).

``prepare_plan`` is what ``personio360 plan`` shows; ``run_sync`` computes the very same
Plan and applies it (R13c), under the store's one-run-at-a-time lock.
"""

from __future__ import annotations

__all__ = ["WRITER_HINT", "Prepared", "finish_run", "guard", "prepare_plan", "reading_failed",
           "record_errors", "removed_in_window", "run_sync"]

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from personio360.config import Settings
from personio360.domain import Employee
from personio360.errors import ApiError, ConfigError, RunStopped
from personio360.learning360 import Learning360Client
from personio360.personio import EmployeeSource
from personio360.store import Store
from personio360.store.activation import activated
from personio360.store.events import commit_feed
from personio360.store.runs import ErrorRecord
from personio360.sync import changes, writeback
from personio360.sync.executor import AttributeWriter, Executor, Progress
from personio360.sync.gather import Gathering, start_gathering, verify_connector_admin
from personio360.sync.operations import Operation, Plan
from personio360.sync.planner import Draft, draft
from personio360.sync.planner import plan as make_plan
from personio360.sync.report import Outcome, RunReport
from personio360.sync.safety import check_attributes, check_snapshot, hold_back_deletions
from personio360.sync.saved import SavedPlan, bind, check_age
from personio360.sync.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Prepared:
    plan: Plan
    snapshot: Snapshot


def prepare_plan(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    *,
    allow_deletions: bool = False,
    employee_id: int | None = None,
    workers: int = 8,
) -> Prepared:
    """Read both sides and plan; raise ``RunStopped`` for R10, R13a or an unreadable API."""
    with _start_reading(settings, personio, lms, store, workers=workers,
                        employee_id=employee_id) as (effective, gathering):
        try:
            snapshot = gathering.complete()
        except ApiError as exc:
            raise reading_failed(exc) from None
    planned = make_plan(snapshot, effective, employee_id=employee_id)
    return Prepared(guard(planned, settings, store, allow_deletions=allow_deletions), snapshot)


def removed_in_window(settings: Settings, store: Store) -> int:
    """R13b over the sliding window (R17): the users every run of the window removed. Taken
    once, before a run applies anything: its own removals must not count against it."""
    return store.runs.deletions_since(dt.datetime.now(dt.UTC) - settings.safety.window)


def guard(plan: Plan, settings: Settings, store: Store | None, *, allow_deletions: bool,
          already: int | None = None) -> Plan:
    """R13b: the plan's removals held back past the window's budget (``already`` removed, or
    counted in ``store`` now)."""
    if already is None:
        assert store is not None
        already = removed_in_window(settings, store)
    return hold_back_deletions(plan, allow_deletions=allow_deletions, already=already,
                               window=settings.safety.deletion_window)


@contextmanager
def _start_reading(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    *,
    workers: int,
    employee_id: int | None,
) -> Iterator[tuple[Settings, Gathering]]:
    """R10, then the lists, checked by R13a; the per-user reads go on in the ``Gathering``.

    The groups are planned as activated on the admin page (issue 9): the store's switches
    override the config's ``enabled`` (the settings yielded).
    """
    settings = activated(settings, store.activation.overrides())
    try:
        groups = list(lms.iter_groups())
        verify_connector_admin(settings, lms, groups)
        gathering = start_gathering(settings, personio, lms, store, workers=workers, groups=groups,
                                    focus=employee_id)
    except ApiError as exc:
        raise reading_failed(exc) from None
    with gathering:
        snapshot = gathering.snapshot
        check_snapshot(snapshot, settings)
        check_attributes(snapshot, settings)
        if employee_id is not None and employee_id not in snapshot.employees \
                and employee_id not in snapshot.links:
            raise ConfigError(f"no employee with id {employee_id} in Personio, and none linked",
                              hint="pass the Personio employee id (a number) of someone the credentials "
                              "can read")
        yield settings, gathering


def reading_failed(exc: ApiError) -> RunStopped:
    return RunStopped(f"reading failed, nothing was changed: {exc}",
                      hint=exc.hint or "run personio360 check to see what is wrong")


def run_sync(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    *,
    allow_deletions: bool = False,
    employee_id: int | None = None,
    progress: Progress | None = None,
    workers: int = 8,
    bulk_poll_interval: float = 1.0,
    saved: SavedPlan | None = None,
    writer: AttributeWriter | None = None,
) -> RunReport:
    """One recorded run; its report's outcome gives the exit code (SPEC §2).

    ``saved`` (``sync --plan``, issue 8): apply exactly that approved plan, with its own
    employee focus and R13b outcomes, or stop before any change naming what moved. Without
    it, the run writes what the lists decide while the per-user reads still run (``_pipelined``).
    ``writer`` (R18): the Personio write credential's client, required with ``[writeback]``.
    """
    if saved is not None:
        employee_id, allow_deletions = saved.employee_id, True
    command = "sync" + (f" --employee {employee_id}" if employee_id is not None else "")
    command = f"sync --plan {saved.name}" if saved is not None else command
    with store.lock.held():
        run_id = store.runs.start(command, settings.environment)
        started = dt.datetime.now(dt.UTC)
        waiting = tuple(e.id for e in store.feed.pending()) if employee_id is None else ()
        executor = Executor(lms, store, run_id, send_invitations=settings.environment == "production",
                            workers=workers, progress=progress, bulk_poll_interval=bulk_poll_interval,
                            writer=writer)
        if settings.writeback_on and writer is None:
            return finish_run(store, run_id, started, Outcome.STOPPED, hint=WRITER_HINT,
                              message="[writeback] is configured but no Personio write credential was "
                              "given: nothing was changed")
        plan: Plan | None = None
        read: Mapping[int, Employee] = {}
        try:
            if saved is not None:
                check_age(saved, settings, started)
                prepared = prepare_plan(settings, personio, lms, store, employee_id=employee_id,
                                        allow_deletions=True, workers=workers)
                plan = bind(saved, prepared.plan, prepared.snapshot, settings)
                read = prepared.snapshot.employees
                record_errors(store, run_id, plan)
                executor.apply(plan)
            else:
                plan, read = _pipelined(settings, personio, lms, store, executor, run_id,
                                        allow_deletions=allow_deletions, employee_id=employee_id,
                                        workers=workers)
        except (RunStopped, ConfigError) as exc:
            return finish_run(store, run_id, started, Outcome.STOPPED, message=str(exc), hint=exc.hint)
        except _Stopped as stop:
            return _stopped(store, run_id, started, stop.plan, executor, stop.error, reading=stop.reading)
        except ApiError as exc:
            return _stopped(store, run_id, started, plan, executor, exc, reading=False)
        except BaseException as exc:  # a bug or an interrupt: record the run as ended, then re-raise
            finish_run(store, run_id, started, Outcome.FAILED, plan=plan, executor=executor,
                       message=f"ended by {type(exc).__name__}: {exc}"[:500])
            raise
        errors = (*plan.errors, *executor.errors)
        outcome = (Outcome.HELD_BACK if plan.held_back
                   else Outcome.COMPLETED_WITH_ERRORS if errors else Outcome.COMPLETED)
        message = plan.notes[-1] if plan.held_back and plan.notes else None
        hint = "review the held-back deletions, then run: personio360 sync --allow-deletions" \
            if plan.held_back else None
        if plan.held_back and saved is not None:
            hint = "the approved plan held these deletions back; to approve them, save a plan " \
                "with personio360 plan --allow-deletions --out FILE and apply that"
        return finish_run(store, run_id, started, outcome, plan=plan, executor=executor,
                          errors=errors, message=message, hint=hint,
                          also=_written_back(_synced(settings, run_id, started, read, employee_id, waiting),
                                             settings, store, run_id,
                                             min(started, saved.created_at) if saved else started,
                                             executor, employee_id))


WRITER_HINT = ("set PERSONIO_WRITE_CLIENT_ID / PERSONIO_WRITE_CLIENT_SECRET (a Personio credential "
                "that may update employees), or remove [writeback] from the config")


def _written_back(synced: Callable[[Session], None], settings: Settings, store: Store, run_id: int,
                  started: dt.datetime, executor: Executor,
                  employee_id: int | None) -> Callable[[Session], None]:
    """R18: a completed full sync also moves each write-back item's cursor (in the same
    transaction as its end); a refused write keeps its completion in the next read. A saved
    plan's run reads from the plan's making on: completions since then were not in it."""
    cursors = writeback.next_cursors(settings, started, executor.writeback_failed) \
        if employee_id is None else {}

    def commit(session: Session) -> None:
        synced(session)
        store.writeback.advance(session, cursors, run_id)

    return commit


def _synced(settings: Settings, run_id: int, started: dt.datetime, read: Mapping[int, Employee],
            employee_id: int | None, waiting: tuple[int, ...]) -> Callable[[Session], None]:
    """What a completed full sync tells the change feed (R17), with its end: whom it synced
    and from what, the events it answered (it re-read everyone), and the cursor (changes from
    its start on are the next changes run's). ``sync --employee`` updates that one person."""
    seen = [changes.seen_of(emp, settings) for emp in read.values()
            if employee_id is None or emp.id == employee_id]
    if employee_id is not None and employee_id not in read:
        seen.append(changes.gone(employee_id))
    whole = employee_id is None

    def commit(session: Session) -> None:
        commit_feed(session, run_id, seen=seen, whole=whole, events=waiting,
                    cursor=changes.next_cursor(started, settings) if whole else None,
                    polled_at=started if whole else None)

    return commit


class _Stopped(Exception):
    """An API stop during a pipelined run, with the plan as far as it was made; ``reading``:
    a per-user read failed (not a write)."""

    def __init__(self, plan: Plan, error: ApiError, *, reading: bool) -> None:
        super().__init__(str(error))
        self.plan, self.error, self.reading = plan, error, reading


def _pipelined(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    executor: Executor,
    run_id: int,
    *,
    allow_deletions: bool,
    employee_id: int | None,
    workers: int,
) -> tuple[Plan, Mapping[int, Employee]]:
    """Plan and apply while the per-user reads run (issue 5): the same Plan ``plan`` shows;
    with the employees read (R17 records them once the run completed).

    What the lists decide (creations, updates, external ids, moves: ``Draft``) is written
    while each user's managers and values are still being read; those are planned and
    written as each user's reads arrive; the leavers go last, once every read has succeeded
    (R13a). R13b counts the leavers on the draft: they are all list-decided.
    """
    with _start_reading(settings, personio, lms, store, workers=workers,
                        employee_id=employee_id) as (effective, gathering):
        drafted = draft(gathering.snapshot, effective, employee_id=employee_id)
        already = removed_in_window(settings, store)
        first = guard(drafted.complete(()), settings, None, allow_deletions=allow_deletions,
                      already=already)
        record_errors(store, run_id, first)
        finished: list[Operation] = []
        failed_reads: list[ApiError] = []
        try:
            executor.apply(first, later=_finishing(drafted, gathering, finished, failed_reads))
        except ApiError as exc:
            whole = guard(drafted.complete(finished), settings, None, allow_deletions=allow_deletions,
                          already=already)
            raise _Stopped(whole, exc, reading=exc in failed_reads) from None
    plan = guard(drafted.complete(finished), settings, None, allow_deletions=allow_deletions,
                 already=already)
    return plan, gathering.snapshot.employees


def _finishing(drafted: Draft, gathering: Gathering, into: list[Operation],
               failed: list[ApiError]) -> Iterator[Operation]:
    """Each user's managers and values, planned as its reads arrive (kept in ``into``); a
    failed read is kept in ``failed`` and raised."""
    seen: set[str] = set()
    reads = gathering.reads()
    while True:
        try:
            user_id, managers, values = next(reads)
        except StopIteration:
            break
        except ApiError as exc:
            failed.append(exc)
            raise
        seen.add(user_id)
        ops = drafted.finish(user_id, managers, values or ())
        into.extend(ops)
        yield from ops
    for user_id in drafted.waiting.keys() - seen:  # not read: as ``plan`` plans it (nothing read)
        ops = drafted.finish(user_id, frozenset(), ())
        into.extend(ops)
        yield from ops


def record_errors(store: Store, run_id: int, plan: Plan) -> None:
    with store.transaction() as session:
        for error in plan.errors:
            store.runs.add_error(session, run_id, ErrorRecord(error.employee_id, error.code,
                                                              error.message))


def _stopped(store: Store, run_id: int, started: dt.datetime, plan: Plan | None, executor: Executor,
             stop: ApiError, *, reading: bool) -> RunReport:
    """The run stopped on an API error (R14): what landed stays; the next run picks up.

    A failed per-user read stops before any leaver is removed, so its message says so; only a
    failure before any write could start says "nothing was changed" (``reading_failed``)."""
    applied = sum(executor.applied.values())
    hint = reading_failed(stop).hint if reading else stop.hint
    if reading:  # writes may have been on their way, even with none recorded as applied
        message = (f"reading failed after {applied} changes, no one was removed: {stop}; "
                   "the next run picks up from here")
    else:
        message = f"stopped after {applied} changes: {stop}; the next run picks up from here"
    errors = (*plan.errors, *executor.errors) if plan else tuple(executor.errors)
    return finish_run(store, run_id, started, Outcome.STOPPED, plan=plan, executor=executor,
                      errors=errors, message=message, hint=hint)


def finish_run(
    store: Store,
    run_id: int,
    started: dt.datetime,
    outcome: Outcome,
    *,
    plan: Plan | None = None,
    executor: Executor | None = None,
    errors: tuple[object, ...] = (),
    message: str | None = None,
    hint: str | None = None,
    also: Callable[[Session], None] | None = None,
    kind: str = "full",
    covered: int | None = None,
) -> RunReport:
    """Record the run's end (and ``also``, in the same transaction) and report it."""
    applied = dict(sorted(executor.applied.items())) if executor else {}
    failed = dict(sorted(executor.failed.items())) if executor else {}
    counts = {"applied": applied, "failed": failed, "errors": len(errors),
              "held_back": len(plan.held_back) if plan else 0,
              "planned": len(plan.operations) if plan else 0}
    store.runs.finish(run_id, outcome.value, counts, message, also=also)
    return RunReport(
        run_id=run_id, outcome=outcome, started_at=started, ended_at=dt.datetime.now(dt.UTC),
        applied=applied, failed=failed, errors=tuple(errors),  # type: ignore[arg-type]
        held_back=plan.held_back if plan else (), message=message, hint=hint,
        planned=len(plan.operations) if plan else 0, kind=kind, covered=covered,
    )

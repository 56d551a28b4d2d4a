"""The sync service: R10 → gather → R13a → plan → R13b → apply, recorded as one run (R16).

``prepare_plan`` is what ``personio360 plan`` shows; ``run_sync`` computes the very same
Plan and applies it (R13c), under the store's one-run-at-a-time lock.
"""

from __future__ import annotations

__all__ = ["Prepared", "prepare_plan", "run_sync"]

import datetime as dt
from dataclasses import dataclass

from personio360.config import Settings
from personio360.errors import ApiError, ConfigError, RunStopped
from personio360.learning360 import Learning360Client
from personio360.personio import EmployeeSource
from personio360.store import Store
from personio360.store.activation import activated
from personio360.store.runs import ErrorRecord
from personio360.sync.executor import Executor, Progress
from personio360.sync.gather import gather_snapshot, verify_connector_admin
from personio360.sync.operations import Plan
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
    """Read both sides and plan; raise ``RunStopped`` for R10, R13a or an unreadable API.

    The groups are planned as activated on the admin page (issue 9): the store's switches
    override the config's ``enabled``.
    """
    settings = activated(settings, store.activation.overrides())
    try:
        groups = list(lms.iter_groups())
        verify_connector_admin(settings, lms, groups)
        snapshot = gather_snapshot(settings, personio, lms, store, workers=workers, groups=groups,
                                   focus=employee_id)
    except ApiError as exc:
        raise RunStopped(f"reading failed, nothing was changed: {exc}",
                         hint=exc.hint or "run personio360 check to see what is wrong") from None
    check_snapshot(snapshot, settings)
    check_attributes(snapshot, settings)
    if employee_id is not None and employee_id not in snapshot.employees \
            and employee_id not in snapshot.links:
        raise ConfigError(f"no employee with id {employee_id} in Personio, and none linked",
                          hint="pass the Personio employee id (a number) of someone the credentials can read")
    planned = make_plan(snapshot, settings, employee_id=employee_id)
    return Prepared(hold_back_deletions(planned, allow_deletions=allow_deletions), snapshot)


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
) -> RunReport:
    """One recorded run; its report's outcome gives the exit code (SPEC §2).

    ``saved`` (``sync --plan``, issue 8): apply exactly that approved plan, with its own
    employee focus and R13b outcomes, or stop before any change naming what moved.
    """
    if saved is not None:
        employee_id, allow_deletions = saved.employee_id, True
    command = "sync" + (f" --employee {employee_id}" if employee_id is not None else "")
    command = f"sync --plan {saved.name}" if saved is not None else command
    with store.lock.held():
        run_id = store.runs.start(command, settings.environment)
        started = dt.datetime.now(dt.UTC)
        try:
            if saved is not None:
                check_age(saved, settings, started)
            prepared = prepare_plan(settings, personio, lms, store, allow_deletions=allow_deletions,
                                    employee_id=employee_id, workers=workers)
            plan = prepared.plan if saved is None else \
                bind(saved, prepared.plan, prepared.snapshot, settings)
        except (RunStopped, ConfigError) as exc:
            return _finish(store, run_id, started, Outcome.STOPPED, message=str(exc), hint=exc.hint)
        with store.transaction() as session:
            for error in plan.errors:
                store.runs.add_error(session, run_id, ErrorRecord(error.employee_id, error.code,
                                                                  error.message))
        executor = Executor(lms, store, run_id, send_invitations=settings.environment == "production",
                            workers=workers, progress=progress, bulk_poll_interval=bulk_poll_interval)
        stopped: ApiError | None = None
        message: str | None
        try:
            executor.apply(plan)
        except ApiError as exc:
            stopped = exc
        except BaseException as exc:  # a bug or an interrupt: record the run as ended, then re-raise
            _finish(store, run_id, started, Outcome.FAILED, plan=plan, executor=executor,
                    message=f"ended by {type(exc).__name__}: {exc}"[:500])
            raise
        errors = (*plan.errors, *executor.errors)
        if stopped is not None:
            outcome = Outcome.STOPPED
            message = (f"stopped after {sum(executor.applied.values())} changes: {stopped}; "
                       "the next run picks up from here")
            hint = stopped.hint
        else:
            outcome = (Outcome.HELD_BACK if plan.held_back
                       else Outcome.COMPLETED_WITH_ERRORS if errors else Outcome.COMPLETED)
            message = plan.notes[-1] if plan.held_back and plan.notes else None
            hint = "review the held-back deletions, then run: personio360 sync --allow-deletions" \
                if plan.held_back else None
            if plan.held_back and saved is not None:
                hint = "the approved plan held these deletions back; to approve them, save a plan " \
                    "with personio360 plan --allow-deletions --out FILE and apply that"
        return _finish(store, run_id, started, outcome, plan=plan, executor=executor,
                       errors=errors, message=message, hint=hint)


def _finish(
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
) -> RunReport:
    applied = dict(sorted(executor.applied.items())) if executor else {}
    failed = dict(sorted(executor.failed.items())) if executor else {}
    counts = {"applied": applied, "failed": failed, "errors": len(errors),
              "held_back": len(plan.held_back) if plan else 0,
              "planned": len(plan.operations) if plan else 0}
    store.runs.finish(run_id, outcome.value, counts, message)
    return RunReport(
        run_id=run_id, outcome=outcome, started_at=started, ended_at=dt.datetime.now(dt.UTC),
        applied=applied, failed=failed, errors=tuple(errors),  # type: ignore[arg-type]
        held_back=plan.held_back if plan else (), message=message, hint=hint,
        planned=len(plan.operations) if plan else 0,
    )

"""``Executor.apply(plan)``: the only writer. Applies a Plan in phases and records each operation.

Phases (STYLE §7.4): custom fields → users → updates → memberships → managers (after every
creation, R9) → custom values → leavers → write-back to Personio (R18, through ``writer``:
the one writer of Personio, with its own credential). Within a phase, operations run concurrently on a
small thread pool, paced by the client's limiters. Each handler calls the API, then records
the operation and its link change in one store transaction.

The one dispatch table of errors (STYLE §7.3):

==============================================  ================================================
``Rejected``, ``Conflict``, ``NotFound``        a per-employee error (R15); the run goes on
``AuthError``, ``ApiUnavailable``,              stop the run, record the stop; the next run
``RateLimited``, ``MalformedResponse``          converges (R14)
==============================================  ================================================

A create whose answer was lost (``ApiUnavailable(maybe_applied=True)``) is never sent again
blindly: the user is looked up by mail first (R14).
"""

from __future__ import annotations

__all__ = ["AttributeWriter", "Executor", "Progress"]

import contextlib
import datetime as dt
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, assert_never

from personio360.domain import LEARNER, BulkMembership, CustomValue, NewUser, UserChanges
from personio360.errors import ApiError, ApiUnavailable, Conflict, NotFound, Rejected
from personio360.learning360 import Learning360Client
from personio360.store import Store
from personio360.store.links import close_link, open_link, own_field
from personio360.store.runs import ErrorRecord, OperationRecord
from personio360.sync.custom import NEW
from personio360.sync.operations import (
    PHASES,
    AdoptUser,
    CloseLink,
    CreateCustomField,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    EmployeeError,
    MoveUser,
    Operation,
    Plan,
    SetCustomValues,
    SetExternalId,
    SetManager,
    UpdateUser,
    WriteAttribute,
    phase_of,
)

#: (phase name, operations done in the phase, operations in the phase)
Progress = Callable[[str, int, int], None]
PER_EMPLOYEE = (Rejected, Conflict, NotFound)
#: the phases whose operations may still be planned while the run applies (``apply(later=)``)
STREAMED = ("managers", "custom values")
#: refusals that are about the configuration, not one employee: the run stops with this fix
_CONFIG_CODES = {
    "reservedPlatformName": "360Learning reserves this external-ID platform name: set "
    "learning360.external_id_platform in the config to another name (e.g. \"personio-hr\")",
}
_CHANGE_FIELDS = {
    "mail": "mail",
    "first name": "first_name",
    "last name": "last_name",
    "job": "job",
    "to be deactivated at": "to_be_deactivated_at",
}


class AttributeWriter(Protocol):
    """R18: what writes an employee's custom attributes (``personio.writer.PersonioWriter``)."""

    def update_custom_attributes(self, employee_id: int, values: Mapping[str, str | None]) -> None:
        ...


class Executor:
    """Applies one Plan for one run; collects what landed and what failed."""

    def __init__(
        self,
        lms: Learning360Client,
        store: Store,
        run_id: int,
        *,
        send_invitations: bool,
        workers: int = 8,
        bulk_threshold: int = 100,
        bulk_poll_interval: float = 1.0,
        progress: Progress | None = None,
        writer: AttributeWriter | None = None,
    ) -> None:
        self.lms = lms
        self.writer = writer
        #: R18: the write-backs Personio refused (their completions are read again next run)
        self.writeback_failed: list[WriteAttribute] = []
        self.store = store
        self.run_id = run_id
        self.send_invitations = send_invitations
        self.workers = workers
        self.bulk_threshold = bulk_threshold
        self.bulk_poll_interval = bulk_poll_interval
        self.progress = progress
        self.applied: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.errors: list[EmployeeError] = []
        self._users: dict[int, str] = {}
        self._fields: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop: ApiError | None = None

    def apply(self, plan: Plan, later: Iterable[Operation] | None = None) -> None:
        """Apply every operation of ``plan`` (held-back ones are not in it); raise on a stop.

        ``later`` (``sync``, issue 5): the managers and custom values still being planned
        while their users are read; they are applied as they come, after every creation
        (R9) and before the leavers. A failure while producing them stops the run like a
        failed write: no leaver is removed after a failed read (R13a).
        """
        for name, kinds in PHASES:
            ops = [op for op in plan.operations if isinstance(op, kinds)]
            if later is not None and name in STREAMED:
                if name == STREAMED[0]:
                    streamed = [op for op in plan.operations if isinstance(op, SetManager | SetCustomValues)]
                    self._stream(itertools.chain(streamed, later))
            elif not ops:
                continue
            elif name == "memberships" and len(ops) >= self.bulk_threshold:
                self._moves_in_bulk([op for op in ops if isinstance(op, MoveUser)])
            else:
                # R4: mail changes go one by one in the planned order (a freed mail is reused)
                ordered = [op for op in ops if getattr(op, "sequence", 0)]
                self._run_phase(name, [op for op in ops if not getattr(op, "sequence", 0)])
                for op in ordered:
                    if self._stop is None:
                        self._guarded(op)
            if self._stop is not None:
                raise self._stop

    # --- phases ---------------------------------------------------------------------------

    def _run_phase(self, name: str, ops: Sequence[Operation]) -> None:
        done = 0

        def run(op: Operation) -> None:
            nonlocal done
            if self._stop is None:
                self._guarded(op)
            with self._lock:
                done += 1
                if self.progress:
                    self.progress(name, done, len(ops))

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="apply") as pool:
            list(pool.map(run, ops))

    def _stream(self, ops: Iterable[Operation]) -> None:
        """Apply operations as ``ops`` yields them (it may block on reads), a few in flight."""
        done: Counter[str] = Counter()
        seen: Counter[str] = Counter()
        room = threading.BoundedSemaphore(2 * self.workers)

        def run(op: Operation, phase: str) -> None:
            try:
                if self._stop is None:
                    self._guarded(op)
            finally:
                room.release()
            with self._lock:
                done[phase] += 1
                if self.progress:
                    self.progress(phase, done[phase], seen[phase])

        submitted: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="apply") as pool:
            try:
                for op in ops:
                    if self._stop is not None:
                        break
                    phase = PHASES[phase_of(op)][0]
                    with self._lock:
                        seen[phase] += 1
                    room.acquire()
                    submitted.append(pool.submit(run, op, phase))
            except ApiError as exc:  # a per-user read failed (R13a): stop after what is in flight
                with self._lock:
                    self._stop = self._stop or exc
        for future in submitted:
            future.result()  # a bug in a handler surfaces here, as in the other phases

    def _guarded(self, op: Operation) -> None:
        try:
            self._dispatch(op)
        except PER_EMPLOYEE as exc:
            if exc.code in _CONFIG_CODES:  # every employee would fail alike: stop and say why
                exc.hint = _CONFIG_CODES[exc.code]
                with self._lock:
                    self._stop = self._stop or exc
                return
            self._fail(op, exc)
        except ApiError as exc:
            with self._lock:
                if self._stop is None:
                    self._stop = exc

    def _dispatch(self, op: Operation) -> None:
        match op:
            case CreateCustomField():
                self._create_field(op)
            case CreateUser():
                self._create_user(op)
            case AdoptUser():
                self._adopt(op)
            case SetExternalId():
                self._external_id(op)
            case UpdateUser():
                self._update(op)
            case MoveUser():
                self._move(op)
            case SetManager():
                self._manager(op)
            case SetCustomValues():
                self._values(op)
            case DeleteUser() | DeactivateUser() | CloseLink():
                self._leave(op)
            case WriteAttribute():
                self._write_attribute(op)
            case _:
                assert_never(op)

    # --- handlers -------------------------------------------------------------------------

    def _create_field(self, op: CreateCustomField) -> None:
        field_id = op.existing_id or self.lms.create_custom_field(op.name, op.type).id
        self._fields[op.name] = field_id
        self._record(op, field_id, own=(op.attribute, op.name, field_id))

    def _create_user(self, op: CreateUser) -> None:
        assert op.employee_id is not None
        new = NewUser(
            mail=op.mail,
            group_id=op.group_id,
            role=LEARNER,
            first_name=op.first_name,
            last_name=op.last_name,
            job=op.job,
        )
        try:
            user, restored = self.lms.create_user(new, send_invitation_email=self.send_invitations)
        except ApiUnavailable as exc:
            if not exc.maybe_applied:
                raise
            found = self.lms.find_user_by_mail(op.mail)  # R14: look before creating again
            if found is None or found.status == "deleted":
                raise
            user, restored = found, False
        origin = "restored" if restored or op.restore_of else "created"
        self._users[op.employee_id] = user.id
        self._record(op, user.id, link=(op.employee_id, user.id, origin))

    def _adopt(self, op: AdoptUser) -> None:
        assert op.employee_id is not None
        assert op.user_id is not None
        self._users[op.employee_id] = op.user_id
        origin = "adopted" if op.how == "email" else "relinked"
        self._record(op, op.user_id, link=(op.employee_id, op.user_id, origin))

    def _external_id(self, op: SetExternalId) -> None:
        user_id = self._user_of(op)
        if user_id is None:
            return
        value = str(op.employee_id)
        try:
            if op.mapping_id:
                self.lms.update_external_id(op.mapping_id, op.platform, "user", user_id, value)
            else:
                self.lms.create_external_id(op.platform, "user", user_id, value)
        except (Rejected, Conflict) as exc:
            if exc.code == "reservedPlatformName":
                raise
            # One mapping per (platform, target) and per (platform, value): one made by a run
            # whose answer was lost, or one still pointing at an older user of this employee.
            mine = next(iter(self.lms.iter_external_ids(platform=op.platform, target_id=user_id)), None)
            if mine is not None:
                if mine.value != value:
                    self.lms.update_external_id(mine.id, op.platform, "user", user_id, value)
            else:
                stale = next(iter(self.lms.iter_external_ids(platform=op.platform, value=value)), None)
                if stale is None:
                    raise
                self.lms.update_external_id(stale.id, op.platform, "user", user_id, value)
        self._record(op, user_id)

    def _update(self, op: UpdateUser) -> None:
        assert op.user_id is not None
        values = {
            _CHANGE_FIELDS[c.name]: (c.after if c.after is not None else UserChanges.CLEAR)
            for c in op.fields_changed
        }
        self.lms.update_user(op.user_id, UserChanges(**values))
        self._record(op, op.user_id)

    def _move(self, op: MoveUser) -> None:
        user_id = self._user_of(op)
        if user_id is None:
            return
        for group_id in op.remove:
            with contextlib.suppress(NotFound):  # already gone: the goal of the removal
                self.lms.remove_group_role(group_id, LEARNER, user_id)
        for group_id in op.add:
            self.lms.add_group_role(group_id, LEARNER, user_id)
        self._record(op, user_id)

    def _moves_in_bulk(self, ops: list[MoveUser]) -> None:
        """R7 movers through the bulk API: all removals first (they cascade), then all additions.

        A removal that fails does not hold back the mover's addition: the user then has one
        learner role too many, which the next run sees and removes; an addition that fails is
        the mover's error (R15).
        """
        resolved = [(op, uid) for op in ops if (uid := self._user_of(op)) is not None]
        failed: dict[int, str] = {}
        for remove in (True, False):
            items: list[tuple[int, BulkMembership]] = [
                (i, BulkMembership(group_id=g, user_id=uid))
                for i, (op, uid) in enumerate(resolved)
                for g in (op.remove if remove else op.add)
            ]
            for start in range(0, len(items), 20_000):
                chunk = items[start:start + 20_000]
                try:
                    outcome = self.lms.run_bulk_memberships(
                        [item for _, item in chunk], remove=remove,
                        poll_interval=self.bulk_poll_interval)
                except ApiError as exc:
                    self._stop = exc
                    return
                for result in outcome.results:
                    if not result.ok and result.index < len(chunk):
                        owner = chunk[result.index][0]
                        verb = "removing the learner role" if remove else "adding the learner role"
                        failed.setdefault(owner, f"{verb} failed: {result.message or result.error}")
        for index, (op, uid) in enumerate(resolved):
            if index in failed:
                self._fail(op, Rejected(failed[index], service="360learning", method="POST",
                                        path="/api/v2/bulk/groups/memberships", code="bulkItemFailed"))
            else:
                self._record(op, uid)
        if self.progress:
            self.progress("memberships", len(ops), len(ops))

    def _manager(self, op: SetManager) -> None:
        user_id = self._user_of(op)
        if user_id is None:
            return
        for manager_id in op.remove:
            with contextlib.suppress(NotFound):
                self.lms.remove_manager(user_id, manager_id)
        if op.manager_employee_id is not None:
            manager = op.manager_user_id or self._users.get(op.manager_employee_id)
            if manager is None:
                self._error(
                    op.employee_id,
                    "manager_unresolved",
                    f"the supervisor (employee {op.manager_employee_id}) has no user: its "
                    "creation failed in this run; the next run sets the manager",
                )
                return
            self.lms.add_manager(user_id, manager)
        self._record(op, user_id)

    def _values(self, op: SetCustomValues) -> None:
        user_id = self._user_of(op)
        if user_id is None:
            return
        values = []
        for ref, ftype, value in op.final:
            field_id = self._fields.get(ref.removeprefix(NEW)) if ref.startswith(NEW) else ref
            if field_id is None:
                self._error(
                    op.employee_id,
                    "custom_field_missing",
                    f"the custom field {ref.removeprefix(NEW)!r} could not be created",
                )
                return
            values.append(CustomValue(custom_field_id=field_id, type=ftype, value=value))
        self.lms.put_custom_values(user_id, values)
        self._record(op, user_id)

    def _leave(self, op: DeleteUser | DeactivateUser | CloseLink) -> None:
        assert op.employee_id is not None
        assert op.user_id is not None
        if isinstance(op, DeleteUser):
            with contextlib.suppress(NotFound):  # already deleted by hand: the link still closes
                self.lms.delete_user(op.user_id)
        elif isinstance(op, DeactivateUser):
            self.lms.update_user(op.user_id, UserChanges(to_be_deactivated_at=op.at))
        self._record(op, op.user_id, close=(op.employee_id, op.reason))

    def _write_attribute(self, op: WriteAttribute) -> None:
        """R18: one value into Personio. A refusal of this employee's write (422, 404) is that
        employee's error only (R15); a credential that may not write stops the run like any
        ``AuthError`` during apply, after every 360Learning change has landed (last phase)."""
        assert op.employee_id is not None
        if self.writer is None:  # run_sync refuses this before any change; never silently
            self._error(op.employee_id, "write_attribute_failed", "no Personio write credential")
            return
        try:
            self.writer.update_custom_attributes(op.employee_id, {op.attribute: op.after})
        except PER_EMPLOYEE as exc:
            with self._lock:
                self.failed[op.kind] += 1
                self.writeback_failed.append(op)
            self._error(op.employee_id, "write_attribute_failed",
                        f"Personio refused writing {op.attribute} = {op.after!r}: {exc}")
            return
        self._record(op, op.user_id)

    # --- bookkeeping ----------------------------------------------------------------------

    def _user_of(self, op: Operation) -> str | None:
        if op.user_id is not None:
            return op.user_id
        return self._users.get(op.employee_id) if op.employee_id is not None else None

    def _record(
        self,
        op: Operation,
        user_id: str | None,
        *,
        link: tuple[int, str, str] | None = None,
        close: tuple[int, str] | None = None,
        own: tuple[str, str, str] | None = None,
    ) -> None:
        record = OperationRecord(
            kind=op.kind,
            employee_id=op.employee_id,
            user_id=user_id,
            outcome="applied",
            changes=[{"name": c.name, "before": c.before, "after": c.after} for c in op.changes],
        )
        with self._lock, self.store.transaction() as session:
            at = _now()
            if link is not None:
                open_link(session, *link, at)
            if close is not None:
                close_link(session, close[0], close[1], at)
            if own is not None:
                own_field(session, *own, at)
            self.store.runs.add_operation(session, self.run_id, record)
            self.applied[op.kind] += 1

    def _fail(self, op: Operation, exc: ApiError) -> None:
        with self._lock:
            self.failed[op.kind] += 1
        self._error(
            op.employee_id,
            f"{op.kind}_failed",
            f"{op.kind.replace('_', ' ')} was refused by 360Learning: {exc}",
        )

    def _error(self, employee_id: int | None, code: str, message: str) -> None:
        error = EmployeeError(employee_id, code, message)
        with self._lock, self.store.transaction() as session:
            self.errors.append(error)
            self.store.runs.add_error(session, self.run_id, ErrorRecord(employee_id, code, message))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)

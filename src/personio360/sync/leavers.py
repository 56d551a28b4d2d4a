"""R5: what becomes of the users whose employee left the scope; R6: nothing else is removed (pure)."""

from __future__ import annotations

__all__ = ["plan_leavers"]

import datetime as dt
from collections.abc import Mapping

from personio360.config import Settings
from personio360.domain import Employee
from personio360.sync.operations import CloseLink, DeactivateUser, DeleteUser, EmployeeError, Operation
from personio360.sync.scope import IN_SCOPE_STATUSES
from personio360.sync.snapshot import Snapshot


def plan_leavers(
    snapshot: Snapshot, settings: Settings, scoped: Mapping[int, Employee], taken_over: Mapping[str, int],
) -> tuple[list[Operation], list[EmployeeError]]:
    """R5: links whose employee is out of scope end; R6: nothing else is ever removed.

    ``taken_over``: users another employee adopts, relinks or restores in this run (user id ->
    that employee), never a leaver's to delete: the leaver's link just closes."""
    ops: list[Operation] = []
    errors: list[EmployeeError] = []
    admin = settings.learning360.connector_admin_email.strip().lower()
    for emp_id, link in sorted(snapshot.links.items()):
        if emp_id in scoped:
            continue
        reason = _leaving_reason(snapshot.employees.get(emp_id))
        heir = taken_over.get(link.user_id)
        if heir is not None and heir != emp_id:
            ops.append(CloseLink(employee_id=emp_id, user_id=link.user_id,
                                      reason=f"{reason}; the user now serves employee {heir}"))
            continue
        user = snapshot.users.get(link.user_id)
        if user is None or user.status == "deleted":
            ops.append(CloseLink(employee_id=emp_id, user_id=link.user_id,
                                      reason=f"{reason}; the user is already deleted"))
            continue
        if (user.mail or "").strip().lower() == admin:
            errors.append(EmployeeError(
                emp_id, "protected_user",
                f"{reason}, but the user {user.mail} is the connector admin: it is never deleted "
                "or deactivated by the connector; change learning360.connector_admin_email first",
            ))
            continue
        if settings.safety.leavers == "deactivate":
            if user.to_be_deactivated_at:
                ops.append(CloseLink(employee_id=emp_id, user_id=user.id,
                                          reason=f"{reason}; deactivation already scheduled"))
            else:
                ops.append(DeactivateUser(employee_id=emp_id, user_id=user.id, reason=reason,
                                               mail=user.mail, at=_tomorrow(snapshot.taken_at)))
        else:
            ops.append(DeleteUser(employee_id=emp_id, user_id=user.id, reason=reason,
                                       mail=user.mail))

    return ops, errors


def _leaving_reason(emp: Employee | None) -> str:
    if emp is None:
        return "the employee is no longer in Personio"
    status = (emp.status or "").strip().lower()
    if status not in IN_SCOPE_STATUSES:
        return f"the employee's status is {status or 'empty'}"
    return "the employee no longer matches any enabled synced group"


def _tomorrow(now: dt.datetime) -> str:
    """360Learning wants a future date for ``toBeDeactivatedAt``: the next midnight UTC."""
    day = (now.astimezone(dt.UTC) + dt.timedelta(days=1)).date()
    return f"{day.isoformat()}T00:00:00.000Z"

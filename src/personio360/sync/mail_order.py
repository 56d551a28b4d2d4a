"""R4: the order of a run's mail changes, since 360Learning keeps every mail unique (pure)."""

from __future__ import annotations

__all__ = ["order_mail_changes"]

from collections.abc import Mapping
from dataclasses import replace

from personio360.domain import LmsUser
from personio360.sync.operations import FieldChange, Operation, UpdateUser


def order_mail_changes(ops: list[Operation], users: Mapping[str, LmsUser]) -> None:
    """R4: mail changes whose new mail another managed user still holds wait for that user's own
    change; a cycle (two employees swapping emails) is broken by first moving one user to a
    temporary mail, since 360Learning keeps mails unique.

    ``ops`` is changed in place: the mail changes get their ``sequence``, a broken cycle its
    temporary step; ``users`` are the users as read (whose mails the changes free)."""
    changes = {
        i: op for i, op in enumerate(ops)
        if isinstance(op, UpdateUser) and any(c.name == "mail" for c in op.fields_changed)
    }
    if not changes:
        return
    holder = {(users[op.user_id].mail or "").strip().lower(): i
              for i, op in changes.items() if op.user_id is not None and op.user_id in users}

    def new_mail(op: UpdateUser) -> str:
        return next((c.after or "") for c in op.fields_changed if c.name == "mail").strip().lower()

    ordered: list[int] = []
    state: dict[int, str] = {}
    for start in sorted(changes, key=lambda i: changes[i].employee_id or 0):
        chain: list[int] = []
        i: int | None = start
        while i is not None and i not in state:
            state[i] = "visiting"
            chain.append(i)
            nxt = holder.get(new_mail(changes[i]))
            i = nxt if nxt != i else None
        if i is not None and state.get(i) == "visiting":
            ops.append(_temporary_mail(changes[i]))
        for j in reversed(chain):
            state[j] = "done"
            ordered.append(j)
    for sequence, i in enumerate(ordered, start=1):
        ops[i] = replace(changes[i], sequence=sequence)


def _temporary_mail(op: UpdateUser) -> UpdateUser:
    """The step that moves ``op``'s user to a temporary mail before any mail change of the run (sequence 0 is
    taken by non-mail updates, so the temporary step takes a negative one)."""
    before = next(c.before for c in op.fields_changed if c.name == "mail") or ""
    local, _, domain = before.partition("@")
    temporary = f"{local}+personio360-{op.employee_id}@{domain}" if domain else before
    return UpdateUser(employee_id=op.employee_id, user_id=op.user_id,
                      fields_changed=(FieldChange("mail", before, temporary),), sequence=-1)

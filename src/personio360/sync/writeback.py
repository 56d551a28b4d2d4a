"""R18 write-back (pure): which Personio custom attributes to write from 360Learning completions.

Inputs: the completions ``gather`` read per configured item (``/paths/stats``, ``/courses/stats``,
from the item's cursor on, plus every completion of users linked since), the links, and the
employees as Personio holds them now. Output: one ``WriteAttribute`` per employee and
attribute whose value differs. Only employees of managed users are written (R6: a completion
of a user personio360 never linked writes nothing), only the configured attributes, never to
clear one (a completion that is gone or has no score writes nothing), and only when the value
differs from what Personio holds (a second run writes nothing: R14).

Choices where the documents are silent (docs/rules.md, R18): a user's latest completion of an
item wins (a path has one statistic per session, a course one per attempt); ``completed_at``
is the UTC day of ``completedAt``; ``status`` is the path status type (``successful``...) and
``completed`` for a course (its statistics carry no status); ``score`` is the percentage.
"""

from __future__ import annotations

__all__ = ["OVERLAP", "item_key", "next_cursors", "plan_writeback", "read_since", "value_of"]

import datetime as dt
from collections.abc import Iterable, Mapping

from personio360.config import Settings, WritebackItem
from personio360.domain import Completion, Employee, Link
from personio360.sync.fields import render, same_text
from personio360.sync.operations import WriteAttribute

#: Each read starts this long before the last one did: 360Learning's clock and ours may
#: differ, and a completion recorded late is still read; re-reading one writes nothing.
OVERLAP = dt.timedelta(minutes=10)


def item_key(item: WritebackItem) -> str:
    """The cursor's key: a changed attribute or value reads the item whole again."""
    return f"{item.kind}:{item.item_id}>{item.attribute}={item.value}"


def read_since(cursor: dt.datetime | None) -> str | None:
    """``completedAt[gte]`` as the API writes dates (its milliseconds are always 0)."""
    if cursor is None:
        return None
    return cursor.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def value_of(completion: Completion, value: str) -> str | None:
    """What ``value`` (completed_at, status, score) writes for one completion; ``None``: nothing."""
    if completion.completed_at is None:
        return None
    match value:
        case "completed_at":
            return _day(completion.completed_at)
        case "status":
            return completion.status if completion.kind == "path" else "completed"
        case _:
            return None if completion.score is None else str(completion.score)


def plan_writeback(
    settings: Settings,
    completions: Mapping[str, tuple[Completion, ...]],
    links: Mapping[int, Link],
    employees: Mapping[int, Employee],
    *,
    focus: Iterable[int] | None = None,
) -> list[WriteAttribute]:
    """R18: the writes that make Personio say what 360Learning does, sorted by employee."""
    if not settings.writeback_on or settings.writeback is None:
        return []
    wanted = None if focus is None else set(focus)
    employee_of = {link.user_id: emp_id for emp_id, link in links.items()}
    ops: list[WriteAttribute] = []
    for item in settings.writeback.items:
        key = item_key(item)
        for user_id, latest in _latest(completions.get(key, ())).items():
            emp_id = employee_of.get(user_id)
            employee = employees.get(emp_id) if emp_id is not None else None
            if employee is None or (wanted is not None and employee.id not in wanted):
                continue  # unmanaged (R6), or no longer in Personio
            after = value_of(latest, item.value)
            before = render(employee.attributes.get(item.attribute))
            if after is None or _same(before, after):
                continue
            ops.append(WriteAttribute(employee_id=employee.id, user_id=user_id,
                                      attribute=item.attribute, before=before, after=after,
                                      item=key, completed_at=latest.completed_at or ""))
    return sorted(ops, key=lambda op: (op.employee_id or 0, op.attribute))


def next_cursors(settings: Settings, started: dt.datetime,
                 failed: Iterable[WriteAttribute] = ()) -> dict[str, dt.datetime]:
    """Where each item's next read starts once this run completed: its start less ``OVERLAP``,
    or earlier, at the earliest completion whose write failed (R15: read and tried again)."""
    if not settings.writeback_on or settings.writeback is None:
        return {}
    cursors = {item_key(item): started - OVERLAP for item in settings.writeback.items}
    for op in failed:
        if op.item in cursors and op.completed_at:
            at = _parse(op.completed_at).replace(microsecond=0)
            cursors[op.item] = min(cursors[op.item], at)
    return cursors


def _latest(completions: Iterable[Completion]) -> dict[str, Completion]:
    """Each user's latest completed statistic (dates compare as text: one format, UTC)."""
    latest: dict[str, Completion] = {}
    for completion in completions:
        if completion.completed_at is None:
            continue
        kept = latest.get(completion.user_id)
        if kept is None or (kept.completed_at or "") < completion.completed_at:
            latest[completion.user_id] = completion
    return latest


def _same(before: str | None, after: str) -> bool:
    """Equal as text, or as numbers (Personio may hold a score as ``90`` or ``90.0``)."""
    if same_text(before, after):
        return True
    try:
        return before is not None and float(before) == float(after)
    except ValueError:
        return False


def _day(moment: str) -> str:
    return _parse(moment).date().isoformat()


def _parse(moment: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)

"""R17: whom a changes run covers, decided from what was read and the store's memory (pure).

A changes run syncs only the employees that changed: those Personio's ``updated_since`` lists,
those verified deliveries name, and whoever their change affects (R9: the reports of a
supervisor who gains, loses or changes a user). For each it reads that employee and that
user's own 360Learning state and plans with the same planner as a full sync
(``Snapshot.covered``), so the two never disagree about a person. No HTTP here: the reads are
``gather_changes``'s.
"""

from __future__ import annotations

__all__ = ["COMPLETION_EVENTS", "Start", "affected_supervisors", "digest", "email_key", "gone",
           "next_cursor", "seen_of", "start", "unchanged"]

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from personio360.config import Settings
from personio360.domain import Employee, Link, LmsUser
from personio360.store.events import ChangeEvent, Seen
from personio360.sync.fields import clean_email
from personio360.sync.scope import in_scope

PERSONIO = "personio"
LEARNING360 = "360learning"
#: the 360Learning events after which a user's reports may have lost their manager link
_MEMBERSHIP_LOST = frozenset({"user.deleted", "user.reactivated"})
#: R18: the 360Learning events of a learner's completion, after which the next changes run
#: writes that user's completions back (360learning-webhooks §1.4)
COMPLETION_EVENTS = frozenset({"path.session.user.status.updated", "course.attempt.closed"})


@dataclass(frozen=True, slots=True)
class Start:
    """Where a changes run starts: the employees listed and still to sync, the ids named by
    events (or held back) still to read from Personio, and the events it answers for."""

    listed: Mapping[int, Employee]
    named: frozenset[int]
    events: tuple[int, ...]
    #: employees whose user was deleted or reactivated by hand: 360Learning drops a deleted
    #: user's reports' manager links, so their reports are re-read too (R9), even when the user
    #: is live again by now (a restore cut short by a stop or a kill)
    restored: frozenset[int] = frozenset()
    #: R18: managed users whose completion events arrived: their completions are read (in bulk,
    #: ``userId[in]``) and written back by this run; their employees are among those re-read
    completed: frozenset[str] = frozenset()

    @property
    def idle(self) -> bool:
        """Nothing to do: no 360Learning call, no run recorded (R17)."""
        return not self.listed and not self.named


def start(
    listed: Iterable[Employee],
    events: Iterable[ChangeEvent],
    seen: Mapping[int, Seen],
    links: Mapping[int, Link],
    *,
    held_back: Collection[int] = (),
    written: Mapping[str, tuple[dt.datetime, dt.datetime]] | None = None,
) -> Start:
    """The run's first set of people.

    - An employee the poll lists again only because of the cursor's overlap, unchanged since a
      completed run processed them (``unchanged``), is nothing to do, unless an event names them.
    - A Personio event names an employee by id; one without an id (a payload we could not read)
      is answered by the poll itself.
    - A 360Learning event names a user: only a managed user's employee is re-read (R6: events
      about unmanaged users change nothing; the receiver drops most of them already), and not
      for an echo of the connector's own write: an event that occurred during the run that
      last wrote that user, no later than that write (``written``: the run's start, the
      write). 360Learning may well report API changes too, and a full sync's 10,000 updates
      must not come back as 10,000 re-reads. An event from before that run is no echo, even
      when the run wrote the user later: a run stopped or killed part-way (R14) may have
      restored a user deleted by hand without its managers and values, and the event must
      bring the next run back to it.
    - A completion event (R18) of a managed user names that employee (their attributes are
      read again, to compare) and that user's completions; it is never an echo (the connector
      writes no completions).
    - ``held_back``: linked employees the last run left out of scope, whose removal was held
      back (R13b); passed only with ``--allow-deletions``, which approves them.
    """
    events = list(events)
    employee_of = {link.user_id: emp_id for emp_id, link in links.items()}
    named: set[int] = set()
    restored: set[int] = set()
    completed: set[str] = set()
    for event in events:
        if event.provider == PERSONIO and event.employee_id is not None:
            named.add(event.employee_id)
        elif event.provider == LEARNING360 and event.user_id is not None:
            emp_id = employee_of.get(event.user_id)
            if emp_id is not None and event.event_name in COMPLETION_EVENTS:
                named.add(emp_id)
                completed.add(event.user_id)
            elif emp_id is not None and not _echo(event, (written or {}).get(event.user_id)):
                named.add(emp_id)
                if event.event_name in _MEMBERSHIP_LOST:
                    restored.add(emp_id)
    named.update(e for e in held_back if e in links)
    kept = {emp.id: emp for emp in listed if emp.id in named or not unchanged(emp, seen.get(emp.id))}
    return Start(listed=kept, named=frozenset(named - kept.keys()), events=tuple(e.id for e in events),
                 restored=frozenset(restored), completed=frozenset(completed))


def _echo(event: ChangeEvent, last_write: tuple[dt.datetime, dt.datetime] | None) -> bool:
    if event.occurred_at is None or last_write is None:
        return False
    run_started, written = last_write
    return run_started <= event.occurred_at <= written


def unchanged(emp: Employee, seen: Seen | None) -> bool:
    """The same ``last_modified_at`` a completed run synced, and the same values.

    The stamp alone is not enough: Personio writes it in whole seconds, by its own clock, so
    an edit within the second a run read carries the stamp that run recorded. Its values
    differ; an edit undone within that second is indeed nothing to do."""
    return (seen is not None and emp.last_modified_at is not None
            and emp.last_modified_at == seen.last_modified_at and digest(emp) == seen.digest)


def digest(emp: Employee) -> str:
    """The employee's attributes as read, in a stable text (``repr`` of plain values)."""
    items = sorted((k, v) for k, v in emp.attributes.items() if k != "last_modified_at")
    return hashlib.sha256(repr(items).encode()).hexdigest()


def affected_supervisors(
    settings: Settings,
    employees: Mapping[int, Employee | None],
    links: Mapping[int, Link],
    users: Mapping[str, LmsUser],
) -> set[int]:
    """The covered employees whose reports' manager changes (R9): a supervisor who will gain a
    user (in scope, not linked: created or adopted), lose it (linked, no longer in scope or
    gone from Personio: ``None``), or have it brought back (linked to a deleted or missing user:
    restored, perhaps as a new account)."""
    out: set[int] = set()
    for emp_id, emp in employees.items():
        link = links.get(emp_id)
        staying = emp is not None and in_scope(emp, settings.groups)
        if link is None:
            if staying:
                out.add(emp_id)
        elif not staying:
            out.add(emp_id)
        else:
            user = users.get(link.user_id)
            if user is None or user.status == "deleted":
                out.add(emp_id)
    return out


def next_cursor(polled_at: dt.datetime, settings: Settings) -> dt.datetime:
    """The next poll's ``updated_since``: this poll's time less the overlap. Personio documents
    no time zone for it and writes whole seconds, so each poll asks again for a margin before
    the last one; whoever it lists unchanged is skipped (``unchanged``)."""
    return polled_at - settings.changes_or_default.overlap_delta


def seen_of(emp: Employee, settings: Settings) -> Seen:
    """What the store keeps of an employee a completed run synced."""
    scoped = in_scope(emp, settings.groups)
    return Seen(emp.id, emp.last_modified_at, emp.supervisor_id, scoped, digest(emp),
                email_key(emp) if scoped else None)


def email_key(emp: Employee | None) -> str | None:
    """A digest of the employee's email as R15 compares it (trimmed, lower-cased); the store
    keeps it instead of the email."""
    email = clean_email(emp.email) if emp is not None else None
    return hashlib.sha256(email.encode()).hexdigest() if email else None


def gone(employee_id: int) -> Seen:
    """An employee Personio no longer has (R5: absent, like a leaver)."""
    return Seen(employee_id, None, None, False, "")

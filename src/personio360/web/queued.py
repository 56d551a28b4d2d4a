"""A deployment's pages over the queue (issue 15): previews and Run now as jobs, not threads.

In a multi-company deployment the page is served by ``serve --companies`` and the work is done
by ``personio360 worker`` processes, possibly on other machines: a Preview is a ``preview``
job that keeps its plan document in the company's store (``store.previews``), and Run now an
``apply`` job of exactly that document. ``JobQueue`` is what ``Admin`` needs of the queue (the
procrastinate side is ``web/companies_admin.py``); ``QueuedPreview`` is a stored plan document
shaped as the Overview and Preview pages show an in-process preview.
"""

from __future__ import annotations

__all__ = ["DocumentPlan", "JobQueue", "Queued", "QueuedJob", "QueuedPreview", "preview_view"]

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from personio360.cli.render import Names
from personio360.store.previews import StoredPreview
from personio360.web.present import Person, Row, by_person, label


@dataclass(frozen=True, slots=True)
class Queued:
    """A job put on the queue by a page (``new``), or the one already waiting in its place."""

    job_id: int
    kind: str
    new: bool


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """One of the company's jobs as its Overview lists them."""

    id: int
    kind: str
    status: str
    detail: str
    scheduled: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.status in ("todo", "doing")


class JobQueue(Protocol):
    """The queue as one company's pages see it: defer its jobs, list them, its next run."""

    def defer(self, kind: str, **arguments: int | bool) -> Queued: ...

    def jobs(self, limit: int = 10) -> Sequence[QueuedJob]: ...

    def next_run(self) -> dt.datetime | None: ...


@dataclass(frozen=True, slots=True)
class DocumentPlan:
    """A plan document's figures with the attributes the templates read of a ``Plan``."""

    in_scope: int
    managed: int
    deletion_limit: int
    operations: tuple[Mapping[str, Any], ...]
    held_back: tuple[Mapping[str, Any], ...]
    errors: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.operations and not self.held_back


@dataclass(frozen=True, slots=True)
class QueuedPreview:
    """A stored preview as the pages show it: the plan (``None`` when the job could not make
    one: ``problem``), its counts and people, and the run of the Run now that used it."""

    id: int
    made_at: dt.datetime
    allow_deletions: bool
    job_id: int | None
    run_id: int | None
    problem: str | None
    hint: str | None
    plan: DocumentPlan | None
    counts: list[tuple[str, str, int, bool]]
    people: list[Person]
    held: list[Person]
    error_rows: list[Row]

    @property
    def appliable(self) -> bool:
        return self.plan is not None and self.run_id is None


def preview_view(stored: StoredPreview, names: Names) -> QueuedPreview:
    """The stored document shaped for the pages (once per preview: it may hold 10,000 people)."""
    doc = stored.document
    if doc is None:
        return QueuedPreview(stored.id, stored.made_at, stored.allow_deletions, stored.job_id, stored.run_id,
                             stored.problem, stored.hint, None, [], [], [], [])
    entries = doc["operations"]
    apply = tuple(e for e in entries if e["outcome"] == "apply")
    held = tuple(e for e in entries if e["outcome"] == "held_back")
    summary = doc["summary"]
    plan = DocumentPlan(summary["in_scope"], summary["managed"], summary["deletion_limit"], apply, held,
                        tuple(doc["errors"]), tuple(doc["notes"]))
    errors = [Row(_who(e["employee_id"], None, names), e["employee_id"], None, e["code"], "R15", "error",
                  (("message", "", e["message"]),)) for e in doc["errors"]]
    return QueuedPreview(stored.id, stored.made_at, stored.allow_deletions, stored.job_id, stored.run_id,
                         stored.problem, stored.hint, plan, _counts(apply, held),
                         by_person(_rows(apply, names, "planned")),
                         by_person(_rows(held, names, "held back")), errors)


def _counts(apply: Sequence[Mapping[str, Any]],
            held: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int, bool]]:
    """Counts by kind, as ``present.plan_counts`` gives them for a ``Plan``."""
    rules = {e["kind"]: e["rule"] for e in (*apply, *held)}
    rows = []
    for entries, held_back in ((apply, False), (held, True)):
        counts = Counter(e["kind"] for e in entries)
        rows += [(label(kind), rules[kind], count, held_back) for kind, count in counts.items()]
    return rows


def _rows(entries: Iterable[Mapping[str, Any]], names: Names, outcome: str) -> list[Row]:
    """Document entries as ``present.plan_rows`` makes rows of operations."""
    rows = []
    for entry in entries:
        target = entry["target"]
        changes = tuple((c["name"], _show(names.value(c["name"], c.get("before"))),
                         _show(names.value(c["name"], c.get("after")))) for c in entry["changes"])
        rows.append(Row(_who(target["employee_id"], target.get("name"), names), target["employee_id"],
                        target.get("user_id"), label(entry["kind"]), entry["rule"], outcome, changes))
    return rows


def _who(employee_id: int | None, name: str | None, names: Names) -> str:
    if employee_id is not None and name:
        return f"{name} ({employee_id})"
    return names.who(employee_id)


def _show(value: str | None) -> str:
    return "∅" if value is None else value

"""The state store's tables (SQLAlchemy 2 typed mappings); changed only through Alembic migrations."""

from __future__ import annotations

__all__ = [
    "Base", "ChangeEventRow", "EmployeeSeenRow", "ErrorRow", "FeedMarkerRow", "LinkRow", "LockRow",
    "NoticeRow", "NotificationRow", "OperationRow", "OwnedFieldRow", "PreviewRow", "RunRow",
    "WritebackCursorRow",
]

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LinkRow(Base):
    """R2: one employee ↔ user link; closed links (``closed_at`` set) are kept as history."""

    __tablename__ = "links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    employee_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class OwnedFieldRow(Base):
    """R8: a 360Learning custom field the connector created or owns for a configured name."""

    __tablename__ = "owned_custom_fields"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attribute: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    field_id: Mapped[str] = mapped_column(String(64), unique=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    """R16: one run, from start to outcome, with its counts per operation kind."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command: Mapped[str] = mapped_column(String(100))
    #: ``full`` (every employee) or ``changes`` (R17: only those that changed)
    kind: Mapped[str] = mapped_column(String(20), default="full", server_default="full")
    environment: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str] = mapped_column(String(40))
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)


class OperationRow(Base):
    """R16: one operation of a run: who, what, before → after, and how it ended."""

    __tablename__ = "operations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    employee_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_operations_employee", "employee_id"),
                      # a run's people, page by page (issue 9)
                      Index("ix_operations_run_employee", "run_id", "employee_id"),
                      # R13b across runs: the window's deletions (R17)
                      Index("ix_operations_kind_at", "kind", "at"))


class ErrorRow(Base):
    """R15/R16: one per-employee error (or a run-level one, without employee)."""

    __tablename__ = "errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    employee_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    code: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LockRow(Base):
    """The run lock for databases without advisory or file locks."""

    __tablename__ = "run_lock"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ChangeEventRow(Base):
    """R17: one verified delivery, recorded before it is answered; a hint of whom to re-read.

    ``event_key`` dedupes at-least-once deliveries (360Learning's ``webhook-id``; for Personio,
    which documents no event id, the event name, entity and time). ``processed_at`` is set by
    the completed changes run (``run_id``) that re-read its person."""

    __tablename__ = "change_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(200))
    event_name: Mapped[str] = mapped_column(String(100))
    employee_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (UniqueConstraint("provider", "event_key", name="uq_change_events_key"),
                      Index("ix_change_events_pending", "processed_at"))


class FeedMarkerRow(Base):
    """R17: a point in time of the change feed (the poll cursor, the last poll, the last event)."""

    __tablename__ = "feed_markers"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EmployeeSeenRow(Base):
    """R17: what a completed run last synced an employee from: their ``last_modified_at`` (an
    overlap re-listing of the same is nothing to do), supervisor (whose reports a changed
    supervisor affects, R9) and whether they were in scope (R9's manager for reports not read)."""

    __tablename__ = "employees_seen"
    employee_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_modified_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    supervisor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    in_scope: Mapped[bool] = mapped_column(Boolean)
    #: a digest of the attributes that run synced from: Personio writes ``last_modified_at`` in
    #: whole seconds, and its clock is not ours, so a second edit within the same second carries
    #: the same stamp; it does not carry the same values
    digest: Mapped[str] = mapped_column(String(64))
    #: a digest of the email an in-scope employee was synced with (R15 across runs: a changes
    #: run sees duplicates among the people it does not read), never the email itself
    email_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    run_id: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_employees_seen_supervisor", "supervisor_id"),
                      Index("ix_employees_seen_email", "email_key"))


class NoticeRow(Base):
    """Issue 14: a problem notifications know is open (a failed run, held-back deletions, skipped
    employees, a lagging feed): when it started and was last sent, so it is sent once, reminded
    at most every ``remind_every``, and cleared once. Closed problems are deleted."""

    __tablename__ = "notices"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    #: what is already reported (skipped employees: ``"<employee id>:<code>"``)
    subjects: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class NotificationRow(Base):
    """Issue 14: one message sent (or tried) to the targets, with each target's failure."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    #: ``started``, ``reminder``, ``cleared`` or ``test``
    phase: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    targets: Mapped[int] = mapped_column(Integer)
    delivered: Mapped[int] = mapped_column(Integer)
    #: ``[{"target": masked, "error": redacted reason}, ...]``
    failures: Mapped[list[Any]] = mapped_column(JSON, default=list)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class WritebackCursorRow(Base):
    """R18: per configured write-back item (``path:<id>>dynamic_N=value``), the completion
    date from which the next full sync reads its statistics (``completedAt[gte]``)."""

    __tablename__ = "writeback_cursors"
    item: Mapped[str] = mapped_column(String(120), primary_key=True)
    completed_since: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PreviewRow(Base):
    """Issue 15: a preview made by a queue job (a deployment's admin page): the plan document
    (``sync.saved``) that its Run now applies exactly, or why no plan could be made."""

    __tablename__ = "previews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    made_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    allow_deletions: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the queue job that made it
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: the plan document's ``summary`` alone, so lists need not read the whole document
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    hint: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the run of its Run now (applied, or refused because an input moved): used up either way
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

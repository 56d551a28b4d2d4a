"""The state store's tables (SQLAlchemy 2 typed mappings); changed only through Alembic migrations."""

from __future__ import annotations

__all__ = ["Base", "ErrorRow", "LinkRow", "LockRow", "OperationRow", "OwnedFieldRow", "RunRow"]

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
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
                      Index("ix_operations_run_employee", "run_id", "employee_id"))


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

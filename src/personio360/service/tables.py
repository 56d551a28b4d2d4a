"""The shared schema's tables (issue 15): the registry of companies; procrastinate's own beside them."""

from __future__ import annotations

__all__ = ["SHARED", "companies", "metadata"]

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, String, Table, Text

SHARED = "personio360"
metadata = MetaData(schema=SHARED)

companies = Table(
    "companies",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("config_file", String(500), nullable=False),
    Column("config_toml", Text(), nullable=False),
    Column("secrets", LargeBinary(), nullable=False),
    Column("secret_names", Text(), nullable=False),
    Column("environment", String(20), nullable=False),
    Column("personio_company_id", String(100), nullable=True, unique=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("next_full_at", DateTime(timezone=True), nullable=True),
    Column("next_poll_at", DateTime(timezone=True), nullable=True),
)

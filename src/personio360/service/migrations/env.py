"""Alembic environment of the shared schema (the registry of companies); its version table there too."""

from __future__ import annotations

from alembic import context

from personio360.service.tables import SHARED, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table_schema=SHARED)
with context.begin_transaction():
    context.run_migrations()

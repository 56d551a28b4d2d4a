"""Alembic migrations of the state store (script location ``personio360.store:migrations``)."""

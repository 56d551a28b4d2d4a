"""The registry of companies (issue 15).

Revision ID: s0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("config_file", sa.String(500), nullable=False),
        sa.Column("config_toml", sa.Text(), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=False),
        sa.Column("secret_names", sa.Text(), nullable=False),
        sa.Column("environment", sa.String(20), nullable=False),
        sa.Column("personio_company_id", sa.String(100), nullable=True, unique=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        schema="personio360",
    )


def downgrade() -> None:
    op.drop_table("companies", schema="personio360")

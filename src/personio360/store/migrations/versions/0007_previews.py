"""Previews made by queue jobs (issue 15): each plan document a deployment's Run now applies.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "previews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allow_deletions", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("previews")

"""The change feed (R17): received deliveries, the poll cursor, what each employee was last
synced from, and the kind of each run (``full`` or ``changes``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="full"))
    op.create_table(
        "change_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("event_name", sa.String(100), nullable=False),
        sa.Column("employee_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.UniqueConstraint("provider", "event_key", name="uq_change_events_key"),
    )
    op.create_index("ix_change_events_pending", "change_events", ["processed_at"])
    op.create_table(
        "feed_markers",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
    )
    op.create_table(
        "employees_seen",
        sa.Column("employee_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("last_modified_at", sa.String(40), nullable=True),
        sa.Column("supervisor_id", sa.BigInteger(), nullable=True),
        sa.Column("in_scope", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("email_key", sa.String(64), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_employees_seen_supervisor", "employees_seen", ["supervisor_id"])
    op.create_index("ix_employees_seen_email", "employees_seen", ["email_key"])
    # R13b across runs: the deletions of the window are counted from the operations
    op.create_index("ix_operations_kind_at", "operations", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_operations_kind_at", table_name="operations")
    op.drop_table("employees_seen")
    op.drop_table("feed_markers")
    op.drop_table("change_events")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("kind")

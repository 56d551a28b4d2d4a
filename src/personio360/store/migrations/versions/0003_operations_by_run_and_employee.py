"""A run's operations by employee (issue 9): the run page reads one page of people at a time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_operations_run_employee", "operations", ["run_id", "employee_id"])


def downgrade() -> None:
    op.drop_index("ix_operations_run_employee", table_name="operations")

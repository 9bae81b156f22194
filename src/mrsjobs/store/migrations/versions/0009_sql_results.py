"""Statement results of SQL jobs: each statement's rows (bounded), kept with the job and
deleted with it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sql_results",
        sa.Column("job_id", sa.String(36),
                  sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_sql_results_job_id"),
                  primary_key=True),
        sa.Column("statement", sa.Integer, primary_key=True),
        sa.Column("rows", sa.Text, nullable=False),
        sa.Column("truncated", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("sql_results")

"""A standalone cluster's master web UI (its state, the workers' log pages) and each
job's tracking URL (its application's page).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clusters", sa.Column("web_url", sa.Text))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("tracking_url", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("tracking_url")
    op.drop_column("clusters", "web_url")

"""Clusters as configuration: each cluster's engine and its settings, and names unique
within a project. Existing clusters are local ones.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs and an index: SQLite need not copy the table, which the jobs
    # rows refer to.
    op.add_column("clusters", sa.Column("engine", sa.String(32), nullable=False,
                                        server_default="local"))
    op.add_column("clusters", sa.Column("master_url", sa.Text))
    op.add_column("clusters", sa.Column("rest_url", sa.Text))
    op.add_column("clusters", sa.Column("files_root", sa.Text))
    op.add_column("clusters", sa.Column("max_running", sa.Integer))
    op.create_index("uq_clusters_project_name", "clusters", ["project_id", "name"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_clusters_project_name", table_name="clusters")
    for column in ("max_running", "files_root", "rest_url", "master_url", "engine"):
        op.drop_column("clusters", column)

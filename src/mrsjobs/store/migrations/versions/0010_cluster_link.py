"""Where a standalone cluster's client-mode drivers on the service's host join the
cluster's network: a bridge and a block of addresses.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clusters", sa.Column("link_bridge", sa.Text))
    op.add_column("clusters", sa.Column("link_addresses", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("link_addresses")
        batch.drop_column("link_bridge")

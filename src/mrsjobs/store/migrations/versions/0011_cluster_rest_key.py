"""Where the key of a standalone master's REST server tokens is kept (a file on the
service's host; the key itself is never stored).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clusters", sa.Column("rest_key_file", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("rest_key_file")

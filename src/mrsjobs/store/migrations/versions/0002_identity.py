"""Identity: users with roles and passwords, access keys, expiring tokens, the audit log.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_users_project_name"),
    )
    # Batch mode: SQLite adds a foreign key only by rebuilding the table.
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("user_id", sa.String(64)))
        batch.add_column(sa.Column("method", sa.String(16)))
        batch.add_column(sa.Column("expires_ms", sa.BigInteger))
        batch.add_column(sa.Column("revoked_ms", sa.BigInteger))
        batch.create_foreign_key("fk_tokens_user_id", "users", ["user_id"], ["id"],
                                 ondelete="CASCADE")
    op.create_table(
        "access_keys",
        sa.Column("access_key", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("secret_sealed", sa.Text, nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_access_keys_user_id", "access_keys", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_project", "audit_events", ["project_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_project", "audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_access_keys_user_id", "access_keys")
    op.drop_table("access_keys")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_constraint("fk_tokens_user_id", type_="foreignkey")
        batch.drop_column("revoked_ms")
        batch.drop_column("expires_ms")
        batch.drop_column("method")
        batch.drop_column("user_id")
    op.drop_table("users")

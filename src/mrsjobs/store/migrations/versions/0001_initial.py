"""The first schema: projects, clusters, tokens, jobs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Spelled out: a migration must not change when the domain enums later do.
JOB_TYPES = ("MapReduce", "SparkSubmit", "SparkPython", "HiveScript", "HiveSql", "DistCp",
             "SparkScript", "SparkSql", "Flink")
JOB_STATES = ("NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED",
              "KILLED")
JOB_RESULTS = ("UNDEFINED", "SUCCEEDED", "FAILED", "KILLED")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("components", sa.String(255), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_clusters_project_id", "clusters", ["project_id"])
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("cluster_id", sa.String(64), sa.ForeignKey("clusters.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", _enum(JOB_TYPES, "job_type"), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("state", _enum(JOB_STATES, "job_state"), nullable=False),
        sa.Column("result", _enum(JOB_RESULTS, "job_result"), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("submitted_ms", sa.BigInteger, nullable=False),
        sa.Column("started_ms", sa.BigInteger),
        sa.Column("finished_ms", sa.BigInteger),
        sa.Column("kill_requested_ms", sa.BigInteger),
        sa.Column("kill_requested_by", sa.String(64)),
        sa.Column("kill_signalled_ms", sa.BigInteger),
        sa.Column("kill_attempts", sa.Integer, nullable=False),
        sa.Column("delete_requested", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("launcher_id", sa.String(64)),
        sa.Column("app_id", sa.String(128)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("diagnostics", sa.Text),
        sa.Column("submission", sa.Text),
    )
    op.create_index("ix_jobs_list", "jobs", ["project_id", "cluster_id", "submitted_ms"])
    op.create_index("ix_jobs_queue", "jobs", ["cluster_id", "state", "seq"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("tokens")
    op.drop_index("ix_clusters_project_id", "clusters")
    op.drop_table("clusters")
    op.drop_table("projects")

"""Retention and fast lists: indexes for the list filters (``seq`` in each, for
index-only paging) and the purge, and job counts per (project, cluster, state)
kept exact by triggers.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = {
    # Replaces 0001's ix_jobs_list (the same columns without ``seq``).
    "ix_jobs_time": ["project_id", "cluster_id", "submitted_ms", "seq"],
    "ix_jobs_state": ["project_id", "cluster_id", "state", "submitted_ms", "seq"],
    "ix_jobs_name": ["project_id", "cluster_id", "name", "submitted_ms", "seq"],
    "ix_jobs_finished": ["finished_ms"],
}

_KEY = "project_id, cluster_id, state, shard"

# SQLite has one writer at a time: one counter row per key (shard 0) is enough.
SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO job_counts ({_KEY}, n)
        VALUES (NEW.project_id, NEW.cluster_id, NEW.state, 0, 1)
        ON CONFLICT ({_KEY}) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
        UPDATE job_counts SET n = n - 1
        WHERE project_id = OLD.project_id AND cluster_id = OLD.cluster_id
          AND state = OLD.state AND shard = 0;
    END
    """,
    f"""
    CREATE TRIGGER job_counts_update AFTER UPDATE OF project_id, cluster_id, state ON jobs
    WHEN OLD.state IS NOT NEW.state OR OLD.project_id IS NOT NEW.project_id
      OR OLD.cluster_id IS NOT NEW.cluster_id
    BEGIN
        UPDATE job_counts SET n = n - 1
        WHERE project_id = OLD.project_id AND cluster_id = OLD.cluster_id
          AND state = OLD.state AND shard = 0;
        INSERT INTO job_counts ({_KEY}, n)
        VALUES (NEW.project_id, NEW.cluster_id, NEW.state, 0, 1)
        ON CONFLICT ({_KEY}) DO UPDATE SET n = n + 1;
    END
    """,
]

# PostgreSQL: inserts and deletes (a COPY or a batch included) are counted once per
# statement from the transition table; state changes per row, only when the state
# moves. Each backend adds to its own shard, so concurrent writers rarely wait on one
# counter row; keys are upserted in sorted order so that two writers cannot deadlock.
_SHARD = "pg_backend_pid() % 16"
POSTGRES_TRIGGERS = [
    f"""
    CREATE FUNCTION job_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_counts ({_KEY}, n)
        SELECT project_id, cluster_id, state, {_SHARD}, count(*) FROM added
        GROUP BY project_id, cluster_id, state ORDER BY project_id, cluster_id, state
        ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + EXCLUDED.n;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION job_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_counts ({_KEY}, n)
        SELECT project_id, cluster_id, state, {_SHARD}, -count(*) FROM removed
        GROUP BY project_id, cluster_id, state ORDER BY project_id, cluster_id, state
        ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + EXCLUDED.n;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION job_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO job_counts ({_KEY}, n)
        SELECT p, c, s, {_SHARD}, d
        FROM (VALUES (OLD.project_id, OLD.cluster_id, OLD.state, -1),
                     (NEW.project_id, NEW.cluster_id, NEW.state, 1)) AS v (p, c, s, d)
        ORDER BY p, c, s
        ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + EXCLUDED.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION job_counts_added()
    """,
    """
    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION job_counts_removed()
    """,
    """
    CREATE TRIGGER job_counts_update AFTER UPDATE OF project_id, cluster_id, state ON jobs
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                       OR OLD.project_id IS DISTINCT FROM NEW.project_id
                       OR OLD.cluster_id IS DISTINCT FROM NEW.cluster_id)
    EXECUTE FUNCTION job_counts_moved()
    """,
]


def upgrade() -> None:
    op.drop_index("ix_jobs_list", "jobs")
    for name, columns in INDEXES.items():
        op.create_index(name, "jobs", columns)
    op.create_table(
        "job_counts",
        sa.Column("project_id", sa.String(64), primary_key=True),
        sa.Column("cluster_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), primary_key=True),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    # Triggers first: on PostgreSQL, CREATE TRIGGER locks out writers to ``jobs`` until
    # this transaction commits, so the backfill below cannot miss a concurrent change.
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(f"INSERT INTO job_counts ({_KEY}, n) "
               "SELECT project_id, cluster_id, state, 0, count(*) FROM jobs "
               "GROUP BY project_id, cluster_id, state")


def downgrade() -> None:
    for trigger in ("job_counts_insert", "job_counts_delete", "job_counts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}"
                   + (" ON jobs" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        for function in ("job_counts_added", "job_counts_removed", "job_counts_moved"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("job_counts")
    for name in INDEXES:
        op.drop_index(name, "jobs")
    op.create_index("ix_jobs_list", "jobs", ["project_id", "cluster_id", "submitted_ms"])

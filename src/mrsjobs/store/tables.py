"""SQLAlchemy Core tables. The state columns are the domain enums, with CHECK constraints."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from ..domain.jobs import JobResult, JobState, JobType

metadata = MetaData()

# INTEGER PRIMARY KEY is SQLite's rowid; BIGINT elsewhere.
_SeqType = BigInteger().with_variant(Integer(), "sqlite")


def _enum(cls: type[JobState] | type[JobResult] | type[JobType], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("components", String(255), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # The engine and its settings (migration 0007): a domain ClusterEngine value; the
    # master's URLs for a spark-standalone cluster; where its file area lives if not
    # under the data directory; its own cap on running jobs if not the service's.
    Column("engine", String(32), nullable=False, server_default="local"),
    Column("master_url", Text),
    Column("rest_url", Text),
    Column("files_root", Text),
    Column("max_running", Integer),
    # A standalone master's web UI (migration 0008): its state and the workers' pages.
    Column("web_url", Text),
    # Where its client-mode drivers join its network (migration 0010).
    Column("link_bridge", Text),
    Column("link_addresses", Text),
    # The file holding the key of its REST server's signed tokens (migration 0011).
    Column("rest_key_file", Text),
    Index("uq_clusters_project_name", "project_id", "name", unique=True),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    # salted scrypt; NULL for a user that only ever gets tokens from the CLI
    Column("password_hash", String(255)),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_users_project_name"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("user_id", String(64),
           ForeignKey("users.id", ondelete="CASCADE", name="fk_tokens_user_id")),
    # "password" (POST /v3/auth/tokens) or "cli"
    Column("method", String(16)),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    # the secret key, encrypted with the server key
    Column("secret_sealed", Text, nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("project_id", String(64), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("method", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Index("ix_audit_events_project", "project_id", "seq"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False),
    Column("cluster_id", String(64), ForeignKey("clusters.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("type", _enum(JobType, "job_type"), nullable=False),
    Column("user_name", String(64), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("properties", Text, nullable=False),
    Column("state", _enum(JobState, "job_state"), nullable=False),
    Column("result", _enum(JobResult, "job_result"), nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("submitted_ms", BigInteger, nullable=False),
    Column("started_ms", BigInteger),
    Column("finished_ms", BigInteger),
    Column("kill_requested_ms", BigInteger),
    Column("kill_requested_by", String(64)),
    Column("kill_signalled_ms", BigInteger),
    Column("kill_attempts", Integer, nullable=False, default=0),
    Column("delete_requested", Boolean, nullable=False, default=False),
    Column("owner", String(64)),
    # The owner's runs directory when it claimed the job: an adopting instance finds
    # the job's records there.
    Column("run_root", Text),
    Column("launcher_id", String(64)),
    # The engine's handle of a started job (its text): how a restarted service finds it.
    Column("engine_handle", Text),
    Column("app_id", String(128)),
    # The application's page, once the engine knows it (migration 0008).
    Column("tracking_url", Text),
    Column("exit_code", Integer),
    Column("diagnostics", Text),
    # What a v1.1 submission said beyond type and arguments (JSON), or NULL.
    Column("submission", Text),
    Index("ix_jobs_queue", "cluster_id", "state", "seq"),
    # The list filters, each answered from one index over a million rows (``seq``
    # included: a page is found in the index alone, see Store.list_jobs), and the
    # retention purge (oldest finished first).
    Index("ix_jobs_time", "project_id", "cluster_id", "submitted_ms", "seq"),
    Index("ix_jobs_state", "project_id", "cluster_id", "state", "submitted_ms", "seq"),
    Index("ix_jobs_name", "project_id", "cluster_id", "name", "submitted_ms", "seq"),
    Index("ix_jobs_finished", "finished_ms"),
    Index("ix_jobs_owner", "owner", "state"),
)

# Each statement's result of a SQL job (migration 0009): its rows as a JSON array of
# objects of strings (at most the configured number), and whether more were dropped.
sql_results = Table(
    "sql_results",
    metadata,
    Column("job_id", String(36),
           ForeignKey("jobs.id", ondelete="CASCADE", name="fk_sql_results_job_id"),
           primary_key=True),
    Column("statement", Integer, primary_key=True),
    Column("rows", Text, nullable=False),
    Column("truncated", Boolean, nullable=False, server_default=false()),
)

# The service instances sharing this database, and when each was last seen alive.
instances = Table(
    "instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("runs_dir", Text, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("heartbeat_ms", BigInteger, nullable=False),
)

# Facts every instance of this database must agree on, by name (migration 0005): the
# fingerprint of the server key that seals secret keys, never the key itself.
service_facts = Table(
    "service_facts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# Jobs per (project, cluster, state), kept exact by triggers on ``jobs`` (migration
# 0004), so that an unfiltered list total is not a count(*) over every row. On
# PostgreSQL each connection adds to its own ``shard`` row, so concurrent submits do
# not queue on one hot counter row; a count is the sum over the shards.
job_counts = Table(
    "job_counts",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("cluster_id", String(64), primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

"""Operator configuration, from ``MRSJOBS_*`` environment variables and CLI flags."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_spark_home() -> Path | None:
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).parent


class Settings(BaseSettings):
    """Where the service keeps its state and how its local cluster runs jobs.

    The cluster's tool commands are settings so that an operator can point them
    at another installation, and a benchmark at a trivial program.
    """

    model_config = SettingsConfigDict(env_prefix="MRSJOBS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 9529
    data_dir: Path = Path("var")
    database_url: str | None = None

    spark_home: Path | None = None
    spark_submit: str | None = None
    spark_sql: str | None = None
    java: str = "java"
    python: str = sys.executable
    master: str = "local[2]"
    driver_memory: str = "512m"
    # Short jobs on one host spend most of their time starting the JVM: a C1-only JIT
    # halves that. Clear it for long, compute-heavy jobs.
    driver_java_options: str = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
    max_running: int = 10
    # SQL jobs share a per-cluster Hive metastore daemon; off, each uses Spark's own
    # catalog (tests and benchmarks that stand a trivial program in for spark-sql).
    hive_metastore: bool = True
    # Each cluster's metastore and warehouse (default: in the data directory). Instances
    # on one host that share a database share this too, so their SQL jobs see the
    # same tables.
    clusters_dir: Path | None = None
    # A cluster's metastore daemon outlives the service (its SQL jobs do too) and ends
    # itself this long after its last client went and no service heartbeats it.
    metastore_idle_s: float = 60.0
    # SQL jobs of local clusters run on a warm Spark Connect server per project and
    # cluster ("off": each job is a cold spark-sql). The server stops after
    # ``sql_engine_idle_s`` without a job; it runs ``sql_engine_slots`` jobs at once, on
    # its own master (``local[N]``); each statement keeps ``sql_result_max_rows`` rows.
    sql_engine: Literal["on", "off"] = "on"
    sql_engine_idle_s: float = 600.0
    sql_engine_slots: int = 8
    sql_engine_master: str = "local[2]"
    sql_engine_memory: str = "1g"
    sql_result_max_rows: int = 1000
    # On a standalone cluster, executors write a table's files in the files root as the
    # workers' user and the engine (the project's user) commits them: with two users,
    # the files need a umask that lets the other write (Hadoop's own default is 022).
    sql_engine_files_umask: str = Field(default="022", pattern=r"^0?[0-7]{3}$")

    # Several instances may share one PostgreSQL database: each needs its own id (by
    # default one kept in its data directory) and heartbeats; a silent one's jobs are
    # adopted by an instance on the same host, or marked lost after ``lost_timeout_s``.
    instance_id: str | None = None
    hostname: str = socket.gethostname()
    instance_timeout_s: float = 15.0
    lost_timeout_s: float = 300.0

    # Identity: token lifetime, the accepted X-Sdk-Date skew each way, and the key
    # that encrypts secret keys at rest (default: a key file in the data directory).
    token_ttl_s: float = 86400
    signature_window_s: float = 900
    secret_key: SecretStr | None = None
    # Abuse limits (throttle.py): failed sign-ins per source address and per user name
    # or access key within a sliding window, then 429 until it has passed (0: off), with
    # this many keys tracked per kind; scrypt at most ``hash_concurrency`` at once
    # (default: the CPUs; 0: no bound), a sign-in waiting up to ``hash_wait_s``.
    signin_failures: int = 10
    signin_window_s: float = 60.0
    signin_tracked_keys: int = 10_000
    hash_concurrency: int | None = None
    hash_wait_s: float = 1.0
    # Connections (the ``serve`` command): at most this many open, more are closed at
    # once; an idle keep-alive connection is closed after ``idle_timeout_s``, and one
    # that has not sent a whole request head ``header_timeout_s`` after it connected
    # (or after the first byte of a request) too.
    max_connections: int = 2048
    idle_timeout_s: float = 5.0
    header_timeout_s: float = 10.0

    kill_grace_s: float = 5.0
    kill_attempts: int = 3
    kill_confirm_s: float = 10.0
    poll_interval_s: float = 1.0

    # Concurrent submits are inserted together, one transaction for all that wait.
    group_commit: bool = True

    # Finished jobs (records, logs, run directories) are purged this long after they
    # ended; 0 keeps them for ever. The purger looks every ``retention_interval_s``.
    retention_s: float = 7 * 24 * 3600.0
    retention_interval_s: float = 60.0
    retention_batch: int = 1000
    # Per stream (stdout, stderr) of each job: the head and the tail are kept, the
    # middle is dropped with a marker line. 0: no bound (the job writes the file).
    max_log_bytes: int = 64 * 1024 * 1024
    # Standalone clusters: how often a driver's state is asked of its master, and how
    # long a master may not answer (or not know a driver) before the job ends FAILED.
    cluster_poll_s: float = 0.05
    cluster_unreachable_s: float = 60.0
    # A followed log with nothing new sends a comment this often, so that proxies
    # keep the stream open.
    log_heartbeat_s: float = 15.0
    # A running Spark job's UI is reached through a bridge into its project's network
    # namespace, closed when the job ends or when nobody has used it for this long.
    spark_ui_idle_s: float = 300.0

    # Containment of jobs: "auto" contains them when this host can (root, bubblewrap,
    # iproute2) and otherwise runs the jobs of one project only; "on" refuses to start
    # without containment; "off" runs every job as the service (a warning at start).
    isolation: Literal["auto", "on", "off"] = "auto"
    # Read-only roots (os.pathsep-separated) that jobs may name files under, besides
    # their cluster's file area; the Spark examples are always one.
    job_read_paths: str = ""
    # The largest file one PUT may store in a cluster's file area.
    max_upload_bytes: int = 1 << 30
    # The largest body of any other request (413 beyond it, before it is read).
    max_body_bytes: int = 1 << 20

    # Operators: /metrics answers loopback clients only ("loopback"), callers that send
    # ``Authorization: Bearer <metrics_token>`` ("token"), or nobody ("off").
    metrics: Literal["loopback", "token", "off"] = "loopback"
    metrics_token: SecretStr | None = None
    # The jobs-by-state counts are read from the store at most this often (0: each scrape).
    metrics_ttl_s: float = 2.0
    # Log lines as text or one JSON object per line (with request id, project, job);
    # ``log_requests`` adds a line for every request answered.
    log_format: Literal["text", "json"] = "text"
    log_requests: bool = False

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'mrsjobs.db'}"

    @property
    def spark_dir(self) -> Path:
        home = self.spark_home or _default_spark_home()
        if home is None:
            raise RuntimeError("no Spark: install mrsjobs[spark] or set MRSJOBS_SPARK_HOME")
        return home

    @property
    def spark_submit_cmd(self) -> str:
        return self.spark_submit or str(self.spark_dir / "bin" / "spark-submit")

    @property
    def spark_sql_cmd(self) -> str:
        return self.spark_sql or str(self.spark_dir / "bin" / "spark-sql")

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def read_roots(self) -> tuple[PurePosixPath, ...]:
        given = [p for p in self.job_read_paths.split(os.pathsep) if p]
        roots = [self.spark_dir / "examples", *(Path(p) for p in given)]
        return tuple(PurePosixPath(os.path.abspath(p)) for p in roots)

    def files_dir(self, cluster_id: str) -> Path:
        """The cluster's file area, its "HDFS": what ``hdfs:///path`` names."""
        return self.cluster_dir(cluster_id) / "files"

    def cluster_dir(self, cluster_id: str) -> Path:
        return (self.clusters_dir or self.data_dir / "clusters") / cluster_id

"""Bulk job records for the store benchmarks: straight into the database (sqlite3
``executemany``, PostgreSQL ``COPY``), not through the API, and PostgreSQL databases
named ``mrsjobs_b_<random>`` that are dropped afterwards."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from _harness import Bench, bench_workspace, emit, run_context

POSTGRES_ADMIN = os.environ.get("MRSJOBS_BENCH_POSTGRES_URL",
                                "postgresql://postgres@127.0.0.1:5432/postgres")
DAY_MS = 24 * 3600 * 1000
# What a loaded job looks like: mostly history, a few queued and running.
STATES = (("FINISHED", "SUCCEEDED", 80), ("FAILED", "FAILED", 8), ("KILLED", "KILLED", 5),
          ("ACCEPTED", "UNDEFINED", 5), ("RUNNING", "UNDEFINED", 2))
NAMES = 1000
COLUMNS = ("id", "project_id", "cluster_id", "name", "type", "user_name", "queue",
           "arguments", "properties", "state", "result", "progress", "submitted_ms",
           "started_ms", "finished_ms", "kill_attempts", "delete_requested", "owner")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    name = f"mrsjobs_b_{uuid.uuid4().hex[:12]}"
    server = make_url(POSTGRES_ADMIN)
    admin_url = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Layout:
    """Where the loaded jobs sit in time: ``n`` submits evenly over ``span_ms``."""

    n: int
    first_ms: int
    span_ms: int

    def submitted_ms(self, i: int) -> int:
        return self.first_ms + i * self.span_ms // self.n


def _state(i: int) -> tuple[str, str]:
    k = (i * 7919) % 100  # spread the states over time, not in blocks
    for state, result, share in STATES:
        if k < share:
            return state, result
        k -= share
    raise AssertionError


def rows(project_id: str, cluster_id: str, layout: Layout) -> Iterator[tuple[Any, ...]]:
    args, props = json.dumps(["a.jar", "x"]), json.dumps({})
    for i in range(layout.n):
        state, result = _state(i)
        submitted = layout.submitted_ms(i)
        ended = state in ("FINISHED", "FAILED", "KILLED")
        yield (str(uuid.UUID(int=i + 1)), project_id, cluster_id, f"job-{i % NAMES:03d}",
               "SparkSubmit", "bench", "default", args, props, state, result,
               100.0 if ended else 0.0, submitted,
               submitted + 1000 if state != "ACCEPTED" else None,
               submitted + 60_000 if ended else None, 0, False,
               "loader" if state == "RUNNING" else None)


def load(url: str, project_id: str, cluster_id: str, layout: Layout) -> None:
    """Insert ``layout.n`` jobs (triggers fire as for any insert), then refresh stats."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            marks = ",".join("?" * len(COLUMNS))
            with conn:
                conn.executemany(f"INSERT INTO jobs ({','.join(COLUMNS)}) VALUES ({marks})",
                                 rows(project_id, cluster_id, layout))
            conn.execute("ANALYZE")
        return
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur, cur.copy(
                f"COPY jobs ({','.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows(project_id, cluster_id, layout):
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE jobs")
        conn.execute("VACUUM ANALYZE job_counts")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'mrsjobs.db'}"


@contextlib.contextmanager
def database_url(backend: str, data_dir: Path) -> Iterator[str]:
    """The store URL of a benchmark run: a file in ``data_dir``, or a new PostgreSQL
    database dropped afterwards."""
    if backend == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        yield sqlite_url(data_dir)
    else:
        with postgres_database() as url:
            yield url


def emit_per_backend(name: str, args: argparse.Namespace,
                     measure: Callable[[Bench, str, argparse.Namespace], dict[str, Any]],
                     **fields: Any) -> None:
    """Run ``measure`` on each of ``args.backends`` and print one JSON result."""
    load0 = os.getloadavg()
    with bench_workspace(name, args) as bench:
        results = {b: measure(bench, b, args) for b in args.backends.split(",")}
    emit({"bench": name, "context": run_context(load0), **fields, "backends": results,
          "meets_target": all(r["meets_target"] for r in results.values())})

"""Submit: 50 concurrent clients submitting for 20 s against a real server, on SQLite
and on PostgreSQL: accepted submissions per second, latency, and none lost.

The server runs with ``max_running=0``: every job is stored (ACCEPTED, queued) and
none is launched, so the figure is the API's durable submit path alone, not the
two shared cores also starting thousands of processes. Each client is a keep-alive
HTTP/1.1 connection sending the next POST as soon as the last one is answered (a
small asyncio client on uvloop, so that the load generator is not what is measured). When
the time is up the server is SIGKILLed, and every job id answered with 202 is looked
up in the database: an id missing there is lost (the 202 came before the commit).

Baseline in the same run, on the same database: 50 threads doing raw INSERTs of the
same rows (one row per transaction, a connection per thread), no HTTP.

    .venv/bin/python bench/submit.py [--seconds 20] [--clients 50]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from typing import Any

import psycopg
from sqlalchemy import select

from _harness import Bench, Server, log, parser
from _load import COLUMNS, database_url, emit_per_backend
from _stats import r2, ratio, summary
from mrsjobs.engines.local.shim import proc_stat
from mrsjobs.store import Store
from mrsjobs.store.tables import jobs

TARGET_PER_S = 1500.0
BODY = json.dumps({"job_type": "SparkSubmit", "job_name": "submit-bench",
                   "arguments": ["--class", "Main", "hdfs:///app.jar"]}).encode()


async def client_loop(port: int, request: bytes, until: float, accepted: list[str],
                      latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            t = time.perf_counter_ns()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append((time.perf_counter_ns() - t) / 1e6)
            if status == 202:
                accepted.append(json.loads(body)["job_submit_result"]["job_id"])
            else:
                errors.append(f"{status} {body[:200]!r}")
    finally:
        writer.close()


def drive(server: Server, clients: int, seconds: float) -> dict[str, Any]:
    request = (f"POST {server.jobs_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"X-Auth-Token: {server.token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
    accepted: list[str] = []
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> float:
        until = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(*(client_loop(server.port, request, until, accepted, latencies,
                                           errors) for _ in range(clients)))
        return time.monotonic() - t0

    # uvloop when there is one: the load generator should cost the server little CPU.
    try:
        import uvloop
    except ImportError:
        elapsed = asyncio.run(run())
    else:
        elapsed = uvloop.run(run())
    return {"elapsed_s": elapsed, "accepted": accepted, "latencies": latencies,
            "errors": errors}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lost(url: str, ids: list[str]) -> int:
    store = Store(url)
    found = 0
    try:
        with store.engine.connect() as conn:
            for i in range(0, len(ids), 1000):
                chunk = ids[i:i + 1000]
                found += len(conn.execute(select(jobs.c.id).where(jobs.c.id.in_(chunk))).all())
    finally:
        store.close()
    return len(ids) - found


def baseline(url: str, project_id: str, cluster_id: str, threads: int,
             seconds: float) -> dict[str, Any]:
    """Raw INSERTs of the same rows, one per transaction, from ``threads`` threads."""
    marks = ",".join(["?" if url.startswith("sqlite") else "%s"] * len(COLUMNS))
    stmt = f"INSERT INTO jobs ({','.join(COLUMNS)}) VALUES ({marks})"
    latencies: list[float] = []
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def row() -> tuple[Any, ...]:
        now = time.time_ns() // 1_000_000
        return (str(uuid.uuid4()), project_id, cluster_id, "submit-baseline", "SparkSubmit",
                "bench", "default", '["--class", "Main", "app.jar"]', "{}", "ACCEPTED",
                "UNDEFINED", 0.0, now, None, None, 0, False, None)

    def worker() -> None:
        mine: list[float] = []
        if url.startswith("sqlite"):
            conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30,
                                        isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        else:
            conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                                   autocommit=True)
        with contextlib.closing(conn):
            while time.monotonic() < until:
                t = time.perf_counter_ns()
                conn.execute(stmt, row())
                mine.append((time.perf_counter_ns() - t) / 1e6)
        with lock:
            latencies.extend(mine)

    t0 = time.monotonic()
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 120)
    elapsed = time.monotonic() - t0
    return {"inserts": len(latencies), "per_s": r2(len(latencies) / elapsed),
            "latency_ms": summary(latencies)}


def measure(bench: Bench, backend: str, args: Any) -> dict[str, Any]:
    server = Server(bench.root, backend, {"MRSJOBS_MAX_RUNNING": "0"})
    bench.servers.append(server)
    with database_url(backend, server.data_dir) as url:
        if backend != "sqlite":
            server.overrides = {**server.overrides, "MRSJOBS_DATABASE_URL": url}
        server.start()
        assert server.proc is not None
        cpu0 = cpu_s(server.proc.pid)
        run = drive(server, args.clients, args.seconds)
        server_cpu = cpu_s(server.proc.pid) - cpu0
        # No goodbye: whatever was answered 202 must already be in the database.
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(30)
        server.proc = None
        missing = lost(url, run["accepted"])
        n = len(run["accepted"])
        per_s = n / run["elapsed_s"]
        log(f"{backend}: {n} accepted in {run['elapsed_s']:.1f}s = {per_s:.0f}/s, "
            f"{len(run['errors'])} errors, {missing} lost")
        base = baseline(url, server.project_id, server.cluster_id, args.clients,
                        args.baseline_seconds)
        log(f"{backend} baseline: {base['per_s']} inserts/s")
    lat = summary(run["latencies"])
    # The server is one Python process: how busy it was, and its cost per submit,
    # tell a CPU-bound server from one that waits (on a shared machine, too).
    return {"accepted": n, "per_s": r2(per_s), "latency_ms": lat,
            "server_cpu_util": r2(server_cpu / run["elapsed_s"]),
            "server_cpu_ms_per_submit": r2(server_cpu * 1000 / n) if n else None,
            "errors": len(run["errors"]), "first_errors": run["errors"][:3],
            "lost": missing, "baseline_raw_insert": base,
            "ratio_per_s_vs_baseline": ratio(per_s, base["per_s"]),
            "meets_target": per_s >= TARGET_PER_S and missing == 0 and not run["errors"]}


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=0, warmup=0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--backends", default="sqlite,postgresql")
    args = p.parse_args()
    emit_per_backend(
        "submit", args, measure,
        metric="accepted v2 submits per second, 202 latency (ms); jobs queue, none run",
        clients=args.clients,
        seconds=args.seconds,
        target={"per_s": TARGET_PER_S, "lost": 0},
    )


if __name__ == "__main__":
    main()

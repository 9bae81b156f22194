"""SQL jobs on the warm SQL engine against cold ``spark-sql``, in the same run.

Two servers with the real Spark tools: one runs SQL jobs on its warm engine (the
default), the other cold (``MRSJOBS_SQL_ENGINE=off``: one ``spark-sql`` JVM per job).
After one warm-up job on each:

- latency: ``select count(*) from range(1000)`` as a SparkSql job, submit call -> the
  job reads FINISHED (show polled ~2 ms apart); ``--samples`` on the warm engine,
  ``--cold-samples`` cold, interleaved;
- kill: a query that runs for minutes, kill call -> KILLED (``--kill-samples``);
- throughput: 20 SQL jobs submitted at once from 4 clients (threads with a client
  each), jobs/s from the first submit to the last FINISHED;
- the warm engine's resident memory once idle (its JVM's VmRSS).

    .venv/bin/python bench/sql.py [--samples 40] [--cold-samples 5] [--kill-samples 10]
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _harness import Bench, Server, emit, log, parser, run_context
from _harness import bench_workspace as workspace
from _stats import ratio, summary

# isort: split
from tests.fixtures.sql import LONG_QUERY

QUERY = "select count(*) from range(1000)"
ENGINE_MARKER = b"spark.mrsjobs.sqlEngine.home="
TARGETS = {"warm_p50_ms": 500.0, "warm_p99_ms": 1000.0, "kill_p50_ms": 100.0}


def timed_job(server: Server, client: httpx.Client, sql: str, name: str) -> float:
    """Submit -> FINISHED in ms (an error if it ends otherwise)."""
    t0 = time.monotonic()
    job_id = server.submit(client, [sql], name=name, job_type="SparkSql")
    done = server.wait_state(client, job_id, ("FINISHED", "FAILED", "KILLED"), timeout=300)
    took = (time.monotonic() - t0) * 1000
    if (done["job_state"], done["job_result"]) != ("FINISHED", "SUCCEEDED"):
        raise RuntimeError(f"{name}: {done['job_state']}/{done['job_result']}")
    return took


def kill_latency(server: Server, client: httpx.Client, i: int) -> float:
    job_id = server.submit(client, [LONG_QUERY], name=f"long{i}", job_type="SparkSql")
    server.wait_state(client, job_id, ("RUNNING",), timeout=300)
    t0 = time.monotonic()
    server.kill(client, job_id)
    done = server.wait_state(client, job_id, ("FINISHED", "FAILED", "KILLED"), timeout=120)
    took = (time.monotonic() - t0) * 1000
    if done["job_state"] != "KILLED":
        raise RuntimeError(f"kill: the job ended {done['job_state']}")
    return took


def concurrent(server: Server, jobs: int = 20, clients: int = 4) -> dict[str, Any]:
    """``jobs`` SQL jobs from ``clients`` threads at once; jobs/s to the last end."""
    errors: list[str] = []
    start = threading.Barrier(clients)
    t0: list[float] = []

    def one_client(k: int) -> None:
        with server.client() as client:
            start.wait()
            if k == 0:
                t0.append(time.monotonic())
            ids = [server.submit(client, [f"select {k} * count(*) from range({1000 + i})"],
                                 name=f"c{k}-{i}", job_type="SparkSql")
                   for i in range(jobs // clients)]
            for job_id in ids:
                done = server.wait_state(client, job_id, ("FINISHED", "FAILED", "KILLED"),
                                         timeout=300, interval=0.01)
                if done["job_result"] != "SUCCEEDED":
                    errors.append(job_id)

    threads = [threading.Thread(target=one_client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - t0[0]
    return {"jobs": jobs, "clients": clients, "seconds": round(elapsed, 2),
            "jobs_per_s": round(jobs / elapsed, 2), "failed": len(errors)}


def engine_rss_mb(server: Server) -> float | None:
    """Resident memory of the server's SQL engine JVM(s), in MiB."""
    marker = ENGINE_MARKER + str(server.data_dir.resolve()).encode()
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes()
            if marker not in args or not args.split(b"\0")[0].endswith(b"java"):
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1) if total else None


def main() -> None:
    p = parser(__doc__ or "", samples=40, warmup=1)
    p.add_argument("--cold-samples", type=int, default=5)
    p.add_argument("--kill-samples", type=int, default=10)
    args = p.parse_args()
    load = os.getloadavg()
    with workspace("sql", args) as bench:
        warm, cold = run(bench, args)
    emit({"bench": "sql", **warm, **cold, "targets": TARGETS, "context": run_context(load)})


def run(bench: Bench, args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    warm = bench.server("warm", sql_engine="on", max_running="20")
    cold = bench.server("cold", sql_engine="off", max_running="20")
    with warm.client() as wc, cold.client() as cc:
        t0 = time.monotonic()
        timed_job(warm, wc, QUERY, "first")
        log(f"first warm job (engine start) {time.monotonic() - t0:.1f}s")
        timed_job(cold, cc, QUERY, "first")  # the metastore's start
        for i in range(args.warmup):
            timed_job(warm, wc, QUERY, f"warmup{i}")
        warm_ms: list[float] = []
        cold_ms: list[float] = []
        every = max(1, args.samples // max(1, args.cold_samples))
        for i in range(args.samples):
            warm_ms.append(timed_job(warm, wc, QUERY, f"w{i}"))
            if i % every == 0 and len(cold_ms) < args.cold_samples:
                cold_ms.append(timed_job(cold, cc, QUERY, f"c{i}"))
                log(f"sample {i}: warm {warm_ms[-1]:.0f} ms, cold {cold_ms[-1]:.0f} ms")
        kills = [kill_latency(warm, wc, i) for i in range(args.kill_samples)]
        log(f"kill p50 {summary(kills).get('p50')} ms")
        throughput = concurrent(warm)
        log(f"20 jobs from 4 clients: {throughput}")
        time.sleep(2)  # let the engine settle before its idle memory is read
        rss = engine_rss_mb(warm)
    w, c = summary(warm_ms), summary(cold_ms)
    return ({"warm_submit_to_finished_ms": w, "kill_to_killed_ms": summary(kills),
             "concurrent": throughput, "engine_idle_rss_mb": rss},
            {"cold_submit_to_finished_ms": c,
             "speedup_p50": ratio(c.get("p50"), w.get("p50"))})


if __name__ == "__main__":
    main()

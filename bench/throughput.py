"""Throughput: N trivial jobs (a bash script that exits 0) through a server with
max_running=10, from the first submit to all N terminal.

The jobs are submitted as fast as the client can, from a few threads with a
keep-alive client each; after the last submit returns, the bench polls the list's
``total_record`` for ``job_state=FINISHED`` (every 100 ms, every 5 ms for the last 20
jobs; with a deadline). Reported: end-to-end jobs/s, the submit-only rate, and that
N/N ended FINISHED/SUCCEEDED, plus a timeline from the jobs' own submitted/started/
finished times (queue wait, run time, the average number of jobs running at once).

Baseline, before and after the service run: the same script started N times with
``subprocess.Popen`` from this process, at most 10 at a time.

    .venv/bin/python bench/throughput.py [--samples 500] [--threads 8]
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _harness import Server, Timeout, emit, log, parser, run_context, trivial_env, write_script
from _harness import bench_workspace as workspace
from _stats import median, r2, ratio, summary

TARGET_JOBS_PER_S = 100.0

EXIT0_SH = """#!/bin/bash
exit 0
"""


def baseline_run(script: Path, jobs: int, width: int, cwd: Path) -> dict[str, Any]:
    """Popen ``jobs`` times, at most ``width`` at once; refill as soon as one exits."""
    env = trivial_env()
    running: dict[int, subprocess.Popen[bytes]] = {}
    started = done = failures = 0
    t0 = time.perf_counter_ns()
    while done < jobs:
        while started < jobs and len(running) < width:
            proc = subprocess.Popen(
                [str(script), "--master", "local[2]", f"tp-{started}"], cwd=cwd, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running[proc.pid] = proc
            started += 1
        # Peek at whichever child exited without reaping it, then reap it through its Popen.
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        if info is None:
            continue
        exited = running.pop(info.si_pid, None)
        if exited is None:
            raise RuntimeError(f"an unexpected child {info.si_pid} exited during the baseline")
        failures += exited.wait() != 0
        done += 1
    elapsed_s = (time.perf_counter_ns() - t0) / 1e9
    return {"elapsed_ms": r2(elapsed_s * 1000), "jobs_per_s": r2(jobs / elapsed_s),
            "failures": failures}


def submit_all(server: Server, clients: list[httpx.Client], jobs: int,
               name: str) -> dict[str, Any]:
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[str] = []
    latencies: list[float] = []
    barrier = threading.Barrier(len(clients) + 1)

    def worker(client: httpx.Client) -> None:
        mine: list[float] = []
        barrier.wait()
        while True:
            with lock:
                k = next(counter)
            if k >= jobs:
                break
            t = time.perf_counter_ns()
            try:
                server.submit(client, [f"hdfs:///tp-{k}"], name=name)
            except Exception as exc:
                with lock:
                    errors.append(repr(exc))
            mine.append((time.perf_counter_ns() - t) / 1e6)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for t in threads:
        t.start()
    barrier.wait()
    t_first = time.perf_counter_ns()
    for t in threads:
        t.join(600)
    t_submitted = time.perf_counter_ns()
    return {"t_first": t_first, "t_submitted": t_submitted, "errors": errors,
            "submit_call_ms": latencies}


def all_jobs(server: Server, client: httpx.Client, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = server.list(client, job_name=name, limit=1000, offset=page, sort_by="asc")
        out.extend(body["job_list"])
        if len(out) >= body["total_record"] or not body["job_list"]:
            return out
        page += 1


def timeline(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the service's own timestamps say about where the time went (ms)."""
    sub = [j["submitted_time"] for j in jobs]
    started = [j for j in jobs if j["started_time"]]
    fin = [j["finished_time"] for j in jobs if j["finished_time"]]
    run = [j["finished_time"] - j["started_time"] for j in started if j["finished_time"]]
    span = (max(fin) - min(j["started_time"] for j in started)) if started and fin else 0
    # After the last submit the supervisor works alone: no API writes compete with it.
    last_sub = max(sub)
    after = [f for f in fin if f > last_sub]
    tail_ms = (max(fin) - last_sub) if fin else 0
    return {
        "submitted_span_ms": max(sub) - min(sub),
        "first_submitted_to_last_finished_ms": (max(fin) - min(sub)) if fin else None,
        "last_submitted_to_last_finished_ms": (max(fin) - max(sub)) if fin else None,
        "queue_wait_ms(started-submitted)": summary(
            [j["started_time"] - j["submitted_time"] for j in started]),
        "run_ms(finished-started)": summary(run),
        "avg_jobs_running": r2(sum(run) / span) if span else None,
        "service_jobs_per_s(first_started..last_finished)":
            r2(len(run) / (span / 1000)) if span else None,
        "finished_after_last_submit": len(after),
        "jobs_per_s_after_last_submit": r2(len(after) / (tail_ms / 1000)) if tail_ms else None,
        "queued_at_last_submit": sum(1 for j in jobs if not j["started_time"]
                                     or j["started_time"] > last_sub),
    }


def wait_finished(server: Server, client: httpx.Client, name: str, jobs: int,
                  deadline_s: float) -> None:
    """Poll the FINISHED count. A list call costs the server a few ms of CPU, so poll
    every 100 ms while many jobs remain and every 5 ms near the end (the end is then
    seen within ~5 ms, and the polling takes little from the service meanwhile)."""
    deadline = time.monotonic() + deadline_s
    while True:
        done = server.total(client, job_name=name, job_state="FINISHED")
        if done >= jobs:
            return
        if time.monotonic() > deadline:
            raise Timeout(f"{done}/{jobs} jobs FINISHED after {deadline_s}s")
        time.sleep(0.1 if jobs - done > 20 else 0.005)


def service_run(server: Server, jobs: int, threads: int, name: str,
                deadline_s: float) -> dict[str, Any]:
    clients = [server.client() for _ in range(threads)]
    try:
        for c in clients:  # open the keep-alive connections before the clock starts
            server.total(c, job_name=name)
        sub = submit_all(server, clients, jobs, name)
        poller = clients[0]
        try:
            wait_finished(server, poller, name, jobs, deadline_s)
            timed_out = False
        except Timeout as exc:
            log(str(exc))
            timed_out = True
        t_done = time.perf_counter_ns()
        counts = {state: server.total(poller, job_name=name, job_state=state)
                  for state in ("ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED")}
        succeeded = server.total(poller, job_name=name, job_state="FINISHED",
                                 job_result="SUCCEEDED")
        listed = all_jobs(server, poller, name)
    finally:
        for c in clients:
            c.close()
    total_s = (t_done - sub["t_first"]) / 1e9
    submit_s = (sub["t_submitted"] - sub["t_first"]) / 1e9
    return {
        "elapsed_ms": r2(total_s * 1000),
        "jobs_per_s": r2(jobs / total_s) if not timed_out else None,
        "submit_only_ms": r2(submit_s * 1000),
        "submit_only_jobs_per_s": r2(jobs / submit_s),
        "submit_call_ms": summary(sub["submit_call_ms"]),
        "submit_errors": len(sub["errors"]),
        "submit_error_examples": sub["errors"][:3],
        "timed_out": timed_out,
        "states": counts,
        "finished_succeeded": succeeded,
        "timeline": timeline(listed),
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=500, warmup=10)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--max-running", type=int, default=10)
    p.add_argument("--deadline", type=float, default=300.0,
                   help="seconds to wait for all jobs to finish (default 300)")
    args = p.parse_args()
    load0 = os.getloadavg()
    jobs, width = args.samples, args.max_running
    with workspace("throughput", args) as bench:
        script = write_script(bench.root / "exit0.sh", EXIT0_SH)
        work = bench.root / "baseline"
        work.mkdir()
        server = bench.server("svc", spark_submit=str(script), max_running=str(width))
        if args.warmup:
            warm = service_run(server, args.warmup, min(args.threads, args.warmup), "warmup",
                               deadline_s=60)
            log(f"warm-up: {args.warmup} jobs in {warm['elapsed_ms']} ms")
        baselines = [baseline_run(script, jobs, width, work)]
        log(f"baseline 1: {baselines[0]['jobs_per_s']} jobs/s")
        svc = service_run(server, jobs, args.threads, "tp", deadline_s=args.deadline)
        log(f"service: {svc['jobs_per_s']} jobs/s end to end, submit-only "
            f"{svc['submit_only_jobs_per_s']} jobs/s, states {svc['states']}")
        baselines.append(baseline_run(script, jobs, width, work))
        log(f"baseline 2: {baselines[1]['jobs_per_s']} jobs/s")
    base_rate = r2(median([b["jobs_per_s"] for b in baselines]))
    rate = svc["jobs_per_s"]
    all_ok = svc["finished_succeeded"] == jobs and svc["submit_errors"] == 0
    emit({
        "bench": "throughput",
        "context": run_context(load0),
        "metric": f"{jobs} trivial jobs, first submit -> all FINISHED (jobs/s), "
                  f"max_running={width}, {args.threads} submit threads",
        "jobs": jobs,
        "service": svc,
        "all_finished_succeeded": all_ok,
        "baseline_popen": {"jobs_per_s": base_rate, "runs": baselines},
        "ratio_jobs_per_s": ratio(rate, base_rate),
        "target": {"jobs_per_s": TARGET_JOBS_PER_S},
        "meets_target": bool(rate is not None and rate >= TARGET_JOBS_PER_S and all_ok),
    })


if __name__ == "__main__":
    main()

"""Two service instances on one PostgreSQL database: exactly-once launches and cross-instance kills.

Part 1: 2,000 trivial jobs submitted to both instances in turn (four submitting
threads); every job must reach FINISHED/SUCCEEDED and start exactly once (each job
appends its tag to a shared file as it starts; the bench counts the tags). Reports
how the launches split between the instances and the jobs/s end to end.

Part 2: kill latency through the instance that does NOT own the job, against the same
kill sent to the owner (the baseline, alternating sample by sample). Per sample: submit
a job that sleeps, wait until it runs, read its owner from the database, take t0 just
before the kill call, poll show on the instance that took the call until it reads
KILLED and no process of the job's group is left. Target: p99 <= 500 ms.

    .venv/bin/python bench/instances.py [--jobs 2000] [--samples 60] [--warmup 5]

Needs the PostgreSQL server (MRSJOBS_BENCH_POSTGRES_URL, default the local one); a
fresh database is created and dropped.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, text

from _harness import (
    Server,
    emit,
    log,
    parser,
    run_context,
    tree_left,
    wait_for,
    write_script,
)
from _harness import bench_workspace as workspace
from _load import postgres_database
from _stats import ms, ratio, summary

TARGET_P99_MS = 500.0

JOB_SH = """#!/bin/bash
# Stands in for spark-submit: "launches=DIR tag=X" leaves one file named for the tag
# and this launch in DIR (the cluster's file area, the one place a contained job may
# write that both instances and the bench see); "sleep=N" sleeps (as a child, so a
# SIGTERM to the group ends it at once).
for arg in "$@"; do
  case "$arg" in
    launches=*) launches="${arg#launches=}" ;;
    tag=*) : > "$launches/${arg#tag=}.$$.$RANDOM" ;;
    sleep=*) sleep "${arg#sleep=}" & wait $! ;;
  esac
done
"""


def run_jobs(servers: list[Server], url: str, launches: Path,
             count: int) -> dict[str, Any]:
    ids: list[str] = []
    lock = threading.Lock()

    def submitter(worker: int) -> None:
        clients = [s.client() for s in servers]
        try:
            for i in range(worker, count, 4):
                server = servers[i % 2]
                job_id = server.submit(clients[i % 2], [
                    "hdfs:///app", "launches=hdfs:///launches", f"tag={i}"],
                    name="instances")
                with lock:
                    ids.append(job_id)
        finally:
            for c in clients:
                c.close()

    db = create_engine(url)
    t0 = time.monotonic()
    threads = [threading.Thread(target=submitter, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submitted_s = time.monotonic() - t0

    def done() -> dict[str, int] | None:
        with db.connect() as conn:
            rows = conn.execute(text("SELECT state, result, count(*) FROM jobs GROUP BY 1, 2"))
            counts = {f"{s}/{r}": n for s, r, n in rows}
        finished = sum(n for k, n in counts.items() if k.split("/")[0] in
                       ("FINISHED", "FAILED", "KILLED"))
        return counts if finished >= count else None

    states = wait_for(done, timeout=600, interval=0.2, message="all jobs to end")
    elapsed = time.monotonic() - t0
    with db.connect() as conn:
        rows = conn.execute(text("SELECT owner, count(*) FROM jobs GROUP BY owner")).all()
        owners: dict[str | None, int] = {row[0]: row[1] for row in rows}
    db.dispose()
    started = collections.Counter(p.name.split(".")[0] for p in launches.iterdir()
                                  if not p.name.startswith("."))
    return {
        "jobs": count,
        "accepted": len(ids),
        "submit_s": round(submitted_s, 2),
        "all_done_s": round(elapsed, 2),
        "jobs_per_s": round(count / elapsed, 1),
        "final_states": states,
        "launched_once": sum(1 for n in started.values() if n == 1),
        "launched_twice_or_more": sum(1 for n in started.values() if n > 1),
        "never_launched": count - len(started),
        "launches_by_instance": sorted(owners.values(), reverse=True),
    }


def kill_sample(servers: list[Server], clients: list[httpx.Client], ids: dict[str, int],
                db: Engine, via_owner: bool) -> float:
    submit_to = servers[0]
    job_id = submit_to.submit(clients[0], ["hdfs:///app", "sleep=300"], name="victim")

    def running() -> tuple[str, str] | None:
        with db.connect() as conn:
            row = conn.execute(text("SELECT owner, run_root, started_ms FROM jobs WHERE id = :i"),
                               {"i": job_id}).one()
        return (row.owner, row.run_root) if row.started_ms is not None else None

    owner, run_root = wait_for(running, timeout=30, interval=0.005, message="the job to run")
    record = Path(run_root) / job_id / "pid.json"
    wait_for(record.exists, timeout=30, interval=0.005, message="pid.json")
    pgid = json.loads(record.read_text())["pgid"]
    target = ids[owner] if via_owner else 1 - ids[owner]
    server, client = servers[target], clients[target]
    t0 = time.time_ns()
    server.kill(client, job_id)
    wait_for(lambda: server.show(client, job_id)["job_state"] == "KILLED"
             and not tree_left(pgid, f"{run_root}/{job_id}"),
             timeout=30, interval=0.001, message=f"{job_id} KILLED")
    return ms(time.time_ns() - t0)


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=60, warmup=5)
    p.add_argument("--jobs", type=int, default=2000)
    args = p.parse_args()
    load0 = os.getloadavg()
    with workspace("instances", args) as bench, postgres_database() as url:
        script = write_script(bench.root / "job.sh", JOB_SH)
        settings = {"database_url": url, "spark_submit": str(script), "max_running": "20",
                    "hive_metastore": "false", "kill_grace_s": "5",
                    # instances of one database share the server key
                    "secret_key": Fernet.generate_key().decode()}
        servers = [bench.server(name, **settings) for name in ("a", "b")]
        ids = {(s.data_dir / "instance-id").read_text().strip(): n
               for n, s in enumerate(servers)}
        # One file area for both instances: a cluster whose files root they share.
        shared = bench.root / "shared"
        made = json.loads(servers[0].cli(
            "cluster", "create", "--project", servers[0].project_id, "--name", "shared",
            "--files-root", str(shared), "--json"))
        for server in servers:
            server.cluster_id = made["id"]
        # Made through the files route: owned as the project's jobs need it.
        with servers[0].client() as client:
            servers[0].put(client, "/launches/.made", b"")
        launches = shared / "launches"
        log(f"part 1: {args.jobs} jobs through both instances")
        part1 = run_jobs(servers, url, launches, args.jobs)
        log(f"part 1: {part1}")
        db = create_engine(url)
        via_other: list[float] = []
        via_owner: list[float] = []
        clients = [s.client() for s in servers]
        try:
            for i in range(args.warmup + args.samples):
                order = (False, True) if i % 2 == 0 else (True, False)
                for owner_side in order:
                    latency = kill_sample(servers, clients, ids, db, owner_side)
                    if i >= args.warmup:
                        (via_owner if owner_side else via_other).append(latency)
                if (i + 1) % 20 == 0:
                    log(f"{i + 1} kill pairs")
        finally:
            for c in clients:
                c.close()
            db.dispose()
        other, owner = summary(via_other), summary(via_owner)
        emit({
            "bench": "instances",
            "context": run_context(load0),
            "part1_exactly_once": part1,
            "metric": "kill call -> KILLED on the called instance, process group gone (ms)",
            "samples": len(via_other),
            "kill_via_other_instance": other,
            "baseline_kill_via_owner": owner,
            "ratio_p50": ratio(other.get("p50"), owner.get("p50")),
            "ratio_p99": ratio(other.get("p99"), owner.get("p99")),
            "target": {"p99_ms": TARGET_P99_MS},
            "meets_target": (other.get("p99", 1e9) <= TARGET_P99_MS
                             and part1["launched_twice_or_more"] == 0
                             and part1["never_launched"] == 0),
        })


if __name__ == "__main__":
    main()

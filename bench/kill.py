"""Kill latency: "kill call -> job reads KILLED with its whole process tree gone".

Part 1, a process tree that honours SIGTERM: a bash script that starts a child shell
(itself with a ``sleep`` child, the job's grandchild) and a ``sleep``, and waits. Two
services take turns with the baseline: one that contains its jobs (the default as root:
per-project user, network namespace, sandbox) and one with ``MRSJOBS_ISOLATION=off``.
Per sample: submit, wait until the job is RUNNING and its four processes exist (the
process group from the run directory's pid.json, members from /proc), take t0 just
before the kill call, then poll show (~1 ms apart) until the job reads KILLED and no
live process of its group (or working in its run directory) is left; latency = the
moment both hold - t0. Baseline, alternating sample by sample: the same tree started
with ``Popen(start_new_session=True)``, ``os.killpg(pgid, SIGTERM)``, wait until the
group is gone.

Part 2 (``--spark``, the default; ``--no-spark`` skips it): a real PySpark local job
through the real spark-submit (a server with the default tools). The app builds a
SparkSession, runs a tiny action, writes a marker file and sleeps; the bench waits
for the marker, kills, and measures to KILLED with nothing left. Baseline: the same
spark-submit command line, started with Popen in its own session and killpg'd
(SIGTERM, SIGKILL after the same grace period as the service's).

    .venv/bin/python bench/kill.py [--samples 60] [--warmup 5] [--no-spark]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from _harness import (
    TERMINAL_STATES,
    Bench,
    Server,
    Timeout,
    emit,
    group_members,
    log,
    parser,
    pids_gone,
    run_context,
    take_turns,
    tree_left,
    trivial_env,
    wait_for,
    write_script,
)
from _harness import bench_workspace as workspace
from _stats import medians, ms, r2, ratio, summary

TARGET_P50_MS = 30.0
TARGET_P99_MS = 100.0

TREE_SH = """#!/bin/bash
# A job tree that honours SIGTERM: this shell, a child shell with a sleep of its
# own (a grandchild), and a sleep. Four processes in one group.
bash -c 'sleep 300 & wait' &
sleep 300 &
wait
"""
TREE_SIZE = 4

SPARK_APP = """
import os
import sys
import time

from pyspark.sql import SparkSession

marker = sys.argv[-1]
spark = SparkSession.builder.master("local[1]").appName("mrsjobs-bench-kill").getOrCreate()
total = spark.range(1000).selectExpr("sum(id) AS s").collect()[0]["s"]
with open(marker + ".tmp", "w") as f:
    f.write(str(total))
os.replace(marker + ".tmp", marker)
time.sleep(600)
"""
SPARK_GRACE_S = 5.0  # the service's default MRSJOBS_KILL_GRACE_S


def now() -> int:
    return time.perf_counter_ns()


def wait_gone(pgid: int, members: Sequence[int], under: str, timeout: float,
              observe: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Poll until the tree is gone and ``observe()`` (e.g. "show reads KILLED") holds.

    Each round: a cheap check of the known members (/proc/<pid>/stat), then
    ``observe()``. Once the members are gone a full /proc sweep (group, or working
    directory under ``under``) confirms it; then both conditions hold from the later
    of the two moments. Times in perf_counter ns.
    """
    deadline = time.monotonic() + timeout
    watch = list(members)
    t_gone: int | None = None
    t_seen: int | None = None
    live_after_seen = 0
    while True:
        if t_gone is None:
            if pids_gone(watch, pgid):
                t_check = now()
                left = tree_left(pgid, under)
                if left:  # something we did not know of: watch it too
                    watch.extend(p for p in left if p not in watch)
                else:
                    t_gone = t_check
            elif t_seen is not None:
                live_after_seen += 1  # the service said KILLED, yet the tree is alive
        if t_seen is None and (observe is None or observe()):
            t_seen = now()
        if t_gone is not None and t_seen is not None:
            t_end = t_gone if observe is None else max(t_gone, t_seen)
            return {"t_end": t_end, "t_gone": t_gone, "t_seen": t_seen,
                    "live_after_seen": live_after_seen}
        if time.monotonic() > deadline:
            raise Timeout(f"tree of group {pgid} not gone after {timeout}s "
                          f"(left: {tree_left(pgid, under)}, observed: {t_seen is not None})")
        time.sleep(0.001)


# -- part 1: a trivial tree -------------------------------------------------------------


def service_tree_sample(server: Server, client: httpx.Client, i: int) -> dict[str, Any]:
    job_id = server.submit(client, [f"hdfs:///tree-{i}"], name="kill")
    rec = wait_for(lambda: server.pid_record(job_id), timeout=20, interval=0.001,
                   message="pid.json")
    pgid = rec["pgid"]
    # A contained job's group also holds its sandbox (bubblewrap and its init).
    size = TREE_SIZE + (2 if rec.get("sandboxed") else 0)
    members = wait_for(lambda: m if len(m := group_members(pgid)) >= size else None,
                       timeout=20, interval=0.001, message=f"the tree of {job_id}")
    server.wait_state(client, job_id, {"RUNNING"}, timeout=20)
    run_dir = server.run_dir(job_id)
    show_ms: list[float] = []

    def killed() -> bool:
        t = now()
        detail = server.show(client, job_id)
        show_ms.append(ms(now() - t))
        if detail["job_state"] in TERMINAL_STATES and detail["job_state"] != "KILLED":
            raise RuntimeError(f"job {job_id} ended {detail['job_state']} instead of KILLED")
        return bool(detail["job_state"] == "KILLED")

    t0_wall = time.time_ns()
    t0 = now()
    server.kill(client, job_id)
    t_kill = now()
    r = wait_gone(pgid, members, str(run_dir.resolve()), timeout=30, observe=killed)
    exit_rec = server.exit_record(job_id) or {}
    return {
        "job_id": job_id,
        "latency": ms(r["t_end"] - t0),
        "kill_call": ms(t_kill - t0),
        "show_call": show_ms,
        "live_after_killed": r["live_after_seen"],
        "t0_wall_ms": t0_wall / 1e6,
        "killed_seen_wall_ms": (t0_wall + r["t_seen"] - t0) / 1e6,
        "group_seen_gone_ms": ms(r["t_gone"] - t0),
        "exit": {"exit_code": exit_rec.get("exit_code"), "signal": exit_rec.get("signal")},
    }


def kill_phases(sample: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, float | None]:
    """Where a kill's time went, from the store's own timestamps (ms, wall clock)."""
    t0 = sample["t0_wall_ms"]
    req, sig, end = row["kill_requested_ms"], row["kill_signalled_ms"], row["finished_ms"]
    return {
        "kill_call(http)": sample["kill_call"],
        "t0_to_kill_requested_ms": req - t0 if req else None,
        "kill_requested_to_signalled": sig - req if sig and req else None,
        "signalled_to_main_process_ended(finished_ms)": end - sig if end and sig else None,
        "main_ended_to_killed_seen": sample["killed_seen_wall_ms"] - end if end else None,
        "t0_to_group_seen_gone": sample["group_seen_gone_ms"],
        "t0_to_killed_seen": sample["killed_seen_wall_ms"] - t0,
    }


def baseline_tree_sample(bench: Bench, script: Path, i: int) -> dict[str, Any]:
    cwd = bench.root / "baseline" / f"tree-{i}"
    cwd.mkdir(parents=True)
    proc = bench.track(subprocess.Popen(
        [str(script), f"tree-{i}"], cwd=cwd, env=trivial_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    pgid = proc.pid
    members = wait_for(lambda: m if len(m := group_members(pgid)) >= TREE_SIZE else None,
                       timeout=20, interval=0.001, message="the baseline tree")
    t0 = now()
    os.killpg(pgid, signal.SIGTERM)
    r = wait_gone(pgid, members, str(cwd), timeout=30)
    proc.wait(10)
    return {"latency": ms(r["t_end"] - t0), "returncode": proc.returncode}


def tree_part(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    script = write_script(bench.root / "tree.sh", TREE_SH)
    servers = {"svc": bench.server("tree", spark_submit=str(script)),
               "off": bench.server("tree-off", spark_submit=str(script), isolation="off")}
    clients = {k: v.client() for k, v in servers.items()}
    try:
        samples = take_turns({
            "svc": lambda i: service_tree_sample(servers["svc"], clients["svc"], i),
            "off": lambda i: service_tree_sample(servers["off"], clients["off"], i),
            "base": lambda i: baseline_tree_sample(bench, script, i),
        }, args.samples, args.warmup, "tree")
    finally:
        for client in clients.values():
            client.close()
    service, baseline = samples["svc"], samples["base"]
    rows = servers["svc"].db_jobs(s["job_id"] for s in service)
    for server in servers.values():
        server.stop()
    phases = [kill_phases(s, rows[s["job_id"]]) for s in service]
    svc = summary([s["latency"] for s in service])
    off = summary([s["latency"] for s in samples["off"]])
    base = summary([b["latency"] for b in baseline])
    exits: dict[str, int] = {}
    for s in service:
        key = f"exit_code={s['exit']['exit_code']},signal={s['exit']['signal']}"
        exits[key] = exits.get(key, 0) + 1
    return {
        "samples": len(service),
        "warmup": args.warmup,
        "service": svc,
        "service_uncontained": off,
        "containment_cost_p50_ms": r2(svc["p50"] - off["p50"]) if service else None,
        "ratio_contained_to_uncontained_p50": ratio(svc.get("p50"), off.get("p50")),
        "service_kill_call": summary([s["kill_call"] for s in service]),
        "service_show_call": summary([x for s in service for x in s["show_call"]]),
        "service_phases_p50": medians(phases),
        "service_exit_records": exits,
        "service_killed_while_tree_alive": sum(1 for s in service if s["live_after_killed"]),
        "baseline_killpg": base,
        "ratio_p50": ratio(svc.get("p50"), base.get("p50")),
        "ratio_p90": ratio(svc.get("p90"), base.get("p90")),
        "ratio_p99": ratio(svc.get("p99"), base.get("p99")),
        "diff_p50_ms": r2(svc["p50"] - base["p50"]) if service and baseline else None,
        "target": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
        "meets_target": (svc.get("p50", 1e9) <= TARGET_P50_MS
                         and svc.get("p99", 1e9) <= TARGET_P99_MS),
    }


# -- part 2: real Spark ---------------------------------------------------------------


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyspark is not installed in this interpreter")
    return Path(spec.origin).parent


def spark_env() -> dict[str, str]:
    """What the service's local cluster adds to the environment of a Spark job."""
    env = trivial_env()
    env.update({"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(spark_home()),
                "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable})
    return env


def spark_argv(app: Path, marker: Path) -> list[str]:
    """The command line the service builds for ``SparkSubmit [app, marker]``."""
    conf = {"spark.driver.memory": "512m", "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false"}
    confs = [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")]
    return [str(spark_home() / "bin" / "spark-submit"), "--master", "local[2]", *confs,
            str(app), str(marker)]


def wait_marker(marker: Path, failed: Callable[[], str | None], timeout: float = 240) -> None:
    def ready() -> bool:
        if marker.exists():
            return True
        why = failed()
        if why:
            raise RuntimeError(f"the Spark app ended before its marker: {why}")
        return False

    wait_for(ready, timeout=timeout, interval=0.05, message=f"marker {marker.name}")


def service_spark_sample(server: Server, client: httpx.Client, app: str,
                         name: str) -> dict[str, Any]:
    marker = server.area(name)
    t_submit = now()
    job_id = server.submit(client, [app, f"hdfs:///{name}"], name="kill-spark")
    run_dir = server.run_dir(job_id)

    def failed() -> str | None:
        rec = server.exit_record(job_id)
        if rec is None:
            return None
        err = (run_dir / "stderr.log").read_text(errors="replace")[-2000:]
        return f"{rec}\n{err}"

    wait_marker(marker, failed)
    t_ready = now()
    rec = server.pid_record(job_id)
    assert rec is not None
    pgid = rec["pgid"]
    members = group_members(pgid)
    server.wait_state(client, job_id, {"RUNNING"}, timeout=10)
    state: dict[str, Any] = {}

    def killed() -> bool:
        detail = server.show(client, job_id)
        state["detail"] = detail
        if detail["job_state"] in TERMINAL_STATES and detail["job_state"] != "KILLED":
            raise RuntimeError(f"job {job_id} ended {detail['job_state']} instead of KILLED")
        return bool(detail["job_state"] == "KILLED")

    t0_wall = time.time_ns()
    t0 = now()
    server.kill(client, job_id)
    r = wait_gone(pgid, members, str(run_dir.resolve()), timeout=60, observe=killed)
    detail = state["detail"]
    exit_rec = server.exit_record(job_id) or {}
    return {
        "latency": ms(r["t_end"] - t0),
        "startup_s": round((t_ready - t_submit) / 1e9, 2),
        "members": len(members),
        "t0_to_group_seen_gone": r2(ms(r["t_gone"] - t0)),
        "t0_to_finished_time": r2(detail["finished_time"] - t0_wall / 1e6),
        "live_after_killed": r["live_after_seen"],
        "exit": {"exit_code": exit_rec.get("exit_code"), "signal": exit_rec.get("signal")},
    }


def baseline_spark_sample(bench: Bench, app: Path, i: int) -> dict[str, Any]:
    cwd = bench.root / "baseline" / f"spark-{i}"
    cwd.mkdir(parents=True)
    marker = cwd / "marker"
    t_start = now()
    with open(cwd / "stdout.log", "wb") as out, open(cwd / "stderr.log", "wb") as err:
        proc = bench.track(subprocess.Popen(
            spark_argv(app, marker), cwd=cwd, env=spark_env(), stdin=subprocess.DEVNULL,
            stdout=out, stderr=err, start_new_session=True))

    def failed() -> str | None:
        if proc.poll() is None:
            return None
        return f"exit {proc.returncode}\n{(cwd / 'stderr.log').read_text()[-2000:]}"

    wait_marker(marker, failed)
    t_ready = now()
    pgid = proc.pid
    members = group_members(pgid)
    t0 = now()
    os.killpg(pgid, signal.SIGTERM)
    forced = False
    try:
        r = wait_gone(pgid, members, str(cwd), timeout=SPARK_GRACE_S)
    except Timeout:
        forced = True
        with_left = tree_left(pgid, str(cwd))
        log(f"baseline Spark tree still alive {SPARK_GRACE_S}s after SIGTERM "
            f"({len(with_left)} processes): SIGKILL")
        os.killpg(pgid, signal.SIGKILL)
        r = wait_gone(pgid, members, str(cwd), timeout=30)
    proc.wait(10)
    return {
        "latency": ms(r["t_end"] - t0),
        "startup_s": round((t_ready - t_start) / 1e9, 2),
        "members": len(members),
        "sigkill_needed": forced,
        "returncode": proc.returncode,
    }


def spark_part(bench: Bench, samples: int) -> dict[str, Any]:
    app = bench.root / "spark_app.py"
    app.write_text(SPARK_APP)
    server = bench.server("spark")  # the real spark-submit, default settings
    service: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    with server.client() as client:
        area_app = server.put(client, "/spark_app.py", SPARK_APP.encode())
        for i in range(samples):
            order = ("svc", "base") if i % 2 == 0 else ("base", "svc")
            for side in order:
                if side == "svc":
                    s = service_spark_sample(server, client, area_app, f"spark-marker-{i}")
                    service.append(s)
                    log(f"spark service sample {i + 1}: start {s['startup_s']}s, kill "
                        f"{r2(s['latency'])} ms, exit {s['exit']}")
                else:
                    b = baseline_spark_sample(bench, app, i)
                    baseline.append(b)
                    log(f"spark baseline sample {i + 1}: start {b['startup_s']}s, kill "
                        f"{r2(b['latency'])} ms, returncode {b['returncode']}")
    server.stop()
    svc = summary([s["latency"] for s in service])
    base = summary([b["latency"] for b in baseline])
    return {
        "samples": len(service),
        "service": svc,
        "baseline_killpg": base,
        "ratio_p50": ratio(svc.get("p50"), base.get("p50")),
        "service_runs": [{**s, "latency": r2(s["latency"])} for s in service],
        "baseline_runs": [{**b, "latency": r2(b["latency"])} for b in baseline],
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=60, warmup=5)
    p.add_argument("--spark", action=argparse.BooleanOptionalAction, default=True,
                   help="also kill a real PySpark job (default on)")
    p.add_argument("--spark-samples", type=int, default=3)
    args = p.parse_args()
    load0 = os.getloadavg()
    with workspace("kill", args) as bench:
        tree = tree_part(bench, args)
        spark = spark_part(bench, args.spark_samples) if args.spark else None
    emit({
        "bench": "kill",
        "context": run_context(load0),
        "metric": "kill call -> job reads KILLED and its whole process tree is gone (ms)",
        **tree,
        "spark": spark,
    })


if __name__ == "__main__":
    main()

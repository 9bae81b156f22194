"""Dispatch latency: "submit call returned -> job process started".

The job is a tiny bash script that appends ``$EPOCHREALTIME`` to the file named in
its last argument. Per sample the bench submits a SparkSubmit job whose argument is a
fresh stamp path in the cluster's file area (``hdfs:///<stamp>``; the service runs
``<script> --master local[2] --conf ... <local path>``),
takes t0 right after the HTTP response arrives and waits for the stamp; latency =
stamp - t0. It can be <= 0 when the job started before the response arrived; it is
kept as measured, and "submit call start -> process started" is reported too.

Two services, in the same run and taking turns sample by sample with the baseline: one
that contains its jobs (per-project user, network namespace and sandbox, the default
as root) and one with ``MRSJOBS_ISOLATION=off``, so the cost of containment is the
difference. Baseline: the same script started with ``subprocess.Popen`` from this
process (t0 just before it).

Each service sample waits for its job to end before the next one starts. The
service's own timestamps (submitted_time, pid.json started_ms) split the latency
into phases.

    .venv/bin/python bench/dispatch.py [--samples 200] [--warmup 20]
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from _harness import (
    TERMINAL_STATES,
    Server,
    emit,
    parse_epochrealtime,
    parser,
    run_context,
    take_turns,
    trivial_env,
    wait_for,
    write_script,
)
from _harness import bench_workspace as workspace
from _stats import medians, ms, r2, ratio, summary

TARGET_P50_MS = 15.0
TARGET_P99_MS = 50.0

STAMP_SH = """#!/bin/bash
# Appends the time it runs at to the file named in its last argument.
printf '%s\\n' "$EPOCHREALTIME" >> "${!#}"
"""


def read_stamp(path: Path, timeout: float = 20.0) -> int:
    """The stamp's wall-clock time in ns, once the script has written it whole."""
    def done() -> bytes | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return data if data.endswith(b"\n") else None

    return parse_epochrealtime(
        wait_for(done, timeout=timeout, interval=0.0005, message=f"stamp {path.name}")
        .decode())


TRACED_FILES = ("launch.json", "stdout.log", "pid.json")


def trace_run_dir(run_dir: Path, stamp: Path, timeout: float = 20.0) -> dict[str, int]:
    """Busy-poll (no sleep) for the run directory's files and the stamp; wall ns at which
    each was first seen. A diagnostic: the spinning costs the service a core."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while "stamp" not in seen:
        for name in TRACED_FILES:
            if name not in seen and (run_dir / name).exists():
                seen[name] = time.time_ns()
        try:
            if stamp.read_bytes().endswith(b"\n"):
                seen["stamp"] = time.time_ns()
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"trace of {run_dir.name}: {seen}")
    return seen


def service_sample(server: Server, client: httpx.Client, name: str,
                   trace: bool = False) -> dict[str, Any]:
    stamp = server.area(name)
    t_call = time.time_ns()
    job_id = server.submit(client, [f"hdfs:///{name}"], name="dispatch")
    t0 = time.time_ns()
    seen = trace_run_dir(server.run_dir(job_id), stamp) if trace else {}
    t_stamp = read_stamp(stamp)
    # Let the job end (exit.json) before the next sample, so samples do not overlap.
    wait_for(lambda: server.exit_record(job_id), timeout=20, interval=0.001,
             message=f"exit.json of {job_id}")
    detail = server.wait_state(client, job_id, TERMINAL_STATES, timeout=20)
    rec = server.pid_record(job_id) or {}
    submitted = detail["submitted_time"]
    started = rec.get("started_ms")
    phases: dict[str, float | None] = {
        # From the service's own wall-clock timestamps (ms resolution).
        "call_start_to_submitted_time": submitted - t_call / 1e6,
        "submitted_time_to_response": t0 / 1e6 - submitted,
        "submitted_time_to_pid_json_started_ms":
            None if started is None else started - submitted,
        "pid_json_started_ms_to_stamp": None if started is None else t_stamp / 1e6 - started,
    }
    if trace:
        # When each file was first seen by the busy-polling bench (launch.json is
        # written by the engine before it hands the job to the zygote, stdout.log by
        # the shim before Popen, pid.json by the shim after Popen returned).
        for name in TRACED_FILES:
            phases[f"trace:submitted_time_to_{name}_seen"] = (
                seen[name] / 1e6 - submitted if name in seen else None)
        phases["trace:submitted_time_to_stamp"] = t_stamp / 1e6 - submitted
    return {
        "latency": ms(t_stamp - t0),
        "from_call_start": ms(t_stamp - t_call),
        "submit_call": ms(t0 - t_call),
        "ok": detail["job_state"] == "FINISHED" and detail["job_result"] == "SUCCEEDED",
        "phases": phases,
    }


def baseline_sample(script: Path, stamp: Path, cwd: Path) -> dict[str, Any]:
    env = trivial_env()
    t0 = time.time_ns()
    proc = subprocess.Popen([str(script), "--master", "local[2]", str(stamp)], cwd=cwd,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t_stamp = read_stamp(stamp)
    proc.wait(20)
    return {"latency": ms(t_stamp - t0), "ok": proc.returncode == 0}


def main() -> None:
    p = parser(__doc__.splitlines()[0], samples=200, warmup=20)
    p.add_argument("--trace", action="store_true",
                   help="diagnostic: busy-poll the run directory to time the launch phases "
                        "(costs the service a core; do not compare its latency)")
    args = p.parse_args()
    load0 = os.getloadavg()
    with workspace("dispatch", args) as bench:
        script = write_script(bench.root / "stamp.sh", STAMP_SH)
        stamps = bench.root / "stamps"
        stamps.mkdir()
        servers = {"svc": bench.server("svc", spark_submit=str(script)),
                   "off": bench.server("off", spark_submit=str(script), isolation="off")}
        clients = {k: v.client() for k, v in servers.items()}

        def stamp(side: str, i: int) -> str:
            return f"{side}-{i}"

        try:
            samples = take_turns({
                "svc": lambda i: service_sample(servers["svc"], clients["svc"],
                                                stamp("svc", i), args.trace),
                "off": lambda i: service_sample(servers["off"], clients["off"],
                                                stamp("off", i), args.trace),
                "base": lambda i: baseline_sample(script, stamps / stamp("base", i),
                                                  bench.root),
            }, args.samples, args.warmup, "dispatch", every=50)
        finally:
            for client in clients.values():
                client.close()

        service, baseline = samples["svc"], samples["base"]
        svc = summary([s["latency"] for s in service])
        off = summary([s["latency"] for s in samples["off"]])
        base = summary([b["latency"] for b in baseline])
        meets = (svc.get("p50", 1e9) <= TARGET_P50_MS and svc.get("p99", 1e9) <= TARGET_P99_MS)
        emit({
            "bench": "dispatch",
            "context": run_context(load0),
            "trace_mode": args.trace,
            "metric": "submit call returned -> job process started (ms), jobs contained",
            "samples": len(service),
            "warmup": args.warmup,
            "service": svc,
            "service_from_submit_call_start": summary([s["from_call_start"] for s in service]),
            "service_submit_call": summary([s["submit_call"] for s in service]),
            "service_started_before_response": sum(1 for s in service if s["latency"] <= 0),
            "service_phases_p50": medians(s["phases"] for s in service),
            "service_uncontained": off,
            "containment_cost_p50_ms": (r2(svc["p50"] - off["p50"])
                                        if service and samples["off"] else None),
            "ratio_contained_to_uncontained_p50": ratio(svc.get("p50"), off.get("p50")),
            "baseline_popen": base,
            "ratio_p50": ratio(svc.get("p50"), base.get("p50")),
            "ratio_p90": ratio(svc.get("p90"), base.get("p90")),
            "ratio_p99": ratio(svc.get("p99"), base.get("p99")),
            "diff_p50_ms": r2(svc["p50"] - base["p50"]) if service and baseline else None,
            "jobs_not_succeeded": sum(1 for s in service if not s["ok"]),
            "baseline_failures": sum(1 for b in baseline if not b["ok"]),
            "target": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
            "meets_target": meets,
        })


if __name__ == "__main__":
    main()

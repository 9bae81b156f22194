"""Restart recovery: ``kill -9`` of the service never loses, doubles or orphans a job."""

from __future__ import annotations

import collections
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mrsjobs.engines.local.engine import process_alive
from mrsjobs.store import Store
from tests.support.procs import processes_with
from tests.support.server import FAKE_TOOL, Server
from tests.support.waiting import wait_for

#: The application: a name in the cluster's file area (the stand-in for Spark ignores it).
APP = "hdfs:///app.py"
#: Where the stand-in records each start: a file in the cluster's file area (jobs may
#: write only there), read back through :meth:`Server.area_path`.
LAUNCHES = "launches=hdfs:///launches"


def spark(name: str, *args: str) -> dict[str, Any]:
    return {"job_type": "SparkSubmit", "job_name": name, "arguments": [APP, *args]}


def launches(path: Path) -> collections.Counter[str]:
    """How many times each tagged job started (the fake tool appends a line per start)."""
    if not path.exists():
        return collections.Counter()
    return collections.Counter(
        arg for line in path.read_text().splitlines() for arg in line.split()
        if arg.startswith("tag="))


def wait_launched(server: Server, c: httpx.Client, job_id: str,
                  timeout: float = 30) -> dict[str, Any]:
    """The job once launched (its process has started), not only claimed: a claimed
    job reads RUNNING already, and a project's first job may first wait seconds for
    the project's OS user."""
    return wait_for(lambda: (j := server.job(c, job_id))["started_time"] > 0 and j,
                    timeout=timeout, message=f"{job_id} to be launched")


def crash(server: Server) -> None:
    """SIGKILL the service alone: its jobs, in their own sessions, keep running."""
    server.stop(signal.SIGKILL)


def restartable(server_factory: Callable[..., Server], **settings: str) -> Server:
    return server_factory(spark_submit=str(FAKE_TOOL), spark_sql=str(FAKE_TOOL),
                          hive_metastore="false", kill_grace_s="2",
                          poll_interval_s="0.2", **settings)


def test_restart_reattaches_and_records_real_exit_codes(
        server_factory: Callable[..., Server]) -> None:
    server = restartable(server_factory)
    with server.client() as c:
        ends_meanwhile = server.submit(c, spark("meanwhile", "sleep=1", "exit=3"))
        keeps_running = server.submit(c, spark("long", "sleep=3", "exit=4"))
        wait_launched(server, c, ends_meanwhile)
        wait_launched(server, c, keeps_running)
    crash(server)
    # The first ends while no service is up: only its shim's records know how.
    wait_for(lambda: (server.data_dir / "runs" / ends_meanwhile / "exit.json").exists(),
             timeout=10, message="the job to end while the service is down")
    server.start()
    with server.client() as c:
        first = server.wait_state(c, ends_meanwhile, "FINISHED")
        second = server.wait_state(c, keeps_running, "FINISHED", timeout=15)
    assert first["job_result"] == "FAILED"
    assert second["job_result"] == "FAILED"
    store = Store(f"sqlite:///{server.data_dir / 'mrsjobs.db'}")
    assert (store.job(ends_meanwhile).exit_code, store.job(keeps_running).exit_code) == (3, 4)
    store.close()


def test_kill_accepted_before_a_crash_is_completed_after_restart(
        server_factory: Callable[..., Server]) -> None:
    server = restartable(server_factory)
    with server.client() as c:
        job_id = server.submit(c, spark("victim", "sleep=60"))
        wait_launched(server, c, job_id)
    crash(server)
    # What the kill route stores before it answers, with the crash right after it.
    store = Store(f"sqlite:///{server.data_dir / 'mrsjobs.db'}")
    store.request_kill(job_id, "alice", project_id=server.project_id,
                       cluster_id=server.cluster_id)
    store.close()
    assert processes_with(str(server.data_dir / "runs" / job_id)), "still running"
    server.start()
    with server.client() as c:
        job = server.wait_state(c, job_id, "KILLED", timeout=15)
    assert job["job_result"] == "KILLED"
    assert processes_with(str(server.data_dir / "runs" / job_id)) == []


def test_queued_jobs_launch_exactly_once_across_a_crash(
        server_factory: Callable[..., Server]) -> None:
    server = restartable(server_factory, max_running="2")
    record = server.area_path("launches")
    with server.client() as c:
        ids = [server.submit(c, spark(f"q{i}", LAUNCHES, f"tag={i}", "sleep=1"))
               for i in range(6)]
        wait_for(lambda: launches(record), message="a first job to start")
    crash(server)
    server.start()
    with server.client() as c:
        jobs = [server.wait_state(c, i, "FINISHED", timeout=30) for i in ids]
    assert [j["job_result"] for j in jobs] == ["SUCCEEDED"] * 6
    assert launches(record) == {f"tag={i}": 1 for i in range(6)}


def test_a_job_whose_process_is_gone_is_failed_with_the_reason(
        server_factory: Callable[..., Server]) -> None:
    server = restartable(server_factory)
    with server.client() as c:
        job_id = server.submit(c, spark("vanishes", "sleep=60"))
        server.wait_state(c, job_id, "RUNNING")
    run_dir = server.data_dir / "runs" / job_id
    # RUNNING is recorded once the shim is spawned; it writes pid.json a moment later.
    wait_for(lambda: (run_dir / "pid.json").exists(), message="the shim's pid record")
    crash(server)
    # The host "rebooted": the job and its shim are gone without a trace.
    record = json.loads((run_dir / "pid.json").read_text())
    os.kill(record["shim_pid"], signal.SIGKILL)
    os.killpg(record["pgid"], signal.SIGKILL)
    wait_for(lambda: processes_with(str(run_dir)) == [] and not process_alive(
        record["shim_pid"]), message="the job's processes to die")
    assert not (run_dir / "exit.json").exists()
    server.start()
    with server.client() as c:
        job = server.wait_state(c, job_id, "FAILED", timeout=15)
    assert job["job_result"] == "FAILED"
    store = Store(f"sqlite:///{server.data_dir / 'mrsjobs.db'}")
    assert store.job(job_id).diagnostics == "the job's process was lost"
    store.close()

"""Jobs on a Spark standalone cluster, end to end: a cluster made with ``mrsjobs cluster
create`` pointing at the namespaced master, JVM jobs submitted through the v2 API whose
drivers run on its workers, to success and to a kill the master confirms, and a service
SIGKILLed while its drivers run that finds them again when restarted."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mrsjobs.engines.spark_standalone.rest import DriverState, SparkRest
from mrsjobs.supervisor.loop import KILL_GATE_ENV
from tests.fixtures.sparkapp.build import PI, SLEEP
from tests.support.server import FAST, PYTHON, Server
from tests.support.spark_cluster import SparkCluster
from tests.support.waiting import wait_for

pytestmark = pytest.mark.spark

SMALL = {"spark.driver.memory": "512m", "spark.executor.memory": "512m",
         "spark.driver.cores": "1", "spark.cores.max": "1"}
APP_TIMEOUT_S = 120.0
JAR = "hdfs:///apps/sparkapp.jar"


def _cluster(server: Server, *options: str) -> str:
    """Make a cluster in the server's project with ``mrsjobs cluster create``; its id."""
    done = subprocess.run([PYTHON, "-m", "mrsjobs.cli", "cluster", "create", "--project",
                           server.project_id, "--name", "spark", "--json", *options,
                           "--data-dir", str(server.data_dir)], capture_output=True,
                          text=True, env=server.env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    cluster_id: str = json.loads(done.stdout)["id"]
    return cluster_id


def _job(name: str, main_class: str, *args: str) -> dict[str, Any]:
    return {"job_type": "SparkSubmit", "job_name": name, "properties": SMALL,
            "arguments": ["--master", "yarn", "--class", main_class, JAR, *args]}


def _detail(c: httpx.Client, path: str, job_id: str) -> dict[str, Any]:
    resp = c.get(f"{path}/{job_id}")
    assert resp.status_code == 202, resp.text
    detail: dict[str, Any] = resp.json()["job_detail"]
    return detail


def _ended(c: httpx.Client, path: str, job_id: str) -> dict[str, Any]:
    return wait_for(lambda: (j := _detail(c, path, job_id))["job_state"] in (
        "FINISHED", "FAILED", "KILLED") and j, timeout=APP_TIMEOUT_S, interval=0.1,
        message=f"{job_id} ended")


def _submit(c: httpx.Client, path: str, body: dict[str, Any]) -> str:
    resp = c.post(path, json=body)
    assert resp.status_code == 202, resp.text
    job_id: str = resp.json()["job_submit_result"]["job_id"]
    return job_id


def _spark_cluster_of(s: Server, cluster: SparkCluster, jar: Path, shared: Path) -> str:
    """A standalone cluster of the server's project on ``cluster``, its file area under
    ``shared`` with the apps' jar in it; the path of its jobs."""
    cluster_id = _cluster(s, "--engine", "spark-standalone", "--master", cluster.master_url,
                          "--rest-url", cluster.rest_url, "--files-root", str(shared))
    (shared / "apps").mkdir(parents=True)
    shutil.copy(jar, shared / "apps" / "sparkapp.jar")
    return f"/v2/{s.project_id}/clusters/{cluster_id}/job-executions"


def _started(c: httpx.Client, path: str, job_id: str, rest: SparkRest) -> str:
    """Wait until the job's driver runs at the master; its id."""
    running = wait_for(lambda: (j := _detail(c, path, job_id))["launcher_id"] and j,
                       timeout=APP_TIMEOUT_S, interval=0.05, message=f"{job_id} started")
    driver_id: str = running["launcher_id"]
    assert running["job_state"] == "RUNNING"
    wait_for(lambda: _driver_running(rest, driver_id), timeout=APP_TIMEOUT_S,
             interval=0.05, message=f"{driver_id} RUNNING")
    return driver_id


def test_jobs_run_and_are_killed_on_the_cluster(fast_server: Server,
                                                spark_cluster: SparkCluster,
                                                sparkapp_jar: Path, tmp_path: Path) -> None:
    s = fast_server
    path = _spark_cluster_of(s, spark_cluster, sparkapp_jar, tmp_path / "shared")
    driver_id = None
    with s.client() as c, spark_cluster.rest() as rest:
        try:
            pi = _submit(c, path, _job("pi", PI, "4"))
            sleeper = _submit(c, path, _job("sleep", SLEEP, "600", "0"))

            done = _ended(c, path, pi)
            assert (done["job_state"], done["job_result"]) == ("FINISHED", "SUCCEEDED"), done
            assert rest.status(done["launcher_id"]).state is DriverState.FINISHED
            # Its application, named in the driver's log on the worker, and its page
            # at the master (the cluster's default web UI address).
            assert done["app_id"].startswith("app-"), done
            assert done["tracking_url"] == (
                f"{spark_cluster.web_url}/app/?appId={done['app_id']}")
            assert httpx.get(done["tracking_url"], trust_env=False).status_code == 200

            driver_id = _started(c, path, sleeper, rest)
            assert c.post(f"{path}/{sleeper}/kill").status_code == 202
            killed = _ended(c, path, sleeper)
            assert (killed["job_state"], killed["job_result"]) == ("KILLED", "KILLED"), killed
            # KILLED is written only once the master reports the driver KILLED.
            assert rest.status(driver_id).state is DriverState.KILLED
        finally:
            if driver_id is not None:
                rest.kill(driver_id)


def _driver_running(rest: SparkRest, driver_id: str) -> bool:
    state = rest.status(driver_id).state
    assert state is None or not state.terminal, state
    return state is DriverState.RUNNING


def test_a_restarted_service_finds_its_drivers_again(server_factory: Callable[..., Server],
                                                     spark_cluster: SparkCluster,
                                                     sparkapp_jar: Path,
                                                     tmp_path: Path) -> None:
    """SIGKILLed right after a kill went out, with two drivers running: restarted, it
    records the kill the master confirmed, and the other driver's natural end."""
    gate = tmp_path / "gate"
    s = server_factory(**FAST, test_kill_gate=str(gate))
    path = _spark_cluster_of(s, spark_cluster, sparkapp_jar, tmp_path / "shared")
    drivers: list[str] = []
    with spark_cluster.rest() as rest:
        try:
            with s.client() as c:
                victim = _submit(c, path, _job("victim", SLEEP, "600", "0"))
                survivor = _submit(c, path, _job("survivor", SLEEP, "25", "0"))
                drivers += [_started(c, path, victim, rest), _started(c, path, survivor, rest)]
                assert c.post(f"{path}/{victim}/kill").status_code == 202
            wait_for(gate.exists, timeout=30, message="the kill to go out")
            s.stop(signal.SIGKILL)
            del s.env[KILL_GATE_ENV]
            s.start()
            with s.client() as c:
                killed = _ended(c, path, victim)
                assert (killed["job_state"], killed["job_result"]) == ("KILLED", "KILLED")
                assert rest.status(drivers[0]).state is DriverState.KILLED
                assert _detail(c, path, survivor)["job_state"] == "RUNNING"
                done = _ended(c, path, survivor)
                assert (done["job_state"], done["job_result"]) == ("FINISHED", "SUCCEEDED")
                assert rest.status(drivers[1]).state is DriverState.FINISHED
        finally:
            for driver_id in drivers:
                rest.kill(driver_id)

"""Jobs on a Spark standalone cluster, end to end: a cluster made with ``mrsjobs cluster
create`` pointing at the namespaced master, JVM and Python jobs submitted through the
v2 API (and the real SDK) whose drivers run on its workers, to success and to a kill
the master confirms; the cluster's capacity at submit and at dispatch; and a service
SIGKILLed while its drivers run that finds them again when restarted."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmrs.v2 import (
    CreateExecuteJobRequest,
    JobExecution,
    MrsClient,
    ShowSingleJobExeRequest,
    ShowSqlResultWithJobRequest,
    StopJobRequest,
)

from mrsjobs.engines.spark_standalone.rest import DriverState, SparkRest
from mrsjobs.supervisor.loop import KILL_GATE_ENV
from tests.fixtures.sparkapp.build import COUNT_PY, PI, SLEEP
from tests.fixtures.sql import LONG_QUERY
from tests.support.clients import sdk_client
from tests.support.procs import processes_with
from tests.support.server import FAST, PYTHON, Server
from tests.support.spark_cluster import SparkCluster
from tests.support.waiting import wait_for

pytestmark = pytest.mark.spark

SMALL = {"spark.driver.memory": "512m", "spark.executor.memory": "512m",
         "spark.driver.cores": "1", "spark.cores.max": "1"}
APP_TIMEOUT_S = 120.0
JAR = "hdfs:///apps/sparkapp.jar"


def _cluster(server: Server, *options: str, name: str = "spark") -> str:
    """Make a cluster in the server's project with ``mrsjobs cluster create``; its id."""
    done = subprocess.run([PYTHON, "-m", "mrsjobs.cli", "cluster", "create", "--project",
                           server.project_id, "--name", name, "--json", *options,
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
    assert cluster.rest_key_file  # the session's master requires signed calls
    cluster_id = _cluster(s, "--engine", "spark-standalone", "--master", cluster.master_url,
                          "--rest-url", cluster.rest_url, "--files-root", str(shared),
                          "--rest-key-file", cluster.rest_key_file)
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


def test_the_sdk_on_a_cluster_with_room_for_two_drivers(fast_server: Server,
                                                       spark_cluster: SparkCluster,
                                                       sparkapp_jar: Path,
                                                       tmp_path: Path) -> None:
    """The real v2 client: a PySpark app runs to success with its driver on a worker;
    a job whose driver no worker could hold is refused at submit; with a driver of a
    whole worker's memory on each worker, a third job waits QUEUED, and killed there
    it never reaches the master."""
    s = fast_server
    shared = tmp_path / "shared"
    path = _spark_cluster_of(s, spark_cluster, sparkapp_jar, shared)
    cluster_id = path.split("/")[4]
    shutil.copy(COUNT_PY, shared / "apps" / "count.py")
    client = sdk_client(MrsClient, s)

    def submit(name: str, job_type: str, *args: str) -> str:
        resp = client.create_execute_job(CreateExecuteJobRequest(
            cluster_id=cluster_id, body=JobExecution(
                job_type=job_type, job_name=name, arguments=list(args), properties=SMALL)))
        job_id: str = resp.job_submit_result.job_id
        return job_id

    def detail(job_id: str) -> Any:
        return client.show_single_job_exe(ShowSingleJobExeRequest(
            cluster_id=cluster_id, job_execution_id=job_id)).job_detail

    def ended(job_id: str) -> Any:
        return wait_for(lambda: (d := detail(job_id)).job_state in ("FINISHED", "KILLED")
                        and d, timeout=APP_TIMEOUT_S, interval=0.1, message=f"{job_id} ended")

    drivers: list[str] = []
    with spark_cluster.rest() as rest, spark_cluster.ui() as ui:
        try:
            count = ended(submit("count", "SparkPython", "hdfs:///apps/count.py", "1000"))
            assert (count.job_state, count.job_result) == ("FINISHED", "SUCCEEDED")
            assert count.launcher_id.startswith("driver-") and count.app_id.startswith("app-")

            with pytest.raises(ClientRequestException) as refused:
                submit("huge", "SparkSubmit", "--driver-memory", "64g", "--class", PI, JAR)
            assert (refused.value.status_code, refused.value.error_code) == (400, "12000002")
            assert "arguments" in refused.value.error_msg
            assert "never run" in refused.value.error_msg

            def known() -> set[str]:
                state = ui.state()
                return {d.id for d in (*state.active_drivers, *state.completed_drivers)}

            before = known()
            whole = ("--driver-memory", "1g", "--class", SLEEP, JAR, "600", "0")
            first, second, third = (submit(f"w{i}", "SparkSubmit", *whole) for i in range(3))
            with s.client() as c:
                drivers += [_started(c, path, first, rest), _started(c, path, second, rest)]
            assert detail(third).job_state == "ACCEPTED"
            client.stop_job(StopJobRequest(cluster_id=cluster_id, job_execution_id=third))
            killed = ended(third)
            assert (killed.job_state, killed.job_result, killed.launcher_id) == (
                "KILLED", "KILLED", "")
            # The master saw the two drivers, and nothing of the third.
            assert known() - before == set(drivers)
        finally:
            for driver_id in drivers:
                rest.kill(driver_id)


def test_sql_runs_on_the_cluster_with_its_executors_on_the_workers(
        server_factory: Callable[..., Server], spark_cluster: SparkCluster,
        tmp_path: Path) -> None:
    """The real v2 client: a SparkSql job on a standalone cluster runs on the project's
    warm SQL engine, a driver on this host joined to the cluster's network by the
    project's link, with its executors on the workers and its table in the files root;
    a SQL job on a cluster without a link is refused at submit."""
    # The workers write as root, the engine commits as the project's user.
    s = server_factory(sql_engine="on", sql_engine_files_umask="000")
    shared = tmp_path / "shared"
    master = ("--engine", "spark-standalone", "--master", spark_cluster.master_url,
              "--rest-url", spark_cluster.rest_url, "--files-root", str(shared))
    linked = _cluster(s, *master, "--link-bridge", spark_cluster.network.bridge,
                      "--link-addresses", spark_cluster.link_addresses)
    unlinked = _cluster(s, *master, name="unlinked")
    client = sdk_client(MrsClient, s)

    def submit(cluster_id: str, sql: str) -> str:
        resp = client.create_execute_job(CreateExecuteJobRequest(
            cluster_id=cluster_id, body=JobExecution(job_type="SparkSql", job_name="sql",
                                                     arguments=[sql])))
        job_id: str = resp.job_submit_result.job_id
        return job_id

    with pytest.raises(ClientRequestException) as refused:
        submit(unlinked, "SELECT 1")
    assert (refused.value.status_code, refused.value.error_code) == (400, "12000054")
    assert "link" in refused.value.error_msg

    job_id = submit(linked, "CREATE TABLE squares (n BIGINT) USING parquet; "
                            "INSERT INTO squares SELECT id * id FROM range(0, 1000, 1, 4); "
                            "SELECT count(*) AS n, sum(n) AS total FROM squares")
    done = wait_for(lambda: (d := client.show_single_job_exe(ShowSingleJobExeRequest(
        cluster_id=linked, job_execution_id=job_id)).job_detail).job_state in (
        "FINISHED", "FAILED", "KILLED") and d, timeout=APP_TIMEOUT_S * 2, interval=0.2,
        message=f"{job_id} ended")
    assert (done.job_state, done.job_result) == ("FINISHED", "SUCCEEDED"), (
        done, s.log.read_text()[-3000:])
    got = client.show_sql_result_with_job(ShowSqlResultWithJobRequest(
        cluster_id=linked, job_execution_id=job_id)).sql_results
    assert got["2"] == [{"n": "1000", "total": "332833500"}]
    # The engine is an application of the master, its executors ran on the workers,
    # and the table's files are in the files root every host sees.
    with spark_cluster.ui() as ui:
        engine = [a for a in ui.state().active_apps if a.name == f"mrsjobs-sql-{linked}"]
    assert len(engine) == 1, ui
    ran_on = [w for w in spark_cluster.workers
              if (spark_cluster.work_dir(w) / engine[0].id).is_dir()]
    assert ran_on, "no executor of the SQL engine ran on a worker"
    table = shared.joinpath("user", "hive", "warehouse", "squares")
    assert any(f.name.startswith("part-") for f in table.iterdir()), list(table.iterdir())

    # A kill interrupts the job's query on the workers; the engine stays warm for the
    # next job.
    long = submit(linked, LONG_QUERY)
    with s.client() as c:
        path = f"/v2/{s.project_id}/clusters/{linked}/job-executions"
        wait_for(lambda: _detail(c, path, long)["job_state"] == "RUNNING",
                 timeout=APP_TIMEOUT_S, interval=0.05, message=f"{long} running")
        wait_for(lambda: _executors(spark_cluster, engine[0].id), timeout=APP_TIMEOUT_S,
                 interval=0.1, message="the engine's executors")
        assert c.post(f"{path}/{long}/kill").status_code == 202
        killed = _ended(c, path, long)
        assert (killed["job_state"], killed["job_result"]) == ("KILLED", "KILLED"), killed
        after = _ended(c, path, submit(linked, "SELECT count(*) FROM squares"))
        assert (after["job_state"], after["job_result"]) == ("FINISHED", "SUCCEEDED"), after
    with spark_cluster.ui() as ui:
        assert ui.state().app_active(engine[0].id)


def _app_of(stderr: Path) -> str | None:
    """The application id a client-mode driver's log names, once it has one."""
    found = re.search(r"Application Id: (app-[0-9-]+)", stderr.read_text(errors="replace")
                      if stderr.exists() else "")
    return found.group(1) if found else None


def test_cold_sql_drivers_join_the_cluster_and_a_kill_ends_them_everywhere(
        server_factory: Callable[..., Server], spark_cluster: SparkCluster,
        tmp_path: Path) -> None:
    """With the SQL engine off, each SQL job is its own spark-sql driver on this host,
    in the project's sandbox, its executors on the workers: one runs to success, and a
    kill of another ends its process tree here and its application at the master."""
    s = server_factory(sql_engine="off", sql_engine_files_umask="000")
    cluster_id = _cluster(s, "--engine", "spark-standalone", "--master",
                          spark_cluster.master_url, "--rest-url", spark_cluster.rest_url,
                          "--files-root", str(tmp_path / "shared"), "--link-bridge",
                          spark_cluster.network.bridge, "--link-addresses",
                          spark_cluster.link_addresses)
    path = f"/v2/{s.project_id}/clusters/{cluster_id}/job-executions"
    small = {"spark.executor.memory": "512m", "spark.cores.max": "2"}
    with s.client() as c, spark_cluster.ui() as ui:
        count = _submit(c, path, {"job_type": "SparkSql", "job_name": "count",
                                  "properties": small,
                                  "arguments": ["SELECT count(*) FROM range(0, 1000, 1, 4)"]})
        done = _ended(c, path, count)
        assert (done["job_state"], done["job_result"]) == ("FINISHED", "SUCCEEDED"), done
        app_id = _app_of(s.data_dir / "runs" / count / "stderr.log")
        assert app_id is not None
        assert any((spark_cluster.work_dir(w) / app_id).is_dir()
                   for w in spark_cluster.workers), "no executor ran on a worker"
        assert ui.state().app(app_id) is not None

        long = _submit(c, path, {"job_type": "SparkSql", "job_name": "long",
                                 "properties": small,
                                 "arguments": [LONG_QUERY]})
        stderr = s.data_dir / "runs" / long / "stderr.log"
        app_id = wait_for(lambda: _app_of(stderr), timeout=APP_TIMEOUT_S, interval=0.1,
                          message=f"{long} connected to the master")
        # Its tasks run in executors on the workers before it is killed.
        wait_for(lambda: _executors(spark_cluster, app_id), timeout=APP_TIMEOUT_S,
                 interval=0.1, message=f"executors of {app_id}")
        assert c.post(f"{path}/{long}/kill").status_code == 202
        killed = _ended(c, path, long)
        assert (killed["job_state"], killed["job_result"]) == ("KILLED", "KILLED"), killed
        # Gone on this host, at the master, and from the workers.
        assert not processes_with(str(s.data_dir / "runs" / long))
        wait_for(lambda: not ui.state().app_active(app_id), timeout=30, interval=0.1,
                 message=f"{app_id} ended at the master")
        wait_for(lambda: not _executors(spark_cluster, app_id), timeout=30, interval=0.1,
                 message=f"executors of {app_id} gone")


def _executors(cluster: SparkCluster, app_id: str) -> list[int]:
    """Executors of ``app_id`` running on the cluster's workers."""
    return [pid for worker in cluster.workers for pid in worker.pids()
            if app_id in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""

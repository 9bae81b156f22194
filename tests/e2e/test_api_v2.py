"""The v2 API over plain HTTP against ``mrsjobs serve``, with a trivial stand-in for Spark."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.clients import assert_error
from tests.support.procs import processes_with
from tests.support.server import FAKE_TOOL, FAST, Server
from tests.support.waiting import wait_for

#: The application: a name in the cluster's file area (the stand-in for Spark ignores it).
APP = "hdfs:///app.py"


def spark(name: str, *args: str, **fields: Any) -> dict[str, Any]:
    """A Spark job of ``args``, the application first unless they place it."""
    arguments = list(args) if APP in args else [APP, *args]
    return {"job_type": "SparkSubmit", "job_name": name, "arguments": arguments, **fields}


def test_submit_runs_and_reads_in_mrs_shape(fast_server: Server) -> None:
    with fast_server.client() as c:
        resp = c.post(fast_server.jobs_path, json=spark(
            "first", "--master", "yarn-cluster", APP, "a b",
            properties={"spark.k": "v", "x": "y"}))
        assert resp.status_code == 202
        assert resp.headers["x-request-id"]
        result = resp.json()["job_submit_result"]
        assert result["state"] == "COMPLETE"
        job = fast_server.wait_state(c, result["job_id"], "FINISHED")
    assert job["job_result"] == "SUCCEEDED"
    assert job["job_progress"] == 100
    assert job["arguments"] == f"[--master, yarn-cluster, {APP}, a b]"
    assert job["properties"] == "{spark.k=v, x=y}"
    assert (job["user"], job["queue"], job["job_type"]) == ("alice", "default", "SparkSubmit")
    assert job["elapsed_time"] == job["finished_time"] - job["started_time"]
    assert job["started_time"] >= job["submitted_time"] > 0
    log = (fast_server.data_dir / "runs" / job["job_id"] / "stdout.log").read_text()
    # yarn-cluster became the local master; properties became --conf.
    assert "--master local[2]" in log and "--conf spark.k=v" in log and "yarn" not in log


def test_failing_job_ends_finished_failed(fast_server: Server) -> None:
    with fast_server.client() as c:
        job_id = fast_server.submit(c, spark("fails", "exit=3"))
        job = fast_server.wait_state(c, job_id, "FINISHED")
    assert job["job_result"] == "FAILED"


def test_launch_failure_ends_failed(server_factory: Callable[..., Server]) -> None:
    server = server_factory(spark_submit="/nonexistent/spark-submit")
    with server.client() as c:
        job = server.wait_state(c, server.submit(c, spark("nolaunch")), "FAILED")
    assert job["job_result"] == "FAILED"


def test_list_filters_paging_and_total(fast_server: Server) -> None:
    with fast_server.client() as c:
        ids = [fast_server.submit(c, spark(f"batch_{i % 2}")) for i in range(5)]
        failed = fast_server.submit(c, spark("odd", "exit=1"))
        python = fast_server.submit(c, spark("py", job_type="SparkPython"))
        for job_id in [*ids, failed, python]:
            fast_server.wait_state(c, job_id, "FINISHED")
        mid = fast_server.job(c, ids[2])["submitted_time"]

        def page(**params: Any) -> dict[str, Any]:
            resp = c.get(fast_server.jobs_path, params=params)
            assert resp.status_code == 202, resp.text
            body: dict[str, Any] = resp.json()
            return body

        everything = page(limit=100)
        assert everything["total_record"] == 7
        # Newest first by default.
        assert [j["job_id"] for j in everything["job_list"]] == [python, failed, *ids[::-1]]
        second = page(limit=2, offset=2, sort_by="asc")
        assert second["total_record"] == 7
        assert [j["job_id"] for j in second["job_list"]] == ids[2:4]
        assert page(limit=2, offset=9)["job_list"] == []
        assert page(job_name="batch_0")["total_record"] == 3
        assert page(job_id=ids[1])["job_list"][0]["job_id"] == ids[1]
        assert page(user="alice")["total_record"] == 7
        assert page(user="bob")["total_record"] == 0
        assert page(job_type="SparkPython")["total_record"] == 7
        assert page(job_type="MapReduce")["total_record"] == 0
        assert page(job_state="FINISHED", job_result="FAILED")["job_list"][0]["job_id"] == failed
        assert page(queue="default")["total_record"] == 7
        assert page(submitted_time_begin=mid, sort_by="asc")["job_list"][0]["job_id"] == ids[2]
        assert page(submitted_time_end=mid - 1)["total_record"] == 2

        assert_error(c.get(fast_server.jobs_path, params={"limit": 0}), 400, "12000002", "limit")
        assert_error(c.get(fast_server.jobs_path, params={"offset": "x"}), 400, "12000002",
                     "offset")
        assert_error(c.get(fast_server.jobs_path, params={"job_state": "DONE"}), 400,
                     "12000002", "job_state")
        assert_error(c.get(fast_server.jobs_path, params={"sort_by": "up"}), 400, "12000002",
                     "sort_by")


def test_errors_are_mrs_envelopes(fast_server: Server) -> None:
    path = fast_server.jobs_path
    with fast_server.client() as c:
        assert_error(c.get(f"{path}/00000000-0000-0000-0000-000000000000"), 400, "0176")
        assert_error(c.post(f"{path}/00000000-0000-0000-0000-000000000000/kill"), 400, "0176")
        other = f"/v2/{fast_server.project_id}/clusters/other/job-executions"
        assert_error(c.get(other), 400, "12000003")
        assert_error(c.post(other, json=spark("x")), 400, "12000003")
        assert_error(c.post(path, json=spark("bad name")), 400, "12000002", "job_name")
        assert_error(c.post(path, json={"job_name": "x"}), 400, "12000002", "job_type")
        assert_error(c.post(path, content=b"{not json", headers={"Content-Type":
                                                                 "application/json"}),
                     400, "12000002", "JSON")
        assert_error(c.post(path, json={"job_type": "Flink", "job_name": "f",
                                         "arguments": ["run"]}), 400, "0169")
        assert_error(c.post(path, json={"job_type": "DistCp", "job_name": "d",
                                         "arguments": ["/a", "/b"]}), 400, "12000054",
                     "DistCp")
        assert_error(c.get(f"/v2/{fast_server.project_id}/nowhere"), 404, "APIGW.0101")
        # Nothing half-written: the refused submissions left no job behind.
        assert c.get(path).json()["total_record"] == 0


def test_identity_is_required_and_scoped(fast_server: Server) -> None:
    path = fast_server.jobs_path
    assert_error(httpx.get(fast_server.endpoint + path), 401, "12000001", "missing")
    with fast_server.client("not-a-token") as c:
        assert_error(c.get(path), 401, "12000001")
    with fast_server.client() as c:
        job_id = fast_server.submit(c, spark("mine"))
    other = fast_server.cli("token", "create", "--project", "otherproject", "--user", "eve")
    with fast_server.client(other) as c:
        # Another project's token gets nothing of this project, not even its jobs' ids.
        assert_error(c.get(path), 400, "12000052")
        assert_error(c.get(f"{path}/{job_id}"), 400, "12000052")
        assert_error(c.post(f"{path}/{job_id}/kill"), 400, "12000052")
        # Under its own project, this project's cluster reads as missing.
        foreign = f"/v2/otherproject/clusters/{fast_server.cluster_id}/job-executions"
        assert_error(c.get(foreign), 400, "12000003")
        assert_error(c.get(f"{foreign}/{job_id}"), 400, "12000003")


def test_kill_running_job_leaves_no_process(fast_server: Server) -> None:
    with fast_server.client() as c:
        job_id = fast_server.submit(c, spark("long", "spawn", "orphan", "sleep=120"))
        fast_server.wait_state(c, job_id, "RUNNING")
        run_dir = str(fast_server.data_dir / "runs" / job_id)
        wait_for(lambda: len(processes_with(run_dir)) >= 3, message="the job's process tree")
        resp = c.post(f"{fast_server.jobs_path}/{job_id}/kill")
        assert resp.status_code == 202 and resp.content == b""
        job = fast_server.wait_state(c, job_id, "KILLED")
        assert job["job_result"] == "KILLED"
        assert processes_with(run_dir) == []
        # Killing again, or killing a finished job, changes nothing.
        assert c.post(f"{fast_server.jobs_path}/{job_id}/kill").status_code == 202
        assert fast_server.job(c, job_id) == job


def test_queued_job_waits_and_kill_keeps_it_from_launching(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(spark_submit=str(FAKE_TOOL), max_running="1")
    with server.client() as c:
        first = server.submit(c, spark("first", "sleep=120"))
        server.wait_state(c, first, "RUNNING")
        second = server.submit(c, spark("second"))
        third = server.submit(c, spark("third"))
        assert server.job(c, second)["job_state"] == "ACCEPTED"
        c.post(f"{server.jobs_path}/{second}/kill")
        assert server.job(c, second)["job_state"] == "KILLED"
        c.post(f"{server.jobs_path}/{first}/kill")
        server.wait_state(c, third, "FINISHED")
    assert not (server.data_dir / "runs" / second).exists(), "a killed queued job never runs"


def test_a_sql_job_is_not_held_behind_a_full_cluster(
        server_factory: Callable[..., Server]) -> None:
    """SQL jobs are dispatched against the warm SQL engine's slots, not the cluster's:
    a Spark job holding the only slot keeps the next Spark job queued, not a SQL job.
    (The engine is the trivial script too: it exits instead of serving, so the SQL job
    fails to launch there, which a cold spark-sql job would not.)"""
    server = server_factory(**(FAST | {"sql_engine": "on", "max_running": "1"}))
    with server.client() as c:
        first = server.submit(c, spark("first", "sleep=120"))
        server.wait_state(c, first, "RUNNING")
        second = server.submit(c, spark("second"))
        sql = server.submit(c, {"job_type": "SparkSql", "job_name": "sql",
                                "arguments": ["SELECT 1"]})
        job = server.wait_state(c, sql, "FINISHED", "FAILED")
        assert job["diagnostics"].startswith("could not launch"), job
        assert "SQL engine" in job["diagnostics"], job
        assert [server.job(c, j)["job_state"] for j in (first, second)] == [
            "RUNNING", "ACCEPTED"]
        c.post(f"{server.jobs_path}/{first}/kill")
        server.wait_state(c, second, "FINISHED")


def test_batch_delete(fast_server: Server) -> None:
    path = fast_server.jobs_path
    with fast_server.client() as c:
        done = fast_server.submit(c, spark("done"))
        fast_server.wait_state(c, done, "FINISHED")
        running = fast_server.submit(c, spark("running", "sleep=120"))
        fast_server.wait_state(c, running, "RUNNING")
        missing = "00000000-0000-0000-0000-000000000000"
        # All or nothing: one unknown id and nothing is deleted.
        assert_error(c.post(f"{path}/batch-delete", json={"job_id_list": [done, missing]}),
                     400, "0176", missing)
        assert fast_server.job(c, done)["job_state"] == "FINISHED"
        assert_error(c.post(f"{path}/batch-delete", json={"job_id_list": []}), 400,
                     "12000002", "job_id_list")
        resp = c.post(f"{path}/batch-delete", json={"job_id_list": [done, running]})
        assert resp.status_code == 202
        assert_error(c.get(f"{path}/{done}"), 400, "0176")
        # The running job is killed first, then its record goes.
        wait_for(lambda: c.get(f"{path}/{running}").status_code == 400, timeout=20,
                 message="the running job to be killed and deleted")
        assert processes_with(str(fast_server.data_dir / "runs" / running)) == []


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_running_job_survives_a_service_restart(server_factory: Callable[..., Server],
                                                sig: str) -> None:
    import signal as signals
    server = server_factory(spark_submit=str(FAKE_TOOL), kill_grace_s="2")
    with server.client() as c:
        job_id = server.submit(c, spark("survivor", "sleep=3"))
        # Launched, not only claimed: its process has started.
        wait_for(lambda: server.job(c, job_id)["started_time"] > 0)
    server.stop(getattr(signals, f"SIG{sig}"))
    started = time.monotonic()
    server.start()
    with server.client() as c:
        job = server.wait_state(c, job_id, "FINISHED", timeout=30)
    assert job["job_result"] == "SUCCEEDED", job
    assert time.monotonic() - started < 30

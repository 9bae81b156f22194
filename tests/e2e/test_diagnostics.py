"""Why a job ended, in every API's view of it: v2 ``diagnostics``, v1.1 and Sahara
``return_code`` and ``info``; and the real SDK clients still read every answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from huaweicloudsdkmrs import v1, v2

from tests.e2e.v11_calls import exe, exes, sahara, sahara_path
from tests.support.clients import sdk_client
from tests.support.server import Server

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"

# The v1 client marks its methods deprecated, which the project's settings make errors.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Method '.*' of MrsClient is deprecated:DeprecationWarning")


def spark(name: str, *args: str) -> dict[str, Any]:
    return {"job_type": "SparkSubmit", "job_name": name,
            "arguments": ["hdfs:///app.py", *args]}


def views(server: Server, c: httpx.Client, job_id: str) -> tuple[Any, ...]:
    """The job as v2, v1.1 (job-exes) and Sahara show it."""
    return server.job(c, job_id), exe(server, c, job_id), sahara(server, c, job_id)


def test_each_view_says_why_a_job_ended(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        ok = server.submit(c, spark("ok"))
        bad = server.submit(c, spark("bad", "exit=3"))
        killed = server.submit(c, spark("killed", "sleep=60"))
        server.wait_state(c, killed, "RUNNING")
        assert c.post(f"{server.jobs_path}/{killed}/kill").status_code == 202
        for job_id in (ok, bad, killed):
            server.wait_state(c, job_id, "FINISHED", "KILLED")

        one, exe_ok, sa_ok = views(server, c, ok)
        assert one["diagnostics"] == ""
        assert (exe_ok["return_code"], exe_ok["info"]) == ("0", None)
        assert (sa_ok["return_code"], sa_ok["info"]) == ("0", {"status": "SUCCEEDED",
                                                               "diagnostics": ""})

        one, exe_bad, sa_bad = views(server, c, bad)
        assert one["diagnostics"] == "exit code 3"
        assert (exe_bad["return_code"], exe_bad["info"]) == ("3", {"diagnostics": "exit code 3"})
        assert sa_bad["info"] == {"status": "FAILED", "diagnostics": "exit code 3"}

        one, exe_killed, sa_killed = views(server, c, killed)
        said = one["diagnostics"]
        # The job's shell may exit 143 of the SIGTERM before the sandbox reports a
        # signal: either is said, as it happened.
        assert re.fullmatch(f"killed on request; (exit code 143; )?kill requested by alice "
                            f"at {ISO}, signalled at {ISO}", said), said
        assert exe_killed["info"] == {"diagnostics": said}
        assert sa_killed["info"] == {"status": "KILLED", "diagnostics": said}

        # The lists say the same as the details.
        listed = c.get(server.jobs_path, params={"limit": 10}).json()["job_list"]
        assert {j["job_id"]: j["diagnostics"] for j in listed}[bad] == "exit code 3"
        assert {j["id"]: j["info"] for j in exes(server, c)["job_executions"]}[bad] == {
            "diagnostics": "exit code 3"}
        sahara_list = c.get(sahara_path(server)).json()["job_executions"]
        assert {j["id"]: j["info"] for j in sahara_list}[killed]["diagnostics"] == said


def test_a_launch_error_is_the_reason(server_factory: Callable[..., Server]) -> None:
    server = server_factory(spark_submit="/nonexistent/spark-submit",
                            hive_metastore="false")
    with server.client() as c:
        job_id = server.submit(c, spark("nolaunch"))
        job = server.wait_state(c, job_id, "FAILED")
        assert job["diagnostics"].startswith("could not launch"), job
        assert "/nonexistent/spark-submit" in job["diagnostics"]
        assert sahara(server, c, job_id)["info"]["diagnostics"] == job["diagnostics"]


def test_the_sdk_clients_still_read_every_answer(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        bad = server.submit(c, spark("bad", "exit=3"))
        server.wait_state(c, bad, "FINISHED")
    client2 = sdk_client(v2.MrsClient, server)
    shown = client2.show_single_job_exe(v2.ShowSingleJobExeRequest(
        cluster_id=server.cluster_id, job_execution_id=bad)).job_detail
    assert (shown.job_id, shown.job_result) == (bad, "FAILED")
    listed = client2.show_job_exe_list_new(v2.ShowJobExeListNewRequest(
        cluster_id=server.cluster_id)).job_list
    assert [j.job_id for j in listed] == [bad]

    client1 = sdk_client(v1.MrsClient, server)
    one = client1.show_job_exes(v1.ShowJobExesRequest(job_exe_id=bad)).job_execution
    assert (one.id, one.job_final_status) == (bad, 1)
    many = client1.list_execute_job(v1.ListExecuteJobRequest(
        cluster_id=server.cluster_id)).job_executions
    assert [j.id for j in many] == [bad]

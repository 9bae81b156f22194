"""The MRS v1.1 API end to end: submit-job and job-exes.

Driven through the real client (``huaweicloudsdkmrs`` v1) and plain HTTP, against
``mrsjobs serve`` with a trivial stand-in for Spark. One job record serves every API,
so jobs cross between v1.1 and v2 here (and Sahara in ``test_api_sahara``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmrs.v1 import (
    CreateAndExecuteJobRequest,
    DeleteJobExecutionRequest,
    ListExecuteJobRequest,
    MrsClient,
    ShowJobExesRequest,
    SubmitJobReqV11,
)

from tests.e2e.v11_calls import (
    ABNORMAL,
    CANCELED,
    COMPLETED,
    ERROR,
    EXEC_ERROR,
    MISSING,
    RUNNING,
    STARTING,
    SUCCESS,
    TERMINATED,
    UNFINISHED,
    app_jar,
    exe,
    exes,
    sahara,
    sahara_path,
    spark_body,
    submit_v11,
    v11,
    wait_exe,
)
from tests.support.clients import assert_error, sdk_client
from tests.support.procs import processes_with
from tests.support.server import Server
from tests.support.waiting import wait_for

# The v1 client marks its methods deprecated, which the project's settings make errors.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Method '.*' of MrsClient is deprecated:DeprecationWarning")

# The fields of the v1.1 submit-job ``job_execution`` (10-digit epoch seconds).
SUBMIT_FIELDS = {
    "templated", "created_at", "updated_at", "id", "tenant_id", "job_id", "job_name",
    "input_id", "output_id", "start_time", "end_time", "cluster_id", "engine_job_id",
    "return_code", "is_public", "is_protected", "group_id", "jar_path", "input", "output",
    "job_log", "job_type", "file_action", "arguments", "hql", "job_state", "job_final_status",
    "hive_script_path", "create_by", "update_by", "user_id", "finished_step", "step_num",
    "task_num", "job_main_id", "job_step_id", "step_name", "postpone_at", "credentials",
    "job_configs", "extra", "data_source_urls", "info",
}
# The fields of ``JobExeResult`` (13-digit epoch milliseconds, create_at/update_at).
EXE_FIELDS = {
    "id", "create_at", "update_at", "tenant_id", "job_id", "job_name", "start_time",
    "end_time", "cluster_id", "group_id", "jar_path", "input", "output", "job_log",
    "job_type", "file_action", "arguments", "hql", "job_state", "job_final_status",
    "hive_script_path", "create_by", "finished_step", "job_main_id", "job_step_id",
    "postpone_at", "step_name", "step_num", "task_num", "update_by", "spend_time",
    "step_seq", "progress",
}

STD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MRS_B64 = "ABCDEFGHILKJMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def mrs_hql(sql: str, lead: str = "g") -> str:
    """MRS's ``hql`` encoding: Base64 over MRS's alphabet, behind one arbitrary letter."""
    table = str.maketrans(STD_B64, MRS_B64)
    return lead + base64.b64encode(sql.encode()).decode().translate(table)


# -- helpers -----------------------------------------------------------------------------


def stdout_log(server: Server, job_id: str) -> str:
    return (server.data_dir / "runs" / job_id / "stdout.log").read_text()


def is_seconds(value: Any) -> bool:
    return isinstance(value, int) and 10**9 <= value < 10**10


def is_millis(value: Any) -> bool:
    return isinstance(value, int) and 10**12 <= value < 10**13


def client_for(server: Server) -> MrsClient:
    client: MrsClient = sdk_client(MrsClient, server)
    return client


def sdk_show(client: MrsClient, job_id: str) -> Any:
    return client.show_job_exes(ShowJobExesRequest(job_exe_id=job_id)).job_execution


# -- MRS v1.1 over plain HTTP ------------------------------------------------------------


def test_submit_job_response_shape_and_spark_command(fast_server: Server) -> None:
    server = fast_server
    inp = "hdfs:///in"
    body = spark_body(server, "shape-1_a", "alpha 'two words' exit=0", input=inp)
    with server.client() as c:
        server.put_file(c, "/in/part-0", b"a b\n")
        resp = c.post(f"{v11(server)}/jobs/submit-job", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-request-id"]
        payload = resp.json()
        shape = payload["job_execution"]
        assert set(shape) >= SUBMIT_FIELDS, SUBMIT_FIELDS - set(shape)
        # The same fields flat at the top level, as the Python SDK reads them.
        for key in SUBMIT_FIELDS:
            assert payload[key] == shape[key], key
        job_id = shape["id"]
        assert shape["group_id"] == job_id
        assert (shape["tenant_id"], shape["cluster_id"]) == (server.project_id,
                                                             server.cluster_id)
        assert (shape["job_name"], shape["job_type"]) == ("shape-1_a", 2)
        assert shape["arguments"] == "alpha 'two words' exit=0"
        assert (shape["jar_path"], shape["input"]) == (app_jar(server), inp)
        assert shape["job_state"] in (STARTING, RUNNING, COMPLETED)
        assert is_seconds(shape["created_at"]) and is_seconds(shape["updated_at"])
        assert abs(shape["created_at"] - datetime.now(UTC).timestamp()) < 120
        assert shape["is_protected"] is False and shape["templated"] is False
        for key in ("start_time", "end_time"):
            assert shape[key] is None or is_seconds(shape[key]), shape

        job = wait_exe(server, c, job_id, COMPLETED)
    assert job["job_final_status"] == SUCCESS
    line = stdout_log(server, job_id).splitlines()[0]
    # arguments are split like a shell line: the quotes are gone, the words stay in order,
    # and the input path follows them (the file area's paths made local).
    jar, local_inp = server.area_path("app.jar"), server.area_path("in")
    assert f"{jar} alpha two words exit=0 {local_inp}" in line, line
    assert "'" not in line


def test_arguments_are_split_into_words(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        # Only a separate word "exit=3" makes the stand-in fail.
        job_id = submit_v11(server, c, spark_body(server, "split", "first exit=3"))["id"]
        job = wait_exe(server, c, job_id, COMPLETED, ABNORMAL)
    assert (job["job_state"], job["job_final_status"]) == (ABNORMAL, EXEC_ERROR)


def test_job_exes_shape_list_paging_and_filters(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        ok = submit_v11(server, c, spark_body(server, "exe_ok", "alpha"))["id"]
        bad = submit_v11(server, c, spark_body(server, "exe_bad", "exit=3"))["id"]
        long = submit_v11(server, c, spark_body(server, "exe_long", "sleep=60"))["id"]
        done = wait_exe(server, c, ok, COMPLETED)
        wait_exe(server, c, bad, ABNORMAL)
        wait_exe(server, c, long, RUNNING)

        assert set(done) >= EXE_FIELDS, EXE_FIELDS - set(done)
        assert "created_at" not in done
        assert all(is_millis(done[k]) for k in ("create_at", "update_at", "start_time",
                                                 "end_time")), done
        assert done["end_time"] >= done["start_time"] >= done["create_at"]
        assert done["spend_time"] == pytest.approx((done["end_time"] - done["start_time"])
                                                   / 1000)
        assert isinstance(done["progress"], str)
        assert (done["job_type"], done["group_id"], done["arguments"]) == (2, ok, "alpha")
        running = exe(server, c, long)
        assert running["end_time"] is None and running["job_final_status"] == UNFINISHED

        everything = exes(server, c, page_size=100, current_page=1)
        assert everything["totalRecord"] == 3
        assert {j["id"] for j in everything["job_executions"]} == {ok, bad, long}
        first = exes(server, c, page_size=2, current_page=1)
        second = exes(server, c, page_size=2, current_page=2)
        assert (first["totalRecord"], second["totalRecord"]) == (3, 3)
        assert (len(first["job_executions"]), len(second["job_executions"])) == (2, 1)
        paged = [j["id"] for j in first["job_executions"] + second["job_executions"]]
        assert sorted(paged) == sorted([ok, bad, long])
        beyond = exes(server, c, page_size=2, current_page=3)
        assert (beyond["totalRecord"], beyond["job_executions"]) == (3, [])

        def ids(**params: Any) -> list[str]:
            return [j["id"] for j in exes(server, c, **params)["job_executions"]]

        assert ids(state=COMPLETED) == [ok]
        assert ids(state=ABNORMAL) == [bad]
        assert ids(state=RUNNING) == [long]
        assert ids(state=TERMINATED) == []
        assert ids(job_name="exe_bad") == [bad]
        assert ids(id=ok) == [ok]
        assert exes(server, c, state=COMPLETED)["totalRecord"] == 1


def test_v11_errors_are_mrs_envelopes(fast_server: Server) -> None:
    server = fast_server
    submit = f"{v11(server)}/jobs/submit-job"
    with server.client() as c:
        assert_error(c.post(submit, json=spark_body(server, "bad name")), 400, "12000002",
                     "job_name")
        assert_error(c.post(submit, json=spark_body(server, "x" * 65)), 400, "12000002",
                     "job_name")
        assert_error(c.post(submit, json={**spark_body(server, "x"), "cluster_id": "nope"}),
                     400, "12000003")
        no_cluster = spark_body(server, "x")
        del no_cluster["cluster_id"]
        assert_error(c.post(submit, json=no_cluster), 400, "12000002", "cluster_id")
        no_jar = spark_body(server, "x")
        del no_jar["jar_path"]
        assert_error(c.post(submit, json=no_jar), 400, "12000081")
        assert_error(c.post(submit, json={**no_jar, "job_type": 1}), 400, "12000081")
        assert_error(c.post(submit, json={"job_type": 3, "job_name": "h",
                                          "cluster_id": server.cluster_id}), 400, "12000114")
        assert_error(c.post(submit, json={"job_type": 7, "job_name": "q",
                                          "cluster_id": server.cluster_id}), 400, "12000002",
                     "hql")
        hiveql = c.post(submit, json={"job_type": 4, "job_name": "hq",
                                      "cluster_id": server.cluster_id, "hql": mrs_hql("x")})
        assert hiveql.status_code == 400, hiveql.text
        assert hiveql.json()["error_code"] and hiveql.headers["x-request-id"]

        exes_path = f"{v11(server)}/job-exes"
        assert_error(c.get(exes_path), 400, "12000002", "cluster_id")
        assert_error(c.get(exes_path, params={"cluster_id": "nope"}), 400, "12000003")
        assert_error(c.get(exes_path, params={"cluster_id": server.cluster_id,
                                              "state": "DONE"}), 400, "12000002", "state")
        assert_error(c.get(f"{exes_path}/{MISSING}"), 400, "0176")
        # Nothing half-written: the refused submissions left no job behind.
        assert exes(server, c)["totalRecord"] == 0

    assert_error(httpx.get(f"{server.endpoint}{exes_path}",
                           params={"cluster_id": server.cluster_id}), 401, "12000001")
    with server.client("not-a-token") as c:
        assert_error(c.post(submit, json=spark_body(server, "x")), 401, "12000001")
        assert_error(c.get(exes_path, params={"cluster_id": server.cluster_id}), 401,
                     "12000001")
        assert c.get(sahara_path(server)).status_code == 401


def test_spark_sql_runs_the_decoded_hql(fast_server: Server) -> None:
    server = fast_server
    assert mrs_hql("show tables;") == "gc2hvdyB0YWLsZXM7"
    sql = "SELECT 'JL' AS jl, count(*) FROM Jobs WHERE lang = 'Lisp';"
    encoded = mrs_hql(sql, lead="Q")
    # The example exercises the swapped letters, so a plain Base64 decoder would fail it.
    assert encoded[1:] != base64.b64encode(sql.encode()).decode()
    with server.client() as c:
        shape = submit_v11(server, c, {"job_type": 7, "job_name": "sql",
                                       "cluster_id": server.cluster_id, "hql": encoded})
        assert (shape["job_type"], shape["hql"]) == (7, encoded)
        job = wait_exe(server, c, shape["id"], COMPLETED, ABNORMAL, ERROR)
    assert (job["job_state"], job["job_final_status"]) == (COMPLETED, SUCCESS), job
    line = stdout_log(server, shape["id"]).splitlines()[0]
    assert line.endswith(f" -e {sql}"), line


def test_output_created_and_logs_copied_to_job_log(fast_server: Server) -> None:
    server = fast_server
    inp, out, logs = "hdfs:///input", "hdfs:///out/result", "hdfs:///joblogs"
    with server.client() as c:
        server.put_file(c, "/input/words.txt", b"a b a\n")
        shape = submit_v11(server, c, spark_body(
            server, "io", "alpha", input=inp, output=out, job_log=logs))
        job_id = shape["id"]
        assert (shape["input"], shape["output"]) == (inp, out)
        assert shape["job_log"] == logs
        job = wait_exe(server, c, job_id, COMPLETED, ABNORMAL, ERROR)
    assert job["job_state"] == COMPLETED, job
    # Output and logs land in the cluster's file area.
    local_out = server.area_path("out", "result")
    assert local_out.is_dir()
    line = stdout_log(server, job_id).splitlines()[0]
    local = f"{server.area_path('app.jar')} alpha {server.area_path('input')} {local_out}"
    assert local in line, line
    copied = server.area_path("joblogs", job_id)
    wait_for(lambda: (copied / "stdout.log").exists() and (copied / "stderr.log").exists(),
             timeout=10, message="the job's logs in job_log")
    assert (copied / "stdout.log").read_text() == stdout_log(server, job_id)
    assert (copied / "stderr.log").read_text() == (
        server.data_dir / "runs" / job_id / "stderr.log").read_text()


# -- the real huaweicloudsdkmrs v1 client -------------------------------------------------


def test_sdk_submit_show_list_delete(fast_server: Server) -> None:
    server = fast_server
    client = client_for(server)

    def submit(name: str, arguments: str) -> Any:
        return client.create_and_execute_job(CreateAndExecuteJobRequest(body=SubmitJobReqV11(
            job_type=2, job_name=name, cluster_id=server.cluster_id,
            jar_path=app_jar(server), arguments=arguments)))

    long = submit("sdk_long", "sleep=60")
    # The SDK reads the submit response's fields at the top level.
    assert long.id and long.group_id == long.id
    assert (long.job_name, long.job_type, long.arguments) == ("sdk_long", 2, "sleep=60")
    assert (long.tenant_id, long.cluster_id) == (server.project_id, server.cluster_id)
    assert long.jar_path == app_jar(server)
    assert long.job_state in (STARTING, RUNNING) and long.job_final_status == UNFINISHED
    assert long.end_time is None
    assert is_seconds(long.created_at), long.created_at
    ok = submit("sdk_ok", "alpha").id
    bad = submit("sdk_bad", "exit=3").id

    done = wait_for(lambda: (j := sdk_show(client, ok)).job_state == COMPLETED and j,
                    timeout=30, message="the SDK job to complete")
    assert done.job_final_status == SUCCESS
    assert all(is_millis(t) for t in (done.create_at, done.update_at, done.start_time,
                                      done.end_time)), done
    assert done.end_time >= done.start_time >= done.create_at
    assert done.spend_time == pytest.approx((done.end_time - done.start_time) / 1000)
    first = sdk_show(client, long.id)
    assert first.create_at // 1000 == long.created_at
    wait_for(lambda: sdk_show(client, long.id).job_state == RUNNING, timeout=30)
    wait_for(lambda: sdk_show(client, bad).job_state == ABNORMAL, timeout=30)

    def listed(**params: str) -> Any:
        return client.list_execute_job(ListExecuteJobRequest(cluster_id=server.cluster_id,
                                                             **params))

    page1, page2 = (listed(page_size="2", current_page=str(n)) for n in (1, 2))
    assert (page1.total_record, page2.total_record) == (3, 3)
    assert (len(page1.job_executions), len(page2.job_executions)) == (2, 1)
    assert {j.id for j in page1.job_executions + page2.job_executions} == {long.id, ok, bad}
    assert [j.id for j in listed(state=str(ABNORMAL)).job_executions] == [bad]
    assert [j.id for j in listed(state=str(COMPLETED)).job_executions] == [ok]
    assert [j.id for j in listed(state=str(RUNNING)).job_executions] == [long.id]
    assert listed(job_name="sdk_ok").total_record == 1

    client.delete_job_execution(DeleteJobExecutionRequest(job_execution_id=ok))
    with pytest.raises(ClientRequestException) as err:
        sdk_show(client, ok)
    assert (err.value.status_code, err.value.error_code) == (400, "0176")
    assert err.value.request_id

    # A running job is killed first, then its record goes.
    client.delete_job_execution(DeleteJobExecutionRequest(job_execution_id=long.id))

    def gone() -> bool:
        try:
            sdk_show(client, long.id)
        except ClientRequestException as exc:
            assert exc.error_code == "0176", exc
            return True
        return False

    wait_for(gone, timeout=30, message="the running job to be killed and deleted")
    assert processes_with(str(server.data_dir / "runs" / long.id)) == []
    assert listed().total_record == 1


def test_sdk_sees_conditional_required_errors(fast_server: Server) -> None:
    server = fast_server
    client = client_for(server)

    def refused(code: str, *words: str, **fields: Any) -> None:
        body = SubmitJobReqV11(job_name="refused", cluster_id=server.cluster_id, **fields)
        with pytest.raises(ClientRequestException) as err:
            client.create_and_execute_job(CreateAndExecuteJobRequest(body=body))
        assert (err.value.status_code, err.value.error_code) == (400, code), err.value
        assert err.value.request_id
        for word in words:
            assert word in err.value.error_msg, err.value.error_msg

    # Missing conditional fields have their own codes (reference section 7)...
    refused("12000081", "jar_path", job_type=1, arguments="wordcount")
    refused("12000081", "jar_path", job_type=2, arguments="alpha")
    refused("12000114", "hive_script_path", job_type=3)
    refused("12000114", "hive_script_path", job_type=6, jar_path="hdfs:///script.sql")
    # ...a script that is not .sql is an invalid parameter.
    refused("12000002", "hive_script_path", job_type=6, hive_script_path="hdfs:///script.txt")
    refused("12000002", "hive_script_path", job_type=3, hive_script_path="hdfs:///script.hql")
    with pytest.raises(ClientRequestException) as err:
        client.create_and_execute_job(CreateAndExecuteJobRequest(body=SubmitJobReqV11(
            job_type=2, job_name="bad name", cluster_id=server.cluster_id,
            jar_path=app_jar(server))))
    assert (err.value.status_code, err.value.error_code) == (400, "12000002")
    assert "job_name" in err.value.error_msg
    with pytest.raises(ClientRequestException) as err:
        client.list_execute_job(ListExecuteJobRequest(cluster_id="no-such-cluster"))
    assert err.value.error_code == "12000003"
    total = client.list_execute_job(ListExecuteJobRequest(cluster_id=server.cluster_id))
    assert total.total_record == 0


# -- one record, three APIs -------------------------------------------------------------


def test_v11_job_killed_through_v2(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        job_id = submit_v11(server, c, spark_body(server, "cross1", "sleep=120"))["id"]
        v2 = server.wait_state(c, job_id, "RUNNING")
        assert (v2["job_name"], v2["job_type"]) == ("cross1", "SparkSubmit")
        resp = c.post(f"{server.jobs_path}/{job_id}/kill")
        assert resp.status_code == 202, resp.text
        assert server.wait_state(c, job_id, "KILLED")["job_result"] == "KILLED"
        killed = exe(server, c, job_id)
        assert (killed["job_state"], killed["job_final_status"]) == (TERMINATED, CANCELED)
        assert sahara(server, c, job_id)["info"]["status"] == "KILLED"
        assert [j["id"] for j in exes(server, c, state=TERMINATED)["job_executions"]] \
            == [job_id]
    assert processes_with(str(server.data_dir / "runs" / job_id)) == []


def test_launch_failure_reads_as_error(server_factory: Callable[..., Server]) -> None:
    server = server_factory(spark_submit="/nonexistent/spark-submit")
    with server.client() as c:
        job_id = submit_v11(server, c, spark_body(server, "nolaunch"))["id"]
        assert server.wait_state(c, job_id, "FAILED")["job_result"] == "FAILED"
        job = exe(server, c, job_id)
        assert (job["job_state"], job["job_final_status"]) == (ERROR, EXEC_ERROR)
        assert sahara(server, c, job_id)["info"]["status"] == "FAILED"
        assert [j["id"] for j in exes(server, c, state=ERROR)["job_executions"]] == [job_id]

"""The real ``huaweicloudsdkmrs`` v2 client, unmodified, against ``mrsjobs serve``."""

from __future__ import annotations

from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmrs.v2 import (
    BatchDeleteJobsRequest,
    CreateExecuteJobRequest,
    JobBatchDelete,
    JobExecution,
    MrsClient,
    ShowJobExeListNewRequest,
    ShowSingleJobExeRequest,
    StopJobRequest,
)

from tests.support.clients import sdk_client
from tests.support.server import Server
from tests.support.waiting import wait_for


def client_for(server: Server) -> MrsClient:
    client: MrsClient = sdk_client(MrsClient, server)
    return client


def submit(client: MrsClient, server: Server, name: str, *args: str) -> str:
    req = CreateExecuteJobRequest(
        cluster_id=server.cluster_id,
        body=JobExecution(job_type="SparkPython", job_name=name, arguments=list(args),
                          properties={"spark.executor.cores": "1"}),
    )
    resp = client.create_execute_job(req)
    assert resp.job_submit_result.state == "COMPLETE"
    job_id: str = resp.job_submit_result.job_id
    return job_id


def detail(client: MrsClient, server: Server, job_id: str) -> Any:
    return client.show_single_job_exe(
        ShowSingleJobExeRequest(cluster_id=server.cluster_id, job_execution_id=job_id)
    ).job_detail


def test_submit_show_list_kill_delete(fast_server: Server) -> None:
    client = client_for(fast_server)
    done = submit(client, fast_server, "sdk_ok", "hdfs:///app.py")
    finished = wait_for(lambda: (d := detail(client, fast_server, done)).job_state == "FINISHED"
                        and d, timeout=20, message="the job to finish")
    assert (finished.job_result, finished.job_type) == ("SUCCEEDED", "SparkSubmit")
    assert finished.arguments == "[hdfs:///app.py]"
    assert finished.properties == "{spark.executor.cores=1}"
    assert finished.finished_time >= finished.started_time > 0

    running = submit(client, fast_server, "sdk_long", "hdfs:///app.py", "sleep=60")
    wait_for(lambda: detail(client, fast_server, running).job_state == "RUNNING")
    listed = client.show_job_exe_list_new(ShowJobExeListNewRequest(
        cluster_id=fast_server.cluster_id, job_type="SparkSubmit", sort_by="asc", limit="1",
        offset="2"))
    assert listed.total_record == 2
    assert [j.job_id for j in listed.job_list] == [running]

    client.stop_job(StopJobRequest(cluster_id=fast_server.cluster_id, job_execution_id=running))
    killed = wait_for(lambda: (d := detail(client, fast_server, running)).job_state == "KILLED"
                      and d, timeout=20, message="the kill")
    assert killed.job_result == "KILLED"

    client.batch_delete_jobs(BatchDeleteJobsRequest(
        cluster_id=fast_server.cluster_id, body=JobBatchDelete(job_id_list=[done, running])))
    with pytest.raises(ClientRequestException) as err:
        detail(client, fast_server, done)
    assert (err.value.status_code, err.value.error_code) == (400, "0176")
    assert err.value.request_id


def test_sdk_sees_mrs_errors(fast_server: Server) -> None:
    client = client_for(fast_server)
    with pytest.raises(ClientRequestException) as err:
        client.create_execute_job(CreateExecuteJobRequest(
            cluster_id=fast_server.cluster_id,
            body=JobExecution(job_type="SparkSubmit", job_name="bad name!")))
    assert (err.value.status_code, err.value.error_code) == (400, "12000002")
    assert "job_name" in err.value.error_msg
    with pytest.raises(ClientRequestException) as err:
        client.show_job_exe_list_new(ShowJobExeListNewRequest(cluster_id="no-such-cluster"))
    assert err.value.error_code == "12000003"

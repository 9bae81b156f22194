"""Calling the v1.1 APIs over plain HTTP: MRS submit-job/job-exes and the
Sahara-compatible job executions, with the codes and time formats they use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.server import Server
from tests.support.waiting import wait_for

#: The id of no job.
MISSING = "00000000-0000-0000-0000-000000000000"
#: Sahara's times: ISO 8601 in UTC, without zone.
ISO = "%Y-%m-%dT%H:%M:%S"

# v1.1 job_state and job_final_status codes.
TERMINATED, STARTING, RUNNING, COMPLETED, ABNORMAL, ERROR = -1, 1, 2, 3, 4, 5
UNFINISHED, EXEC_ERROR, SUCCESS, CANCELED = 0, 1, 2, 3


def v11(server: Server) -> str:
    return f"/v1.1/{server.project_id}"


def sahara_path(server: Server) -> str:
    return f"/v1.1/{server.project_id}/job-executions"


def app_jar(server: Server) -> str:
    """The application jar, uploaded to the cluster's file area on first use."""
    if not server.area_path("app.jar").exists():
        with server.client() as c:
            server.put_file(c, "/app.jar", b"PK\x05\x06" + bytes(18))
    return "hdfs:///app.jar"


def spark_body(server: Server, name: str, arguments: str = "", **fields: Any) -> dict[str, Any]:
    return {"job_type": 2, "job_name": name, "cluster_id": server.cluster_id,
            "jar_path": app_jar(server), "arguments": arguments, **fields}


def submit_v11(server: Server, c: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Submit through v1.1 and return the response's ``job_execution``."""
    resp = c.post(f"{v11(server)}/jobs/submit-job", json=body)
    assert resp.status_code == 200, resp.text
    shape: dict[str, Any] = resp.json()["job_execution"]
    return shape


def exe(server: Server, c: httpx.Client, job_id: str) -> dict[str, Any]:
    resp = c.get(f"{v11(server)}/job-exes/{job_id}")
    assert resp.status_code == 200, resp.text
    shape: dict[str, Any] = resp.json()["job_execution"]
    return shape


def exes(server: Server, c: httpx.Client, **params: Any) -> dict[str, Any]:
    resp = c.get(f"{v11(server)}/job-exes", params={"cluster_id": server.cluster_id, **params})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def sahara(server: Server, c: httpx.Client, job_id: str) -> dict[str, Any]:
    resp = c.get(f"{sahara_path(server)}/{job_id}")
    assert resp.status_code == 200, resp.text
    shape: dict[str, Any] = resp.json()["job_execution"]
    return shape


def wait_exe(server: Server, c: httpx.Client, job_id: str, *states: int,
             timeout: float = 30) -> dict[str, Any]:
    return wait_for(lambda: (j := exe(server, c, job_id))["job_state"] in states and j,
                    timeout=timeout, interval=0.02, message=f"{job_id} in v1.1 {states}")


def wait_sahara(server: Server, c: httpx.Client, job_id: str, *statuses: str,
                timeout: float = 30) -> dict[str, Any]:
    return wait_for(lambda: (j := sahara(server, c, job_id))["info"]["status"] in statuses
                    and j, timeout=timeout, interval=0.02,
                    message=f"{job_id} in Sahara {statuses}")


def iso_seconds(text: str) -> int:
    """An ISO time without zone (as Sahara writes UTC) in epoch seconds."""
    return int(datetime.strptime(text, ISO).replace(tzinfo=UTC).timestamp())


def is_iso(value: Any) -> bool:
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None

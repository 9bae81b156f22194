"""The service's own log lines as JSON (``MRSJOBS_LOG_FORMAT=json``), read from a
running server's stderr."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.support.server import FAST, Server
from tests.support.waiting import wait_for


def json_lines(server: Server) -> list[dict[str, Any]]:
    lines = server.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_json_lines_carry_request_project_and_job(
        server_factory: Callable[..., Server]) -> None:
    s = server_factory(**FAST, log_format="json", log_requests="true")
    with s.client() as c:
        job_id = s.submit(c, {"job_type": "SparkSubmit", "job_name": "logged",
                              "arguments": ["hdfs:///app.py"]})
        shown = c.get(f"{s.jobs_path}/{job_id}")
        assert shown.status_code == 202
        refused = c.get(s.jobs_path, headers={"X-Auth-Token": "wrong"})
        assert refused.status_code == 401
    request_id = shown.headers["x-request-id"]

    def line_of(rid: str) -> dict[str, Any] | None:
        return next((line for line in json_lines(s) if line.get("request_id") == rid), None)

    line = wait_for(lambda: line_of(request_id), timeout=10, message="the request's line")
    assert line["logger"] == "mrsjobs.requests" and line["level"] == "INFO"
    assert line["message"].startswith(f"GET {s.jobs_path}/{job_id} 202 ")
    assert (line["project_id"], line["job_id"]) == (s.project_id, job_id)
    assert line["time"][:2] == "20"
    # A refused caller names no project; its line has the request id all the same.
    unknown = wait_for(lambda: line_of(refused.headers["x-request-id"]), timeout=10,
                       message="the refused request's line")
    assert " 401 " in unknown["message"] and "project_id" not in unknown
    # Every log line of the service is one JSON object (the start banner is no log line).
    records = [ln for ln in s.log.read_text().splitlines() if '"logger"' in ln]
    assert records and all(json.loads(r)["logger"] for r in records)


def test_text_is_the_default(fast_server: Server) -> None:
    with fast_server.client() as c:
        assert c.get(fast_server.jobs_path).status_code == 202
    assert json_lines(fast_server) == []

"""A job's log over HTTP against a real server: byte ranges and their headers, stderr,
following a running job to its end, who may read which log, and streams that end
when the job or the server does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.clients import assert_error, sdk_signed
from tests.support.server import FAST, Server, new_server, stop_server
from tests.support.waiting import wait_for


def spark(name: str, *args: str) -> dict[str, Any]:
    return {"job_type": "SparkSubmit", "job_name": name,
            "arguments": ["hdfs:///app.py", *args]}


@dataclass
class Tenants:
    server: Server
    readonly_token: str
    other_token: str
    other_project: str
    other_cluster: str


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    """One server, two projects: the default one (alice; rita, readonly) and another
    (eve), each with a cluster."""
    server = new_server(tmp_path_factory.mktemp("logs"), **FAST)
    try:
        server.start()
        server.cli("user", "create", "--project", server.project_id, "--name", "rita",
                   "--role", "readonly", "--password", "rita-pw")
        other = json.loads(server.cli("project", "create", "other", "--json"))
        yield Tenants(
            server,
            server.cli("token", "create", "--project", server.project_id, "--user", "rita"),
            server.cli("token", "create", "--project", other["project_id"], "--user", "eve"),
            other["project_id"], other["cluster_id"])
    finally:
        stop_server(server)


def log_path(server: Server, job_id: str, project: str | None = None,
             cluster: str | None = None) -> str:
    return (f"/v2/{project or server.project_id}/clusters/{cluster or server.cluster_id}"
            f"/job-executions/{job_id}/log")


def finished_job(server: Server, c: httpx.Client, *args: str) -> str:
    job_id = server.submit(c, spark("logged", *args))
    server.wait_state(c, job_id, "FINISHED")
    return job_id


@dataclass
class Event:
    kind: str
    data: str
    id: str | None
    at: float


@dataclass
class Follower:
    """Reads a followed log's events on a thread, as they arrive."""

    events: list[Event] = field(default_factory=list)
    comments: int = 0
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self, client: httpx.Client, url: str, **params: str) -> threading.Thread:
        def read() -> None:
            try:
                with client.stream("GET", url, params={"follow": "true", **params},
                                   timeout=60) as resp:
                    assert resp.status_code == 200, resp.read()
                    assert resp.headers["content-type"].startswith("text/event-stream")
                    self._parse(resp.iter_lines())
            except BaseException as exc:  # reported by the test
                self.error = exc
            finally:
                self.ended.set()

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def _parse(self, lines: Iterator[str]) -> None:
        kind, data, event_id = "message", [], None
        for line in lines:
            if line == "":
                if data:
                    self.events.append(Event(kind, "\n".join(data), event_id,
                                             time.monotonic()))
                kind, data, event_id = "message", [], None
            elif line.startswith(":"):
                self.comments += 1
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("id:"):
                event_id = line[3:].strip()

    @property
    def text(self) -> str:
        return "".join(e.data for e in self.events if e.kind == "message")

    def join(self, timeout: float = 30) -> None:
        assert self.ended.wait(timeout), "the stream did not end"
        assert self.error is None, self.error


# -- byte ranges ------------------------------------------------------------------------


def test_log_reads_by_range_with_its_headers(tenants: Tenants) -> None:
    server = tenants.server
    with server.client() as c:
        job_id = finished_job(server, c, "ticks=3")
        on_disk = (server.data_dir / "runs" / job_id / "stdout.log").read_bytes()
        whole = c.get(log_path(server, job_id))
        assert whole.status_code == 200, whole.text
        assert whole.headers["content-type"] == "text/plain; charset=utf-8"
        assert whole.content == on_disk and b"tick 2 " in on_disk
        assert (whole.headers["x-log-offset"], whole.headers["x-log-next-offset"],
                whole.headers["x-log-size"]) == ("0", str(len(on_disk)), str(len(on_disk)))
        assert whole.headers["x-job-state"] == "FINISHED"

        part = c.get(log_path(server, job_id), params={"offset": 6, "limit": 10})
        assert part.content == on_disk[6:16]
        assert (part.headers["x-log-offset"], part.headers["x-log-next-offset"],
                part.headers["x-log-size"]) == ("6", "16", str(len(on_disk)))

        past = c.get(log_path(server, job_id), params={"offset": len(on_disk) + 5})
        assert past.status_code == 200 and past.content == b""
        assert past.headers["x-log-next-offset"] == str(len(on_disk) + 5)

        stderr = c.get(log_path(server, job_id), params={"type": "stderr"})
        assert stderr.content == b"tock 0\ntock 1\ntock 2\n"
        assert stderr.headers["x-log-size"] == str(len(stderr.content))


def test_bad_parameters_are_named(tenants: Tenants) -> None:
    server = tenants.server
    with server.client() as c:
        job_id = finished_job(server, c)
        url = log_path(server, job_id)
        for params, name in (({"type": "both"}, "type"), ({"offset": "-1"}, "offset"),
                             ({"offset": "x"}, "offset"), ({"limit": "0"}, "limit"),
                             ({"limit": str(2 << 20)}, "limit"),
                             ({"follow": "maybe"}, "follow")):
            assert_error(c.get(url, params=params), 400, "12000002", name)


def test_unknown_job_answers_as_show_does(tenants: Tenants) -> None:
    server = tenants.server
    with server.client() as c:
        shown = c.get(f"{server.jobs_path}/nosuchjob")
        for follow in ("false", "true"):
            resp = c.get(log_path(server, "nosuchjob"), params={"follow": follow})
            assert_error(resp, shown.status_code, shown.json()["error_code"])
        assert_error(c.get(log_path(server, "x", cluster="nosuchcluster")), 400, "12000003")


def test_a_job_without_a_log_yet_has_an_empty_one(tenants: Tenants) -> None:
    server = tenants.server
    cluster = json.loads(server.cli("cluster", "create", "--project", server.project_id,
                                    "--name", "single", "--max-running", "1", "--json"))
    jobs = f"/v2/{server.project_id}/clusters/{cluster['id']}/job-executions"
    with server.client() as c:
        running = c.post(jobs, json=spark("first", "sleep=30")).json()
        queued = c.post(jobs, json=spark("second")).json()
        queued_id = queued["job_submit_result"]["job_id"]
        try:
            resp = c.get(f"{jobs}/{queued_id}/log")
            assert resp.status_code == 200, resp.text
            assert resp.content == b"" and resp.headers["x-log-size"] == "0"
            assert resp.headers["x-job-state"] != "RUNNING"
        finally:
            c.post(jobs + "/batch-delete", json={"job_id_list": [
                running["job_submit_result"]["job_id"], queued_id]})


# -- who may read -------------------------------------------------------------------------


def test_readonly_reads_and_other_projects_cannot(tenants: Tenants) -> None:
    server = tenants.server
    with server.client() as c:
        job_id = finished_job(server, c, "ticks=1")
    with server.client(tenants.readonly_token) as c:
        resp = c.get(log_path(server, job_id))
        assert resp.status_code == 200 and b"tick 0" in resp.content
    with server.client(tenants.other_token) as c:
        # Alice's path: refused as show is; eve's own project and cluster: no such job.
        shown = c.get(f"{server.jobs_path}/{job_id}")
        resp = c.get(log_path(server, job_id))
        assert_error(resp, shown.status_code, shown.json()["error_code"])
        assert shown.status_code >= 400 and b"tick" not in resp.content
        for follow in ("false", "true"):
            resp = c.get(log_path(server, job_id, tenants.other_project,
                                  tenants.other_cluster), params={"follow": follow})
            assert_error(resp, 400, "0176")
    with server.client("not-a-token") as c:
        assert c.get(log_path(server, job_id)).status_code == 401


def test_an_access_key_signs_a_log_read(tenants: Tenants) -> None:
    server = tenants.server
    with server.client() as c:
        job_id = finished_job(server, c, "ticks=1")
    url, headers = sdk_signed(server, "GET", log_path(server, job_id),
                              query=[("type", "stderr")])
    resp = httpx.get(url, headers=headers)
    assert resp.status_code == 200 and resp.content == b"tock 0\n"


# -- following ------------------------------------------------------------------------------


def test_follow_sees_new_lines_while_the_job_runs_and_ends_with_it(tenants: Tenants) -> None:
    server = tenants.server
    follower = Follower()
    with server.client() as c:
        job_id = server.submit(c, spark("followed", "sleep=1", "ticks=10"))
        server.wait_state(c, job_id, "RUNNING")
        follower.run(c, log_path(server, job_id))
        wait_for(lambda: "tick 0 " in follower.text, timeout=30, message="tick 0")
        # Seen while the job still runs: it writes for about 1 s more.
        assert server.job(c, job_id)["job_state"] == "RUNNING"
        follower.join()
        on_disk = (server.data_dir / "runs" / job_id / "stdout.log").read_text()
        assert server.job(c, job_id)["job_state"] == "FINISHED"
    messages = [e for e in follower.events if e.kind == "message"]
    assert follower.text == on_disk  # every byte, once, in order
    assert len(messages) > 1  # in pieces as written, not all at the end
    assert int(messages[-1].id or 0) == len(on_disk.encode())
    end = follower.events[-1]
    assert end.kind == "end"
    assert json.loads(end.data) == {"job_state": "FINISHED", "job_result": "SUCCEEDED"}


def test_follow_resumes_from_an_offset(tenants: Tenants) -> None:
    server = tenants.server
    follower = Follower()
    with server.client() as c:
        job_id = finished_job(server, c, "ticks=2")
        on_disk = (server.data_dir / "runs" / job_id / "stderr.log").read_bytes()
        follower.run(c, log_path(server, job_id), type="stderr", offset="7")
        follower.join()
    assert follower.text == on_disk[7:].decode() == "tock 1\n"
    assert [e.kind for e in follower.events] == ["message", "end"]


def test_follow_of_a_deleted_job_ends(tenants: Tenants) -> None:
    server = tenants.server
    follower = Follower()
    with server.client() as c:
        job_id = server.submit(c, spark("deleted", "sleep=60"))
        server.wait_state(c, job_id, "RUNNING")
        follower.run(c, log_path(server, job_id))
        wait_for(lambda: "argv:" in follower.text, timeout=30, message="the first line")
        resp = c.post(server.jobs_path + "/batch-delete", json={"job_id_list": [job_id]})
        assert resp.status_code == 202
        follower.join()
    end = json.loads(follower.events[-1].data)
    assert end["job_state"] in ("KILLED", "RUNNING")


def test_server_shutdown_ends_follows(server_factory: Callable[..., Server]) -> None:
    server = server_factory(**FAST)
    follower = Follower()
    with server.client() as c:
        job_id = server.submit(c, spark("long", "sleep=60"))
        server.wait_state(c, job_id, "RUNNING")
        follower.run(c, log_path(server, job_id))
        wait_for(lambda: "argv:" in follower.text, timeout=30, message="the first line")
        started = time.monotonic()
        server.stop(grace=15)  # ServerHung if a stream kept it up
        assert follower.ended.wait(5)
    assert time.monotonic() - started < 10
    assert not [e for e in follower.events if e.kind == "end"]

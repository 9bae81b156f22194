"""The Sahara-compatible job executions end to end (``/v1.1/<project>/job-executions``).

Driven through a ``keystoneauth1`` session and plain HTTP, against ``mrsjobs serve``
with a trivial stand-in for Spark. One job record serves every API, so jobs cross
between Sahara, v1.1 and v2 here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.exceptions.http import NotFound
from keystoneauth1.token_endpoint import Token

from tests.e2e.v11_calls import (
    ABNORMAL,
    CANCELED,
    COMPLETED,
    EXEC_ERROR,
    MISSING,
    RUNNING,
    STARTING,
    SUCCESS,
    TERMINATED,
    exe,
    exes,
    is_iso,
    iso_seconds,
    sahara,
    sahara_path,
    spark_body,
    submit_v11,
    v11,
    wait_exe,
    wait_sahara,
)
from tests.support.procs import processes_with
from tests.support.server import FAKE_TOOL, Server
from tests.support.waiting import wait_for

# The fields of a Sahara ``job_execution`` (ISO times without zone).
SAHARA_FIELDS = {
    "id", "tenant_id", "job_id", "cluster_id", "created_at", "updated_at", "start_time",
    "end_time", "oozie_job_id", "engine_job_id", "return_code", "input_id", "output_id",
    "is_protected", "is_public", "job_configs", "data_source_urls", "info",
}


@contextmanager
def keystone(server: Server) -> Iterator[ks_session.Session]:
    """A keystoneauth1 session that sends the server's token as X-Auth-Token."""
    with requests.Session() as http:
        yield ks_session.Session(auth=Token(server.endpoint, server.token), session=http)


# -- Sahara job executions through a keystoneauth1 session ------------------------------


def test_sahara_marker_paging_and_sorting(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        submitted = [submit_v11(server, c, spark_body(server, f"page_{i}"))["id"]
                     for i in range(5)]
        for job_id in submitted:
            wait_sahara(server, c, job_id, "SUCCEEDED")
    url = server.endpoint + sahara_path(server)
    with keystone(server) as sess:

        def page(**params: Any) -> dict[str, Any]:
            resp = sess.get(url, params=params)
            assert resp.status_code == 200, resp.text
            body: dict[str, Any] = resp.json()
            return body

        def walk(sort_by: str, limit: int) -> tuple[list[str], list[int]]:
            ids: list[str] = []
            sizes: list[int] = []
            marker = None
            for _ in range(10):
                params: dict[str, Any] = {"limit": limit, "sort_by": sort_by}
                if marker is not None:
                    params["marker"] = marker
                body = page(**params)
                rows = [j["id"] for j in body["job_executions"]]
                if marker is None:
                    assert body["markers"]["prev"] is None, body["markers"]
                ids += rows
                sizes.append(len(rows))
                marker = body["markers"]["next"]
                if marker is None:
                    return ids, sizes
                assert marker == rows[-1], body["markers"]
            raise AssertionError(f"marker paging did not end: {ids}")

        full = page(sort_by="created_at", limit=100)
        assert full["markers"] == {"prev": None, "next": None}
        ordered = [j["id"] for j in full["job_executions"]]
        assert ordered == submitted
        for job in full["job_executions"]:
            assert set(job) >= SAHARA_FIELDS, SAHARA_FIELDS - set(job)
            assert (job["tenant_id"], job["cluster_id"]) == (server.project_id,
                                                             server.cluster_id)
            assert (job["job_id"], job["is_protected"]) == ("", False)
            assert job["info"]["status"] == "SUCCEEDED"
            assert all(is_iso(job[k]) for k in ("created_at", "updated_at", "start_time",
                                                 "end_time")), job

        assert walk("created_at", 2) == (submitted, [2, 2, 1])
        assert walk("-created_at", 2) == (submitted[::-1], [2, 2, 1])
        assert [j["id"] for j in page(sort_by="-created_at", limit=100)["job_executions"]] \
            == submitted[::-1]
        # Exactly the remaining rows: no next page.
        exact = page(sort_by="created_at", limit=5)
        assert exact["markers"]["next"] is None and len(exact["job_executions"]) == 5
        tail = page(sort_by="created_at", limit=2, marker=submitted[2])
        assert [j["id"] for j in tail["job_executions"]] == submitted[3:]
        assert tail["markers"]["next"] is None


def test_sahara_show_patch_cancel_delete_and_not_found(fast_server: Server) -> None:
    server = fast_server
    base = server.endpoint + sahara_path(server)
    with server.client() as c, keystone(server) as sess:
        job_id = submit_v11(server, c, spark_body(server, "sahara", "sleep=120"))["id"]
        # Launched, not only claimed: its process has started.
        wait_for(lambda: sahara(server, c, job_id)["start_time"] is not None,
                 message="the job's start")

        shown = sess.get(f"{base}/{job_id}")
        assert shown.status_code == 200, shown.text
        job = shown.json()["job_execution"]
        assert set(job) >= SAHARA_FIELDS
        assert (job["id"], job["info"]["status"]) == (job_id, "RUNNING")
        assert is_iso(job["start_time"]) and job["end_time"] is None
        assert job["return_code"] is None

        # Only a cancel is a valid change.
        bad = sess.patch(f"{base}/{job_id}", json={"info": {"status": "pause"}},
                         raise_exc=False)
        assert bad.status_code == 400, bad.text
        assert sess.patch(f"{base}/{job_id}", json={}, raise_exc=False).status_code == 400
        assert sahara(server, c, job_id)["info"]["status"] == "RUNNING"

        patched = sess.patch(f"{base}/{job_id}", json={"info": {"status": "cancel"}})
        assert patched.status_code == 202, patched.text
        assert patched.json()["job_execution"]["id"] == job_id
        assert patched.json()["job_execution"]["info"]["status"] in ("TOBEKILLED", "KILLED")
        killed = wait_sahara(server, c, job_id, "KILLED")
        assert is_iso(killed["end_time"])
        assert exe(server, c, job_id)["job_state"] == TERMINATED

        second = submit_v11(server, c, spark_body(server, "sahara2", "sleep=120"))["id"]
        wait_sahara(server, c, second, "RUNNING")
        canceled = sess.get(f"{base}/{second}/cancel")
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["job_execution"]["info"]["status"] in ("TOBEKILLED", "KILLED")
        wait_sahara(server, c, second, "KILLED")

        deleted = sess.delete(f"{base}/{job_id}")
        assert deleted.status_code == 204 and deleted.content == b""
        with pytest.raises(NotFound) as err:
            sess.get(f"{base}/{job_id}")
        assert err.value.http_status == 404
        envelope = err.value.response.json()
        assert (envelope["error_code"], envelope["error_name"]) == (404, "NOT_FOUND")
        assert envelope["error_message"]
        assert c.get(f"{v11(server)}/job-exes/{job_id}").status_code == 400

        for call in (lambda: sess.get(f"{base}/{MISSING}"),
                     lambda: sess.get(f"{base}/{MISSING}/cancel"),
                     lambda: sess.patch(f"{base}/{MISSING}", json={"info": {"status":
                                                                            "cancel"}}),
                     lambda: sess.delete(f"{base}/{MISSING}")):
            with pytest.raises(NotFound) as err:
                call()
            assert err.value.response.json()["error_name"] == "NOT_FOUND"

        # Deleting an active job kills it first; then the record goes.
        third = submit_v11(server, c, spark_body(server, "sahara3", "spawn sleep=120"))["id"]
        wait_sahara(server, c, third, "RUNNING")
        run_dir = str(server.data_dir / "runs" / third)
        wait_for(lambda: len(processes_with(run_dir)) >= 2, message="the job's processes")
        assert sess.delete(f"{base}/{third}").status_code == 204
        wait_for(lambda: sess.get(f"{base}/{third}", raise_exc=False).status_code == 404,
                 timeout=30, message="the running job to be killed and deleted")
        assert processes_with(run_dir) == []
        listed = sess.get(base, params={"limit": 100}).json()["job_executions"]
        assert [j["id"] for j in listed] == [second]


def test_another_projects_token_sees_nothing(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        job_id = submit_v11(server, c, spark_body(server, "mine"))["id"]
        wait_exe(server, c, job_id, COMPLETED)
    other = server.cli("token", "create", "--project", "otherproject", "--user", "eve")
    with server.client(other) as c:
        # This project's paths refuse the other project's token.
        for path in (sahara_path(server), f"{sahara_path(server)}/{job_id}/cancel"):
            refused = c.get(path)
            assert refused.status_code == 400, refused.text
            assert refused.json()["mrs_code"] == "12000052"
        # Under its own project, this project's job does not exist.
        own = "/v1.1/otherproject/job-executions"
        listed = c.get(own)
        assert listed.status_code == 200, listed.text
        assert listed.json()["job_executions"] == []
        assert c.get(f"{own}/{job_id}").status_code == 404
        assert c.get(f"{own}/{job_id}/cancel").status_code == 404
        assert c.delete(f"{own}/{job_id}").status_code == 404
    with server.client() as c:
        assert sahara(server, c, job_id)["info"]["status"] == "SUCCEEDED"


# -- cancel semantics -------------------------------------------------------------------


def test_cancel_queued_job_kills_it_at_once_and_it_never_runs(
        server_factory: Callable[..., Server]) -> None:
    server = server_factory(spark_submit=str(FAKE_TOOL), max_running="1")
    with server.client() as c:
        first = submit_v11(server, c, spark_body(server, "first", "sleep=120"))["id"]
        wait_exe(server, c, first, RUNNING)
        queued = submit_v11(server, c, spark_body(server, "queued"))["id"]
        third = submit_v11(server, c, spark_body(server, "third"))["id"]
        assert exe(server, c, queued)["job_state"] == STARTING
        assert sahara(server, c, queued)["info"]["status"] == "PENDING"
        assert [j["id"] for j in exes(server, c, state=STARTING)["job_executions"]] \
            in ([queued, third], [third, queued])

        resp = c.get(f"{sahara_path(server)}/{queued}/cancel")
        assert resp.status_code == 200, resp.text
        canceled = resp.json()["job_execution"]
        assert canceled["info"]["status"] == "KILLED"
        assert is_iso(canceled["end_time"]) and canceled["start_time"] is None
        killed = exe(server, c, queued)
        assert (killed["job_state"], killed["job_final_status"]) == (TERMINATED, CANCELED)
        # Cancelling again is a no-op: the same record, the same kill time.
        again = c.get(f"{sahara_path(server)}/{queued}/cancel")
        assert again.status_code == 200 and again.json()["job_execution"] == canceled
        patched = c.patch(f"{sahara_path(server)}/{queued}",
                          json={"info": {"status": "cancel"}})
        assert patched.status_code == 202 and patched.json()["job_execution"] == canceled
        assert exe(server, c, queued) == killed

        c.get(f"{sahara_path(server)}/{first}/cancel")
        wait_exe(server, c, third, COMPLETED)
        assert exe(server, c, queued) == killed
    assert not (server.data_dir / "runs" / queued).exists(), "a canceled queued job never runs"


def test_cancel_running_job_leaves_no_process(fast_server: Server) -> None:
    server = fast_server
    path = sahara_path(server)
    with server.client() as c:
        job_id = submit_v11(server, c, spark_body(server, "long", "spawn orphan sleep=120"))["id"]
        wait_sahara(server, c, job_id, "RUNNING")
        run_dir = str(server.data_dir / "runs" / job_id)
        wait_for(lambda: len(processes_with(run_dir)) >= 3, message="the job's process tree")
        first = c.get(f"{path}/{job_id}/cancel")
        second = c.get(f"{path}/{job_id}/cancel")
        assert (first.status_code, second.status_code) == (200, 200), second.text
        statuses = [r.json()["job_execution"]["info"]["status"] for r in (first, second)]
        assert set(statuses) <= {"TOBEKILLED", "KILLED"}, statuses
        if statuses == ["TOBEKILLED", "TOBEKILLED"]:
            # The second request changed nothing while the first kill is under way; the
            # signal going out between the two may move updated_at (to the next second)
            # and add its time to info.diagnostics.
            before, after = first.json()["job_execution"], second.json()["job_execution"]
            assert after["updated_at"] >= before["updated_at"]
            assert after["info"]["diagnostics"].startswith(before["info"]["diagnostics"])
            unmoved = {"updated_at": None, "info": None}
            assert after | unmoved == before | unmoved
        killed = wait_sahara(server, c, job_id, "KILLED")
        assert processes_with(run_dir) == []
        assert is_iso(killed["end_time"])
        exe_killed = exe(server, c, job_id)
        assert (exe_killed["job_state"], exe_killed["job_final_status"]) == (TERMINATED,
                                                                              CANCELED)
        # Once dead, a cancel returns the record unchanged: same kill time.
        again = c.get(f"{path}/{job_id}/cancel")
        assert again.status_code == 200 and again.json()["job_execution"] == killed
        assert exe(server, c, job_id) == exe_killed


def test_cancel_of_finished_job_changes_nothing(fast_server: Server) -> None:
    server = fast_server
    path = sahara_path(server)
    with server.client() as c:
        ok = submit_v11(server, c, spark_body(server, "ok"))["id"]
        bad = submit_v11(server, c, spark_body(server, "bad", "exit=3"))["id"]
        for job_id, status in ((ok, "SUCCEEDED"), (bad, "FAILED")):
            before = wait_sahara(server, c, job_id, status)
            exe_before = exe(server, c, job_id)
            resp = c.get(f"{path}/{job_id}/cancel")
            assert resp.status_code == 200 and resp.json()["job_execution"] == before
            resp = c.patch(f"{path}/{job_id}", json={"info": {"status": "cancel"}})
            assert resp.status_code == 202 and resp.json()["job_execution"] == before
            assert sahara(server, c, job_id) == before
            assert exe(server, c, job_id) == exe_before


# -- one record, three APIs -------------------------------------------------------------


def test_v2_job_canceled_through_sahara(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        job_id = server.submit(c, {"job_type": "SparkSubmit", "job_name": "cross2",
                                   "arguments": ["hdfs:///app.py", "sleep=120"]})
        server.wait_state(c, job_id, "RUNNING")
        assert exe(server, c, job_id)["job_state"] == RUNNING
        resp = c.get(f"{sahara_path(server)}/{job_id}/cancel")
        assert resp.status_code == 200, resp.text
        assert resp.json()["job_execution"]["id"] == job_id
        assert resp.json()["job_execution"]["info"]["status"] in ("TOBEKILLED", "KILLED")
        v2 = server.wait_state(c, job_id, "KILLED")
        assert v2["job_result"] == "KILLED"
        assert exe(server, c, job_id)["job_final_status"] == CANCELED
    assert processes_with(str(server.data_dir / "runs" / job_id)) == []


def test_finished_jobs_read_the_same_in_all_three_shapes(fast_server: Server) -> None:
    server = fast_server
    with server.client() as c:
        submitted = submit_v11(server, c, spark_body(server, "same_ok", "alpha"))
        ok = submitted["id"]
        bad = server.submit(c, {"job_type": "SparkSubmit", "job_name": "same_bad",
                                "arguments": ["hdfs:///app.py", "exit=3"]})
        expected = {ok: ("SUCCEEDED", COMPLETED, SUCCESS, "SUCCEEDED", "0"),
                    bad: ("FAILED", ABNORMAL, EXEC_ERROR, "FAILED", "3")}
        for job_id, (result, state, final, status, code) in expected.items():
            v2 = server.wait_state(c, job_id, "FINISHED")
            one = exe(server, c, job_id)
            sa = sahara(server, c, job_id)
            assert v2["job_result"] == result
            assert (one["job_state"], one["job_final_status"]) == (state, final)
            assert (sa["info"]["status"], sa["return_code"]) == (status, code)
            assert v2["job_id"] == one["id"] == sa["id"] == job_id
            assert one["job_type"] == 2
            assert v2["submitted_time"] == one["create_at"]
            assert v2["started_time"] == one["start_time"]
            assert v2["finished_time"] == one["end_time"]
            assert iso_seconds(sa["created_at"]) == one["create_at"] // 1000
            assert iso_seconds(sa["start_time"]) == one["start_time"] // 1000
            assert iso_seconds(sa["end_time"]) == one["end_time"] // 1000
        assert submitted["created_at"] == exe(server, c, ok)["create_at"] // 1000
        assert {j["id"] for j in exes(server, c)["job_executions"]} == {ok, bad}
        listed = c.get(sahara_path(server)).json()["job_executions"]
        assert {j["id"] for j in listed} == {ok, bad}

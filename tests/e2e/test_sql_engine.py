"""SQL jobs on the warm SQL engine (a Spark Connect server per project and cluster),
through ``mrsjobs serve`` and the real ``huaweicloudsdkmrs`` client: statement results
over V2-6, scripts from the file area, concurrent jobs, kills that leave other jobs
alone, another project kept out, the engine dying under a job and the service dying
mid-query. One server (and one warm engine) for the module: JVM starts are slow."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkmrs.v2 import (
    CreateExecuteJobRequest,
    JobExecution,
    MrsClient,
    ShowSqlResultWithJobRequest,
)
from sqlalchemy import create_engine, text

from mrsjobs.containment.bridge import Bridge
from mrsjobs.containment.tenants import NETNS_DIR, tenant_name
from mrsjobs.engines.spark_connect.client import JobSession, session_id
from tests.fixtures.sql import LONG_QUERY
from tests.support.clients import assert_error, sdk_client
from tests.support.procs import process_state
from tests.support.server import Server, stop_server
from tests.support.waiting import free_port, wait_for

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

JOB_TIMEOUT = 240
FINAL = ("FINISHED", "FAILED", "KILLED")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("sql")
    env = dict(os.environ, MRSJOBS_KILL_GRACE_S="5", MRSJOBS_MAX_RUNNING="8",
               MRSJOBS_SQL_ENGINE="on", MRSJOBS_SQL_RESULT_MAX_ROWS="5")
    srv = Server(data_dir=tmp / "data", port=free_port(), env=env, log=tmp / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        stop_server(srv)
        assert not engine_pids(srv), "a SQL engine outlived the service"


def engine_home(server: Server, cluster_id: str | None = None) -> Path:
    return (server.data_dir / "clusters" / (cluster_id or server.cluster_id)
            / "sql-engine").resolve()


def engine_pids(server: Server) -> list[int]:
    """The live processes of the server's SQL engines."""
    marker = f"spark.mrsjobs.sqlEngine.home={server.data_dir.resolve()}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state = process_state(entry)
        if any(a.startswith(marker) for a in args) and state and state[0] not in "zZX":
            found.append(int(entry))
    return found


def querying(server: Server, job_id: str) -> bool:
    """Whether a Spark job of ``job_id``'s session has started on the engine."""
    log = engine_home(server) / "logs" / "server.log"
    mark = f'session_id: "{session_id(job_id)}"'
    return log.exists() and any(
        "DAGScheduler: Got " in line and mark in line
        for line in log.read_text(errors="replace").splitlines())


def engine_pid(server: Server, cluster_id: str | None = None) -> int:
    return int((engine_home(server, cluster_id) / "server.pid").read_text())


def sql_job(name: str, text: str, job_type: str = "SparkSql") -> dict[str, Any]:
    return {"job_type": job_type, "job_name": name, "arguments": [text]}


def run(server: Server, *bodies: dict[str, Any], token: str | None = None,
        jobs_path: str | None = None) -> list[dict[str, Any]]:
    with server.client(token) as c:
        path = jobs_path or server.jobs_path
        ids = []
        for body in bodies:
            resp = c.post(path, json=body)
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["job_submit_result"]["job_id"])
        return [wait_for(lambda i=i: (j := c.get(f"{path}/{i}").json()["job_detail"])[
            "job_state"] in FINAL and j, timeout=JOB_TIMEOUT, interval=0.05,
            message=f"{i} to end") for i in ids]


def results(server: Server, job_id: str, token: str | None = None,
            jobs_path: str | None = None) -> Any:
    with server.client(token) as c:
        resp = c.get(f"{jobs_path or server.jobs_path}/{job_id}/sql-result")
        assert resp.status_code == 202, resp.text
        return resp.json()


def succeeded(job: dict[str, Any]) -> bool:
    return (job["job_state"], job["job_result"]) == ("FINISHED", "SUCCEEDED")


def test_statements_and_their_results_over_the_sdk(server: Server) -> None:
    client: MrsClient = sdk_client(MrsClient, server)
    text = ("create table src_wordcount (id int,name string); show tables; "
            "insert into src_wordcount values (1,'a'); insert into src_wordcount values "
            "(2,'b');SELECT * FROM src_wordcount order by id;")
    job_id = client.create_execute_job(CreateExecuteJobRequest(
        cluster_id=server.cluster_id,
        body=JobExecution(job_type="SparkSql", job_name="wordcount", arguments=[text]),
    )).job_submit_result.job_id
    with server.client() as c:
        job = server.wait_state(c, job_id, *FINAL, timeout=JOB_TIMEOUT)
    assert succeeded(job), server.log.read_text()[-3000:]
    got = client.show_sql_result_with_job(ShowSqlResultWithJobRequest(
        cluster_id=server.cluster_id, job_execution_id=job_id)).sql_results
    assert got["0"] == got["2"] == got["3"] == [{"result": "succeed"}]
    assert {"namespace": "default", "tableName": "src_wordcount",
            "isTemporary": "false"} in got["1"]
    assert got["4"] == [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}]

    # A warm engine answers a small query in well under a second (a cold spark-sql
    # takes about 8 s here).
    started = time.monotonic()
    (count,) = run(server, sql_job("count", "select count(*) as n from range(1000)"))
    assert succeeded(count)
    assert time.monotonic() - started < 5
    assert results(server, count["job_id"]) == {"sql_results": {"0": [{"n": "1000"}]}}


def test_rows_are_bounded_and_errors_are_mrs_errors(server: Server) -> None:
    (big, bad) = run(server, sql_job("big", "select id from range(100)"),
                     sql_job("bad", "select 1; select * from no_such_table; select 2"))
    assert succeeded(big)
    got = results(server, big["job_id"])
    assert got["sql_results"]["0"] == [{"id": str(i)} for i in range(5)]
    assert got["truncated_statements"] == ["0"]
    # The failing statement ends the job with the reason; what ran before is kept.
    assert (bad["job_state"], bad["job_result"]) == ("FINISHED", "FAILED")
    assert results(server, bad["job_id"]) == {"sql_results": {"0": [{"1": "1"}]}}
    with server.client() as c:
        other = server.submit(c, {"job_type": "SparkSubmit", "job_name": "app",
                                  "arguments": ["hdfs:///no/such/app.py"]})
        assert_error(c.get(f"{server.jobs_path}/{other}/sql-result"), 400, "0179")
        (empty,) = run(server, {"job_type": "SparkSql", "job_name": "empty",
                                "arguments": ["select * from no_such_table"]})
        assert_error(c.get(f"{server.jobs_path}/{empty['job_id']}/sql-result"), 400, "0181")
        assert_error(c.get(f"{server.jobs_path}/no-such-job/sql-result"), 400, "0176")


def test_a_script_from_the_file_area(server: Server) -> None:
    with server.client() as c:
        server.put_file(c, "/sql/q.sql", b"-- two statements; the second uses the first\n"
                                         b"create temporary view v as select 'x;y' as s;\n"
                                         b"select s from v;\n")
    (job,) = run(server, {"job_type": "SparkScript", "job_name": "script",
                          "arguments": ["hdfs:///sql/q.sql"]})
    assert succeeded(job)
    assert results(server, job["job_id"])["sql_results"] == {
        "0": [{"result": "succeed"}], "1": [{"s": "x;y"}]}


def test_jobs_at_once_see_each_others_tables(server: Server) -> None:
    made = run(server, sql_job("make_a", "create table t_a as select 1 as a"),
               sql_job("make_b", "create table t_b as select 2 as b"))
    assert all(succeeded(j) for j in made)
    read = run(server, sql_job("read_a", "select b from t_b"),
               sql_job("read_b", "select a from t_a"))
    assert all(succeeded(j) for j in read)
    assert results(server, read[0]["job_id"])["sql_results"]["0"] == [{"b": "2"}]
    assert results(server, read[1]["job_id"])["sql_results"]["0"] == [{"a": "1"}]


def test_a_kill_stops_its_query_and_leaves_the_others(server: Server) -> None:
    assert all(succeeded(j) for j in run(server, sql_job("warm", "select 1")))
    pid = engine_pid(server)
    with server.client() as c:
        long = server.submit(c, sql_job("long", LONG_QUERY))
        server.wait_state(c, long, "RUNNING", timeout=JOB_TIMEOUT)
        assert_error(c.get(f"{server.jobs_path}/{long}/sql-result"), 400, "0183")
        other = server.submit(c, sql_job("other", "select count(*) as n from range(10)"))
        time.sleep(0)  # both are in flight on the one engine now
        asked = time.monotonic()
        assert c.post(f"{server.jobs_path}/{long}/kill").status_code == 202
        killed = server.wait_state(c, long, *FINAL, timeout=60)
        took = time.monotonic() - asked
        done = server.wait_state(c, other, *FINAL, timeout=JOB_TIMEOUT)
    assert (killed["job_state"], killed["job_result"]) == ("KILLED", "KILLED")
    assert took < 10
    assert succeeded(done)
    assert results(server, other)["sql_results"]["0"] == [{"n": "10"}]
    assert engine_pid(server) == pid  # the engine itself was not disturbed


def test_project_b_cannot_reach_project_a(server: Server, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("per-project users and network namespaces need root")
    other = json.loads(server.cli("project", "create", "intruders", "--json"))
    token = server.cli("token", "create", "--project", other["project_id"], "--user", "eve")
    b_jobs = f"/v2/{other['project_id']}/clusters/{other['cluster_id']}/job-executions"
    a_home = engine_home(server)
    a_port = int((a_home / "server.port").read_text())
    # B's SQL sees none of A's tables, on an engine of its own.
    (tables,) = run(server, sql_job("b_tables", "show tables"), token=token, jobs_path=b_jobs)
    assert succeeded(tables), server.log.read_text()[-3000:]
    shown = results(server, tables["job_id"], token, b_jobs)["sql_results"]["0"]
    assert not [r for r in shown if r.get("tableName") == "src_wordcount"]
    assert engine_pid(server, other["cluster_id"]) != engine_pid(server)
    # B's code cannot connect to A's engine: not its port, not its socket, not its token.
    probe = f"""
import socket, sys
out = []
try:
    socket.create_connection(("127.0.0.1", {a_port}), timeout=3).close()
    out.append("port:open")
except OSError as e:
    out.append("port:refused")
for path in ({str(a_home / 'server.token')!r}, {str(a_home / 'server.port')!r}):
    try:
        open(path, "rb").read()
        out.append("file:read")
    except OSError as e:
        out.append("file:denied")
print("PROBE", " ".join(out), flush=True)
"""
    with server.client(token) as c:
        resp = c.put(f"/v2/{other['project_id']}/clusters/{other['cluster_id']}/files",
                     params={"path": "/probe.py"}, content=probe.encode())
        assert resp.status_code == 201, resp.text
    (job,) = run(server, {"job_type": "SparkPython", "job_name": "probe",
                          "arguments": ["hdfs:///probe.py"]}, token=token, jobs_path=b_jobs)
    out = (server.data_dir / "runs" / job["job_id"] / "stdout.log").read_text()
    assert "PROBE port:refused file:denied file:denied" in out, out
    # Even a caller inside A's namespace needs A's token.
    bridge = Bridge(tmp_path / "a.sock", NETNS_DIR / tenant_name(server.project_id),
                    "127.0.0.1", a_port)
    bridge.start()
    intruder = JobSession(bridge.target, "not-the-token", "intruder")
    try:
        with pytest.raises(Exception, match=r"UNAUTHENTICATED|authentication"):
            intruder.run(0, "show tables", 10)
    finally:
        intruder.close()
        bridge.stop()


def test_the_engine_dying_fails_its_job_and_the_next_gets_a_new_one(server: Server) -> None:
    assert all(succeeded(j) for j in run(server, sql_job("warm", "select 1")))
    with server.client() as c:
        long = server.submit(c, sql_job("doomed", LONG_QUERY))
        # Its query's tasks run on the engine (RUNNING alone comes before its statement
        # reaches the engine: an engine killed then is started again for it).
        wait_for(lambda: querying(server, long), timeout=JOB_TIMEOUT, interval=0.1,
                 message=f"{long}'s query on the engine")
        pid = engine_pid(server)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        failed = server.wait_state(c, long, *FINAL, timeout=60)
    assert (failed["job_state"], failed["job_result"]) == ("FAILED", "FAILED"), failed
    (after,) = run(server, sql_job("after", "select 1 as one"))
    assert succeeded(after), server.log.read_text()[-3000:]
    assert engine_pid(server) != pid
    assert results(server, after["job_id"])["sql_results"]["0"] == [{"one": "1"}]


def test_a_crash_of_the_service_mid_query_loses_nothing(server: Server) -> None:
    with server.client() as c:
        (made,) = run(server, sql_job("table", "create table crash_t (i int)"))
        assert succeeded(made)
        job = server.submit(c, sql_job(
            "crash", f"insert into crash_t values (1); {LONG_QUERY}; insert into crash_t "
                     "values (2)"))
        server.wait_state(c, job, "RUNNING", timeout=JOB_TIMEOUT)
        wait_for(lambda: stored_results(server, job) >= 1, timeout=JOB_TIMEOUT,
                 message="the first statement to be done")
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    server.proc = None
    server.launch()
    with server.client() as c:
        ended = server.wait_state(c, job, *FINAL, timeout=120)
    assert (ended["job_state"], ended["job_result"]) == ("FAILED", "FAILED")
    # Its first statement ran once, its third never: nothing was run twice.
    (count,) = run(server, sql_job("count", "select i from crash_t order by i"))
    assert succeeded(count)
    assert results(server, count["job_id"])["sql_results"]["0"] == [{"i": "1"}]


def stored_results(server: Server, job_id: str) -> int:
    """How many statements of a job have their result stored (the API says 0183 while
    the job runs)."""
    engine = create_engine(f"sqlite:///{server.data_dir / 'mrsjobs.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("select count(*) from sql_results where job_id = :j"),
                                    {"j": job_id}).scalar_one())
    finally:
        engine.dispose()

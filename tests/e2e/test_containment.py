"""Jobs of one project against another project and the service, as an attacker writes
them: a PySpark job and SQL jobs of project B, uploaded through the files API, try to
read the service's key and database, A's run directory and files, the service's
environment; to write into A's file area; to connect to A's metastore, the service's
database and its API; to signal A's running job; to see A's processes and tables.
Every attempt must fail, and A must be untouched."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from mrsjobs.engines.local.shim import proc_stat
from tests.databases import POSTGRES_URL
from tests.support.clients import assert_error
from tests.support.server import FAST, FIXTURES, Server, stop_server
from tests.support.waiting import free_port, wait_for

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0,
                             reason="per-project users and network namespaces need root")

JOB_TIMEOUT = 240
FINAL = ("FINISHED", "FAILED", "KILLED")

CANARY = f"canary-{uuid.uuid4().hex}"

VICTIM_APP = """
import time
print("victim up", flush=True)
time.sleep(600)
"""


@dataclass
class Project:
    server: Server
    project_id: str
    cluster_id: str
    token: str

    @property
    def jobs(self) -> str:
        return f"/v2/{self.project_id}/clusters/{self.cluster_id}/job-executions"

    @property
    def files(self) -> str:
        return f"/v2/{self.project_id}/clusters/{self.cluster_id}/files"

    def client(self) -> httpx.Client:
        return self.server.client(self.token)

    def put(self, path: str, data: bytes) -> None:
        with self.client() as c:
            resp = c.put(self.files, params={"path": path}, content=data)
            assert resp.status_code == 201, resp.text

    def submit(self, body: dict[str, Any]) -> str:
        with self.client() as c:
            resp = c.post(self.jobs, json=body)
            assert resp.status_code == 202, resp.text
            job_id: str = resp.json()["job_submit_result"]["job_id"]
            return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        with self.client() as c:
            resp = c.get(f"{self.jobs}/{job_id}")
            assert resp.status_code == 202, resp.text
            detail: dict[str, Any] = resp.json()["job_detail"]
            return detail

    def wait(self, job_id: str, *states: str) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["job_state"] in (states or FINAL) and j,
                        timeout=JOB_TIMEOUT, interval=0.2, message=f"{job_id} in {states}")

    def area(self) -> Path:
        return self.server.data_dir / "clusters" / self.cluster_id / "files"

    def log(self, job_id: str, name: str = "stdout.log") -> str:
        return (self.server.data_dir / "runs" / job_id / name).read_text(errors="replace")


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Project]]:
    tmp = tmp_path_factory.mktemp("containment")
    # The service's settings, and whatever else its environment holds, no job may see.
    # SQL jobs here are cold spark-sql jobs (the warm SQL engine's own attack tests are
    # in test_sql_engine.py).
    env = dict(os.environ, MRSJOBS_KILL_GRACE_S="3", MRSJOBS_ISOLATION="on",
               SERVICE_CANARY=CANARY, MRSJOBS_SQL_ENGINE="off")
    server = Server(data_dir=tmp / "data", port=free_port(), env=env, log=tmp / "server.log")
    server.start()
    try:
        other = json.loads(server.cli("project", "create", "intruders", "--json"))
        b_token = server.cli("token", "create", "--project", other["project_id"], "--user", "eve")
        yield (Project(server, server.project_id, server.cluster_id, server.token),
               Project(server, other["project_id"], other["cluster_id"], b_token))
    finally:
        stop_server(server)


def sql(name: str, text: str) -> dict[str, Any]:
    return {"job_type": "SparkSql", "job_name": name, "arguments": [text]}


@pytest.mark.spark
@AS_ROOT
def test_a_job_of_b_reaches_nothing_of_a_or_the_service(two_projects: tuple[Project, Project]
                                                        ) -> None:
    a, b = two_projects
    data = a.server.data_dir
    secret = f"A-SECRET-{uuid.uuid4().hex}"
    a.put("/private/secret.txt", secret.encode())
    a.put("/apps/victim.py", VICTIM_APP.encode())
    table_job = a.submit(sql("a_table",
                             "CREATE TABLE a_tbl (x INT); INSERT INTO a_tbl VALUES (42)"))
    victim = a.submit({"job_type": "SparkPython", "job_name": "victim",
                       "arguments": ["hdfs:///apps/victim.py"]})
    assert a.wait(table_job)["job_result"] == "SUCCEEDED", a.log(table_job, "stderr.log")[-3000:]
    a.wait(victim, "RUNNING")
    wait_for(lambda: "victim up" in a.log(victim), timeout=JOB_TIMEOUT, message="victim up")
    pid_record = json.loads((data / "runs" / victim / "pid.json").read_text())
    metastore_port = int((data / "clusters" / a.cluster_id / "metastore" / "metastore.port")
                         .read_text())
    victims = [int(p) for p in os.listdir("/proc") if p.isdigit()
               and _pgid(int(p)) == pid_record["pgid"] and int(p) != pid_record["pid"]]
    assert victims

    a_area = a.area()
    targets = {
        "read": {"secret.key": str(data / "secret.key"), "database": str(data / "mrsjobs.db"),
                 "A's log": str(data / "runs" / victim / "stdout.log"),
                 "A's pid record": str(data / "runs" / victim / "pid.json"),
                 "A's file": str(a_area / "private" / "secret.txt"),
                 "A's app": str(a_area / "apps" / "victim.py")},
        "list": {"data dir": str(data), "runs": str(data / "runs"),
                 "A's area": str(a_area), "A's cluster": str(data / "clusters" / a.cluster_id)},
        "write": {"A's area": str(a_area / "private" / "owned.txt"),
                  "A's run dir": str(data / "runs" / victim / "owned.txt"),
                  "data dir": str(data / "owned.txt")},
        "connect": {"A's metastore": metastore_port, "service API": a.server.port,
                    "service database": make_url(POSTGRES_URL).port or 5432},
        "signal": {f"A's job process {pid}": pid for pid in victims},
    }
    b.put("/apps/attack.py", (FIXTURES / "attack.py").read_bytes())
    attack = b.submit({"job_type": "SparkPython", "job_name": "attack",
                       "arguments": ["hdfs:///apps/attack.py", json.dumps(targets)]})
    sql_attacks = [
        b.submit(sql("read_text", f"SELECT * FROM text.`{a_area}/private/secret.txt`")),
        b.submit(sql("transform", "SELECT TRANSFORM(1) USING "
                                  f"'cat {data}/secret.key {a_area}/private/secret.txt'")),
        b.submit(sql("tables", "SHOW TABLES")),
    ]
    done = b.wait(attack)
    assert done["job_result"] == "SUCCEEDED", b.log(attack, "stderr.log")[-3000:]
    line = next(x for x in b.log(attack).splitlines() if x.startswith("ATTACK "))
    report = json.loads(line.removeprefix("ATTACK "))

    # A listing may show the folders that B's own mounts hang from, and nothing else.
    of_others = (victim, table_job, a.cluster_id, "secret.key", "mrsjobs.db", "instance-id")
    succeeded = {k: v for k, v in report.items() if isinstance(v, dict) and v.get("ok")
                 and (not k.startswith("list ") or any(n in v["value"] for n in of_others))}
    assert not succeeded, succeeded
    attempts = [k for k in report if k not in ("env", "processes")]
    assert len(attempts) == sum(len(v) for v in targets.values())
    env = report["env"]
    assert not [k for k in env if k.startswith("MRSJOBS")], env
    assert CANARY not in json.dumps(env)
    # Its own processes only (their command lines hold the targets, A's ids among them).
    assert report["processes"]
    assert not [p for p in report["processes"] if "attack.py" not in p], report["processes"]

    key = (data / "secret.key").read_text().strip()
    for job_id in sql_attacks:
        b.wait(job_id)
        out = b.log(job_id) + b.log(job_id, "stderr.log")
        assert secret not in out and key not in out
    assert "a_tbl" not in b.log(sql_attacks[-1])

    # A is untouched: its job runs on, its file and table are as they were.
    assert a.job(victim)["job_state"] == "RUNNING"
    assert (a_area / "private" / "secret.txt").read_text() == secret
    assert not (a_area / "private" / "owned.txt").exists()
    check = a.submit(sql("a_check", "SELECT x FROM a_tbl"))
    assert a.wait(check)["job_result"] == "SUCCEEDED"
    assert "42" in a.log(check).split()
    with a.client() as c:
        assert c.post(f"{a.jobs}/{victim}/kill").status_code == 202
    assert a.wait(victim)["job_state"] == "KILLED"


def _pgid(pid: int) -> int:
    try:
        return int(proc_stat(pid)[2])
    except OSError:
        return -1


def test_without_containment_only_the_first_project_runs_jobs(
        server_factory: Callable[..., Server]) -> None:
    """Jobs that nothing keeps apart would reach each other: a second project's submit
    is refused with the reason, the first project's jobs still run."""
    server = server_factory(**FAST, isolation="off")
    other = json.loads(server.cli("project", "create", "second", "--json"))
    token = server.cli("token", "create", "--project", other["project_id"], "--user", "bob")
    body = {"job_type": "SparkSubmit", "job_name": "j", "arguments": ["hdfs:///app.py"]}
    with server.client(token) as c:
        resp = c.post(f"/v2/{other['project_id']}/clusters/{other['cluster_id']}"
                      "/job-executions", json=body)
        assert_error(resp, 400, "12000054", "cannot keep the jobs of different projects apart")
        resp = c.post(f"/v1.1/{other['project_id']}/jobs/submit-job", json={
            "job_type": 2, "job_name": "j", "cluster_id": other["cluster_id"],
            "jar_path": "hdfs:///app.py"})
        assert_error(resp, 400, "12000054", server.project_id)
    with server.client() as c:
        job_id = server.submit(c, body)
        assert server.wait_state(c, job_id, *FINAL)["job_result"] == "SUCCEEDED"

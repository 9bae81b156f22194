"""Every runnable job type, for real, through ``mrsjobs serve`` and the Spark that pyspark ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import processes_with
from tests.support.server import Server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.spark

JOB_TIMEOUT = 240

PI_APP = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("count").getOrCreate()
n = spark.range(int(sys.argv[2])).filter("id % 2 = 0").count()
open(sys.argv[1], "w").write(str(n))
spark.stop()
"""

FAILING_APP = """
raise SystemExit("this job fails on purpose")
"""

SLOW_APP = """
import sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("slow").getOrCreate()
spark.range(10).count()
open(sys.argv[1], "w").write("up")
time.sleep(600)
"""


@pytest.fixture(scope="module")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real server for the module: its metastore starts once, its tables persist."""
    import os

    from tests.support.server import stop_server
    from tests.support.waiting import free_port

    tmp = tmp_path_factory.mktemp("spark")
    # The cold spark-sql path (the warm SQL engine has tests of its own).
    env = dict(os.environ, MRSJOBS_KILL_GRACE_S="10", MRSJOBS_MAX_RUNNING="4",
               MRSJOBS_SQL_ENGINE="off")
    server = Server(data_dir=tmp / "data", port=free_port(), env=env, log=tmp / "server.log")
    server.start()
    yield server
    stop_server(server)


def put(server: Server, path: str, data: bytes | str) -> str:
    """Upload to the cluster's file area; the ``hdfs:///`` URI a job names it by."""
    with server.client() as c:
        resp = c.put(f"/v2/{server.project_id}/clusters/{server.cluster_id}/files",
                     params={"path": path}, content=data.encode() if isinstance(data, str)
                     else data)
        assert resp.status_code == 201, resp.text
    return f"hdfs://{path}"


def area(server: Server, path: str) -> Path:
    """Where ``hdfs:///path`` of the server's cluster is on this host."""
    return server.data_dir / "clusters" / server.cluster_id / "files" / path.lstrip("/")


def run_jobs(server: Server, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    with server.client() as c:
        ids = [server.submit(c, body) for body in bodies]
        return [server.wait_state(c, job_id, "FINISHED", "FAILED", "KILLED",
                                  timeout=JOB_TIMEOUT) for job_id in ids]


def log_of(server: Server, job: dict[str, Any], name: str = "stdout.log") -> str:
    return (server.data_dir / "runs" / job["job_id"] / name).read_text(errors="replace")


def assert_succeeded(server: Server, *jobs: dict[str, Any]) -> None:
    for job in jobs:
        assert (job["job_state"], job["job_result"]) == ("FINISHED", "SUCCEEDED"), (
            job, log_of(server, job, "stderr.log")[-3000:])


def test_spark_submit_and_spark_python(spark_server: Server) -> None:
    app = put(spark_server, "/apps/count.py", PI_APP)
    submit, python = run_jobs(
        spark_server,
        {"job_type": "SparkSubmit", "job_name": "count",
         "arguments": ["--master", "yarn", "--deploy-mode", "cluster", app, "hdfs:///out1",
                       "1000"],
         "properties": {"spark.sql.shuffle.partitions": "2"}},
        {"job_type": "SparkPython", "job_name": "count_py",
         "arguments": [app, "hdfs:///out2", "10"]},
    )
    assert_succeeded(spark_server, submit, python)
    assert area(spark_server, "out1").read_text() == "500"
    assert area(spark_server, "out2").read_text() == "5"
    assert python["job_type"] == "SparkSubmit"


def test_failing_spark_job_ends_finished_failed(spark_server: Server) -> None:
    app = put(spark_server, "/apps/fail.py", FAILING_APP)
    (job,) = run_jobs(spark_server, {"job_type": "SparkSubmit", "job_name": "fails",
                                     "arguments": [app]})
    assert (job["job_state"], job["job_result"]) == ("FINISHED", "FAILED")
    # spark-submit's PythonRunner sends the application's stderr to its own stdout.
    assert "fails on purpose" in log_of(spark_server, job)


def test_sql_jobs_share_the_clusters_metastore(spark_server: Server) -> None:
    (create,) = run_jobs(spark_server, {
        "job_type": "SparkSql", "job_name": "create",
        "arguments": ["CREATE TABLE IF NOT EXISTS words (w STRING, n INT);"
                      "INSERT INTO words VALUES ('spark', 1), ('hive', 2);"]})
    assert_succeeded(spark_server, create)
    script = put(spark_server, "/sql/count.sql", "SELECT concat('total=', sum(n)) FROM words;\n")
    # Two SQL jobs at the same time on one metastore, then scripts of both kinds.
    hive_sql, spark_sql, spark_script, hive_script = run_jobs(
        spark_server,
        {"job_type": "HiveSql", "job_name": "hive_sql",
         "arguments": ["SELECT concat('hive=', count(*)) FROM words"]},
        {"job_type": "SparkSql", "job_name": "spark_sql",
         "arguments": ["--hiveconf", "x=y",
                       "CREATE TABLE IF NOT EXISTS other (id INT); SELECT 'made=other'"]},
        {"job_type": "SparkScript", "job_name": "spark_script", "arguments": [script]},
        {"job_type": "HiveScript", "job_name": "hive_script", "arguments": [script]},
    )
    assert_succeeded(spark_server, hive_sql, spark_sql, spark_script, hive_script)
    assert "hive=2" in log_of(spark_server, hive_sql)
    assert "made=other" in log_of(spark_server, spark_sql)
    assert "total=3" in log_of(spark_server, spark_script)
    assert "total=3" in log_of(spark_server, hive_script)
    (tables,) = run_jobs(spark_server, {"job_type": "SparkSql", "job_name": "tables",
                                        "arguments": ["SHOW TABLES"]})
    assert_succeeded(spark_server, tables)
    assert "words" in log_of(spark_server, tables) and "other" in log_of(spark_server, tables)


def test_bad_sql_fails(spark_server: Server) -> None:
    (job,) = run_jobs(spark_server, {"job_type": "SparkSql", "job_name": "bad_sql",
                                     "arguments": ["SELECT * FROM no_such_table"]})
    assert (job["job_state"], job["job_result"]) == ("FINISHED", "FAILED")


def test_mapreduce_wordcount(spark_server: Server, wordcount_jar: Path) -> None:
    jar = put(spark_server, "/mr/wordcount.jar", wordcount_jar.read_bytes())
    put(spark_server, "/mr/in/a.txt", "to be or not to be\n")
    (job,) = run_jobs(spark_server, {
        "job_type": "MapReduce", "job_name": "wordcount",
        "arguments": [jar, "hdfs:///mr/in", "hdfs:///mr/out"],
        "properties": {"mapreduce.job.reduces": "1"}})
    assert_succeeded(spark_server, job)
    out = area(spark_server, "mr/out/part-r-00000")
    counts = dict(line.split("\t") for line in out.read_text().splitlines())
    assert counts == {"be": "2", "not": "1", "or": "1", "to": "2"}


@pytest.mark.parametrize("how", ["v2 kill", "sahara cancel"])
def test_kill_running_spark_job_leaves_no_process(spark_server: Server, how: str) -> None:
    app = put(spark_server, "/apps/slow.py", SLOW_APP)
    up = f"/up-{how.replace(' ', '-')}"
    marker = area(spark_server, up)
    with spark_server.client() as c:
        job_id = spark_server.submit(c, {"job_type": "SparkSubmit", "job_name": "slow",
                                         "arguments": [app, f"hdfs://{up}"]})
        wait_for(marker.exists, timeout=JOB_TIMEOUT, interval=0.2, message="Spark to start")
        run_dir = str(spark_server.data_dir / "runs" / job_id)
        assert processes_with(run_dir), "the Spark driver runs in the job's directory"
        if how == "v2 kill":
            assert c.post(f"{spark_server.jobs_path}/{job_id}/kill").status_code == 202
        else:
            resp = c.get(f"/v1.1/{spark_server.project_id}/job-executions/{job_id}/cancel")
            assert resp.status_code == 200, resp.text
            assert resp.json()["job_execution"]["info"]["status"] in ("TOBEKILLED", "KILLED")
        job = spark_server.wait_state(c, job_id, "KILLED", "FINISHED", "FAILED", timeout=60)
    assert (job["job_state"], job["job_result"]) == ("KILLED", "KILLED")
    assert processes_with(run_dir) == []

"""A cluster's Hive metastore daemon outlives its service while SQL jobs need it, and
no longer: once the service is gone and the last job has ended it ends itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mrsjobs.engines.local.metastore import Metastore, MetastoreConfig
from tests.support.server import Server
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.spark, pytest.mark.timeout(600)]

IDLE_S = 3.0
SLEEP_MS = 30_000


def test_the_metastore_ends_after_its_service_and_its_last_job(
        server_factory: Callable[..., Server], spark_home: Path) -> None:
    server = server_factory(metastore_idle_s=str(IDLE_S), kill_grace_s="10",
                            sql_engine="off")
    home = server.data_dir / "clusters" / server.cluster_id / "metastore"
    metastore = Metastore(MetastoreConfig(home=home, spark_home=spark_home, idle_s=0))
    with server.client() as c:
        job_id = server.submit(c, {
            "job_type": "SparkSql", "job_name": "long",
            "arguments": ["CREATE TABLE lifetime_marker (a INT);"
                          f"SELECT reflect('java.lang.Thread', 'sleep', bigint({SLEEP_MS}));"]})
        # The table is made through the metastore: the job is connected to it.
        wait_for((home / "warehouse" / "lifetime_marker").exists, timeout=300, interval=0.2,
                 message="the job to reach the metastore")
    daemon = metastore.pid()
    assert daemon is not None
    server.stop()  # while the job runs: the service leaves the metastore to it
    exit_record = server.data_dir / "runs" / job_id / "exit.json"
    assert not exit_record.exists()
    # No service heartbeats it any more, but the job's connection keeps it: watched for
    # twice the idle period past the service's end (or until the job ends).
    until = time.time() + 2 * IDLE_S
    wait_for(lambda: metastore.pid() != daemon or exit_record.exists() or time.time() > until,
             timeout=3 * IDLE_S + 5, interval=0.1, message="twice the idle period")
    assert metastore.pid() == daemon or exit_record.exists(), (
        "the metastore of a running job ended")
    wait_for(exit_record.exists, timeout=SLEEP_MS / 1000 + 60, interval=0.2,
             message="the job to end")
    assert json.loads(exit_record.read_text())["exit_code"] == 0, (
        (server.data_dir / "runs" / job_id / "stderr.log").read_text()[-3000:])
    wait_for(lambda: metastore.pid() is None, timeout=IDLE_S + 30, interval=0.2,
             message="the metastore to end itself")
    log = (home / "logs" / "metastore.log").read_text()
    assert "exiting" in log

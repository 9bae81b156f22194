"""Two ``mrsjobs serve`` instances on one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mrsjobs.engines.local.metastore import Metastore, MetastoreConfig
from mrsjobs.store import Store
from tests.databases import postgres_database
from tests.e2e.test_recovery import (
    LAUNCHES,
    crash,
    launches,
    restartable,
    spark,
    wait_launched,
)
from tests.support.procs import kill_leftovers, processes_with
from tests.support.server import Server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def pair(server_factory: Callable[..., Server]) -> Iterator[tuple[Server, Server, Store]]:
    with postgres_database() as url:
        # Instances of one database share the server key their access keys are sealed with.
        shared = {"database_url": url, "instance_timeout_s": "1", "max_running": "20",
                  "secret_key": Fernet.generate_key().decode()}
        first = restartable(server_factory, **shared)
        second = restartable(server_factory, **shared)
        store = Store(url)
        yield first, second, store
        store.close()
        first.stop()
        second.stop()


def instance_of(server: Server) -> str:
    return (server.data_dir / "instance-id").read_text().strip()


def test_jobs_submitted_to_either_instance_run_exactly_once(
        pair: tuple[Server, Server, Store]) -> None:
    first, second, store = pair
    with first.client() as a, second.client() as b:
        ids = [server.submit(client, spark(f"j{i}", LAUNCHES, f"tag={i}"))
               for i in range(60)
               for server, client in [((first, a), (second, b))[i % 2]]]
        jobs = [first.wait_state(a, job_id, "FINISHED", timeout=60) for job_id in ids]
    assert {j["job_result"] for j in jobs} == {"SUCCEEDED"}
    # Each instance's jobs record their starts in that instance's file area.
    started = launches(first.area_path("launches")) + launches(second.area_path("launches"))
    assert started == {f"tag={i}": 1 for i in range(60)}
    owners = {store.job(i).owner for i in ids}
    assert owners <= {instance_of(first), instance_of(second)}


def test_a_kill_sent_to_the_other_instance_reaches_the_owner(
        pair: tuple[Server, Server, Store]) -> None:
    first, second, store = pair
    by_id = {instance_of(first): first, instance_of(second): second}
    with first.client() as a:
        job_id = first.submit(a, spark("long", "sleep=300"))
        first.wait_state(a, job_id, "RUNNING")
    owner = wait_for(lambda: store.job(job_id).started_ms and store.job(job_id).owner,
                     message="the job to start")
    other = next(s for i, s in by_id.items() if i != owner)
    with other.client() as c:
        assert c.post(f"{other.jobs_path}/{job_id}/kill").status_code == 202
        job = other.wait_state(c, job_id, "KILLED", timeout=10)
    assert job["job_result"] == "KILLED"
    run_root = store.job(job_id).run_root
    assert run_root is not None
    assert processes_with(str(Path(run_root) / job_id)) == []


def test_the_jobs_of_a_dead_instance_are_adopted(pair: tuple[Server, Server, Store]) -> None:
    first, second, store = pair
    with first.client() as a:
        ends = first.submit(a, spark("ends", "sleep=3", "exit=5"))
        long = first.submit(a, spark("long", "sleep=300"))
        for job_id in (ends, long):
            wait_launched(first, a, job_id)
    # Whichever instance claimed the long job dies; the other takes over all it ran.
    victim, survivor = ((first, second) if store.job(long).owner == instance_of(first)
                        else (second, first))
    crash(victim)
    wait_for(lambda: {store.job(j).owner for j in (ends, long)} == {instance_of(survivor)},
             timeout=15, message="the survivor to adopt the jobs")
    with survivor.client() as c:
        finished = survivor.wait_state(c, ends, "FINISHED", timeout=15)
        assert c.post(f"{survivor.jobs_path}/{long}/kill").status_code == 202
        killed = survivor.wait_state(c, long, "KILLED", timeout=15)
    assert finished["job_result"] == "FAILED" and store.job(ends).exit_code == 5
    assert killed["job_result"] == "KILLED"
    assert processes_with(str(victim.data_dir / "runs")) == []


@pytest.mark.spark
@pytest.mark.timeout(600)
def test_sql_jobs_of_two_instances_share_the_clusters_tables(
        server_factory: Callable[..., Server], tmp_path: Path, spark_home: Path) -> None:
    clusters = tmp_path / "clusters"
    with postgres_database() as url:
        shared = {"database_url": url, "clusters_dir": str(clusters), "kill_grace_s": "10",
                  "secret_key": Fernet.generate_key().decode(), "sql_engine": "off"}
        try:
            first = server_factory(**shared)
            second = server_factory(**shared)
            second.stop()  # only the first runs the first job
            with first.client() as a:
                create = first.submit(a, {
                    "job_type": "SparkSql", "job_name": "create",
                    "arguments": ["CREATE TABLE shared_words (w STRING, n INT);"
                                  "INSERT INTO shared_words VALUES ('a', 1), ('b', 2);"]})
                assert first.wait_state(a, create, "FINISHED", timeout=300)[
                    "job_result"] == "SUCCEEDED", first.log.read_text()[-3000:]
            metastore = Metastore(MetastoreConfig(
                home=clusters / first.cluster_id / "metastore", spark_home=spark_home))
            assert metastore.pid() is not None
            # Nothing runs anywhere: the first instance stops the metastore on its way out.
            first.stop()
            assert metastore.pid() is None
            second.start()
            with second.client() as b:
                read = second.submit(b, {
                    "job_type": "HiveSql", "job_name": "read",
                    "arguments": ["SELECT concat('rows=', count(*)) FROM shared_words"]})
                job = second.wait_state(b, read, "FINISHED", timeout=300)
            log = (second.data_dir / "runs" / read / "stdout.log").read_text(errors="replace")
            assert job["job_result"] == "SUCCEEDED", log
            assert "rows=2" in log
            store = Store(url)
            assert store.job(read).owner == instance_of(second)
            store.close()
        finally:
            kill_leftovers(str(clusters))

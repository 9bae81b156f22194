"""Clusters as configuration on a real store (SQLite and PostgreSQL): their engine and
settings, unique names, deletion, and the job service's view of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from mrsjobs.domain.access import Identity
from mrsjobs.domain.clusters import ClusterConfig, ClusterEngine
from mrsjobs.domain.errors import ClusterNotFound, JobTypeNotSupported
from mrsjobs.domain.jobs import JobQuery, JobSpec, JobState, JobType
from mrsjobs.service.clusters import create_cluster
from mrsjobs.service.jobs import JobService
from mrsjobs.store import Store
from mrsjobs.store.clusters import ClusterConflict
from tests.databases import alembic

SPARK = ClusterConfig(ClusterEngine.SPARK_STANDALONE, "spark://10.1.0.2:7077",
                      "http://10.1.0.2:6066", "/srv/spark-files", 3,
                      rest_key_file="/etc/mrsjobs/spark-rest.key")
WHO = Identity("p1", "alice")
APP = JobSpec("app", JobType.SPARK_SUBMIT, ("hdfs:///app.py",))


@pytest.fixture(params=[False, True], ids=["single", "group-commit"])
def store(request: pytest.FixtureRequest, db_url: str) -> Iterator[Store]:
    store = Store(db_url, group_commit=request.param)
    store.migrate()
    store.ensure_project("p1", "p1")
    store.ensure_project("p2", "p2")
    yield store
    store.close()


def test_a_cluster_keeps_its_engine_and_settings(store: Store) -> None:
    made = create_cluster(store, "p1", "spark", SPARK)
    local = create_cluster(store, "p1", "local", ClusterConfig())
    for cluster in (store.cluster("p1", made.id), store.cluster_by_id(made.id)):
        assert cluster == made
        assert cluster is not None and cluster.config == SPARK
        assert cluster.created_ms is not None
    assert store.cluster("p1", local.id).engine is ClusterEngine.LOCAL
    assert [c.name for c in store.clusters("p1")] == ["spark", "local"]
    with pytest.raises(ClusterNotFound):
        store.cluster("p2", made.id)


def test_names_are_unique_within_a_project(store: Store) -> None:
    create_cluster(store, "p1", "a", ClusterConfig())
    with pytest.raises(ClusterConflict, match="named a"):
        create_cluster(store, "p1", "a", SPARK)
    create_cluster(store, "p2", "a", ClusterConfig())
    with pytest.raises(ValueError, match="--master"):
        create_cluster(store, "p1", "b", ClusterConfig(ClusterEngine.SPARK_STANDALONE))
    assert [c.name for c in store.clusters()] == ["a", "a"]


def test_delete_waits_for_every_job_to_end(store: Store) -> None:
    cluster = create_cluster(store, "p1", "a", ClusterConfig())
    other = create_cluster(store, "p1", "b", ClusterConfig())
    service = JobService(store, {ClusterEngine.LOCAL: frozenset(JobType)})
    done = service.submit(WHO, "p1", cluster.id, APP)
    queued = service.submit(WHO, "p1", cluster.id, APP)
    kept = service.submit(WHO, "p1", other.id, APP)
    service.kill(WHO, "p1", cluster.id, done.id)  # a queued job is killed at once
    with pytest.raises(ClusterConflict, match="not ended"):
        store.delete_cluster(cluster.id)
    service.kill(WHO, "p1", cluster.id, queued.id)
    assert store.delete_cluster(cluster.id) == 2
    assert store.cluster_by_id(cluster.id) is None
    assert store.known_job_ids([done.id, queued.id, kept.id]) == {kept.id}
    with pytest.raises(ClusterNotFound):
        store.delete_cluster(cluster.id)


def test_a_deleted_cluster_is_unknown_to_a_service_that_knew_it(store: Store) -> None:
    cluster = create_cluster(store, "p1", "a", ClusterConfig())
    service = JobService(store, {ClusterEngine.LOCAL: frozenset(JobType)})
    first = service.submit(WHO, "p1", cluster.id, APP)  # now it is cached
    service.kill(WHO, "p1", cluster.id, first.id)
    store.delete_cluster(cluster.id)
    with pytest.raises(ClusterNotFound):
        service.submit(WHO, "p1", cluster.id, APP)
    # The next call finds it gone from the store, not from a cache.
    with pytest.raises(ClusterNotFound):
        service.authorize(WHO, "p1", cluster.id)


@pytest.mark.parametrize("job_type", [JobType.MAP_REDUCE, JobType.DIST_CP])
def test_hadoop_jobs_are_refused_on_a_standalone_cluster(store: Store,
                                                         job_type: JobType) -> None:
    cluster = create_cluster(store, "p1", "spark", SPARK)
    service = JobService(store, {engine: frozenset(JobType) for engine in ClusterEngine})
    with pytest.raises(JobTypeNotSupported) as err:
        service.submit(WHO, "p1", cluster.id, JobSpec("mr", job_type, ("hdfs:///a.jar",)))
    assert err.value.code == "12000054"
    assert service.submit(WHO, "p1", cluster.id, APP).state is JobState.ACCEPTED


def test_clusters_from_before_are_local(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.begin() as conn:
        command.upgrade(alembic(conn), "0006")
        conn.exec_driver_sql("INSERT INTO projects VALUES ('p1', 'p1', 1)")
        conn.exec_driver_sql("INSERT INTO clusters VALUES ('c1', 'p1', 'old', "
                             "'Hadoop,Hive,Spark', 5)")
    store.migrate()
    cluster = store.cluster("p1", "c1")
    assert cluster.config == ClusterConfig()
    assert (cluster.name, cluster.created_ms) == ("old", 5)
    store.close()



def test_a_cluster_on_an_engine_the_service_does_not_run_refuses_jobs(store: Store) -> None:
    """Configured, but with no engine wired for it: a submit is refused, never queued
    to run somewhere else."""
    cluster = create_cluster(store, "p1", "spark", SPARK)
    service = JobService(store, {ClusterEngine.LOCAL: frozenset(JobType)})
    with pytest.raises(JobTypeNotSupported, match="spark-standalone engine"):
        service.submit(WHO, "p1", cluster.id, APP)
    assert store.list_jobs(JobQuery(project_id="p1", cluster_id=cluster.id))[0] == 0
    assert service.submit(WHO, "p1", create_cluster(store, "p1", "here", ClusterConfig()).id,
                          APP).state is JobState.ACCEPTED

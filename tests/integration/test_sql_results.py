"""Statement results of SQL jobs in the store, on both backends: kept per statement
(a statement stored again replaces its rows), read in order, counted for a restart,
and gone with their job, whether it is deleted or purged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mrsjobs.domain.jobs import JobResult, JobSpec, JobState, JobType, Outcome
from mrsjobs.store import Cluster, Store
from mrsjobs.store.sql_results import StatementResult
from mrsjobs.supervisor.purger import Purger, RetentionConfig


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    store.migrate()
    store.ensure_project("p", "p")
    yield store
    store.close()


@pytest.fixture
def cluster(store: Store) -> Cluster:
    return store.add_cluster("p", "c", (), "c")


def sql_job(store: Store, cluster: Cluster, finished_ms: int) -> str:
    job = store.insert_job(cluster, JobSpec("q", JobType.SPARK_SQL, ("select 1",)), "u", "q")
    (claimed,) = store.claim(cluster.id, 1, "me")
    assert claimed.id == job.id
    store.save_sql_result(job.id, StatementResult(1, [{"a": "1", "b": None}], truncated=True))
    store.save_sql_result(job.id, StatementResult(0, [{"result": "succeed"}]))
    assert store.finish(job.id, Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None),
                        finished_ms=finished_ms)
    return job.id


def test_results_per_statement_in_order(store: Store, cluster: Cluster) -> None:
    job_id = sql_job(store, cluster, 1)
    store.save_sql_result(job_id, StatementResult(0, [{"result": "again"}]))
    assert store.sql_results(job_id) == [
        StatementResult(0, [{"result": "again"}]),
        StatementResult(1, [{"a": "1", "b": None}], truncated=True)]
    assert store.sql_results_stored(job_id) == 2
    assert store.sql_results("no-such-job") == []


def test_results_go_with_their_job(store: Store, cluster: Cluster, tmp_path: Path) -> None:
    deleted = sql_job(store, cluster, 1)
    purged = sql_job(store, cluster, 2)
    kept = sql_job(store, cluster, 10**13)
    assert store.delete_job(deleted)
    Purger(store, RetentionConfig(60, 60, tmp_path, 100), clock=lambda: 10**6).purge_once()
    assert store.sql_results(deleted) == store.sql_results(purged) == []
    assert store.sql_results_stored(kept) == 2

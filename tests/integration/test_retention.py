"""Retention: expired finished jobs and their directories go, in bounded batches;
active jobs and fresh directories stay, on both backends."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from mrsjobs.domain.jobs import JobResult, JobSpec, JobState, JobType, Outcome
from mrsjobs.store import Cluster, JobQuery, Store
from mrsjobs.store.tables import jobs
from mrsjobs.supervisor.purger import Purger, RetentionConfig
from tests.support.waiting import wait_for

DAY_S = 24 * 3600.0
NOW_S = time.time()
OLD_MS = int((NOW_S - 3 * DAY_S) * 1000)
FRESH_MS = int((NOW_S - 60) * 1000)


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


def purger(store: Store, runs: Path, batch: int = 1000) -> Purger:
    return Purger(store, RetentionConfig(DAY_S, 60, runs, batch), clock=lambda: NOW_S)


def finished_job(store: Store, cluster: Cluster, runs: Path, finished_ms: int,
                 state: JobState = JobState.FINISHED) -> str:
    job = store.insert_job(cluster, JobSpec("r", JobType.SPARK_SUBMIT), "u", "q")
    (claimed,) = store.claim(cluster.id, 1, "me")
    assert claimed.id == job.id
    result = {JobState.FINISHED: JobResult.SUCCEEDED, JobState.FAILED: JobResult.FAILED,
              JobState.KILLED: JobResult.KILLED}[state]
    assert store.finish(job.id, Outcome(state, result, None), finished_ms=finished_ms)
    (runs / job.id).mkdir(parents=True)
    (runs / job.id / "stdout.log").write_text("out")
    return job.id


def ids(store: Store) -> set[str]:
    _, rows = store.list_jobs(JobQuery("p", None, limit=100))
    return {j.id for j in rows}


def test_jobs_past_the_cutoff_go_with_their_directories(store: Store, cluster: Cluster,
                                                        tmp_path: Path) -> None:
    old = [finished_job(store, cluster, tmp_path, OLD_MS, s)
           for s in (JobState.FINISHED, JobState.FAILED, JobState.KILLED)]
    fresh = finished_job(store, cluster, tmp_path, FRESH_MS)
    done = purger(store, tmp_path).purge_once()
    assert done.jobs == 3
    assert ids(store) == {fresh}
    assert not any((tmp_path / j).exists() for j in old)
    assert (tmp_path / fresh / "stdout.log").exists()
    total, _ = store.list_jobs(JobQuery("p", "c"))
    assert total == 1


def test_active_jobs_are_never_purged(store: Store, cluster: Cluster, tmp_path: Path) -> None:
    queued = store.insert_job(cluster, JobSpec("q", JobType.SPARK_SUBMIT), "u", "q").id
    running = store.insert_job(cluster, JobSpec("r", JobType.SPARK_SUBMIT), "u", "q").id
    store.claim(cluster.id, 1, "me")
    # Even with an (impossible) old finished_ms, the state decides.
    with store.engine.begin() as conn:
        conn.execute(update(jobs).values(finished_ms=OLD_MS))
    for job_id in (queued, running):
        (tmp_path / job_id).mkdir()
        os.utime(tmp_path / job_id, (OLD_MS / 1000, OLD_MS / 1000))
    done = purger(store, tmp_path).purge_once()
    assert (done.jobs, done.orphans) == (0, 0)
    assert ids(store) == {queued, running}
    assert (tmp_path / queued).exists() and (tmp_path / running).exists()


def test_each_batch_is_bounded(store: Store, cluster: Cluster, tmp_path: Path) -> None:
    for _ in range(7):
        finished_job(store, cluster, tmp_path, OLD_MS)
    p = purger(store, tmp_path, batch=3)
    assert p.purge_batch(p.cutoff_ms()) == 3
    assert len(ids(store)) == 4
    assert p.purge_once().jobs == 4
    assert ids(store) == set()


def test_orphan_directories_go_only_once_old(store: Store, cluster: Cluster,
                                            tmp_path: Path) -> None:
    old_orphan, new_orphan = tmp_path / str(uuid.uuid4()), tmp_path / str(uuid.uuid4())
    not_a_job = tmp_path / "notes"
    for d in (old_orphan, new_orphan, not_a_job):
        d.mkdir()
        (d / "stdout.log").write_text("x")
    for d in (old_orphan, not_a_job):
        os.utime(d, (OLD_MS / 1000, OLD_MS / 1000))
    done = purger(store, tmp_path).purge_once()
    assert done.orphans == 1
    assert not old_orphan.exists()
    assert new_orphan.exists() and not_a_job.exists()


def test_the_purger_thread_runs_and_stops(store: Store, cluster: Cluster,
                                          tmp_path: Path) -> None:
    job_id = finished_job(store, cluster, tmp_path, OLD_MS)
    p = Purger(store, RetentionConfig(DAY_S, 0.05, tmp_path, 10))
    p.start()
    try:
        wait_for(lambda: not ids(store), timeout=10, message="the purge")
    finally:
        p.stop()
    assert not (tmp_path / job_id).exists()

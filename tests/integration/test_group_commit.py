"""Group commit: concurrent submitters share transactions, none is lost, and a batch
that fails fails every one of its callers (and commits none of their rows)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from mrsjobs.domain.jobs import JobSpec, JobType
from mrsjobs.store import JobQuery, Store
from mrsjobs.store.group_commit import GroupCommit, GroupCommitClosed
from mrsjobs.store.rows import insert_many
from mrsjobs.store.tables import jobs
from tests.support.waiting import wait_for

SPEC = JobSpec("g", JobType.SPARK_SUBMIT, ("a",))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url, group_commit=True)
    store.migrate()
    store.ensure_project("p", "p")
    store.add_cluster("p", "c", (), "c")
    yield store
    store.close()


def test_concurrent_submitters_lose_nothing(store: Store) -> None:
    cluster = store.cluster("p", "c")

    def submit(_: int) -> str:
        return store.insert_job(cluster, SPEC, "u", "q").id

    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(submit, range(400)))
    assert len(set(ids)) == 400
    assert store.known_job_ids(ids) == set(ids)
    total, _ = store.list_jobs(JobQuery("p", "c"))
    assert total == 400
    assert {store.job(i).id for i in ids[:5]} == set(ids[:5])
    # What a submitter is handed back is what the store holds.
    made = store.insert_job(cluster, SPEC, "u", "q")
    assert made == store.job(made.id)


def values(store: Store, job_id: str) -> dict[str, Any]:
    """The column values of a job as the store writes them, under a new ``job_id``."""
    job = store.insert_job(store.cluster("p", "c"), SPEC, "u", "q")
    with store.engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job.id)).mappings().one()
    return {k: v for k, v in row.items() if k != "seq"} | {"id": job_id}


def holding_first_batch(store: Store, gate: threading.Event) -> GroupCommit:
    """A group commit whose first batch waits for ``gate``, so the next one queues."""
    first = True

    @contextmanager
    def begin() -> Iterator[Connection]:
        nonlocal first
        if first:
            first = False
            gate.wait(10)
        with store.engine.begin() as conn:
            yield conn

    return GroupCommit(begin, insert_many)


def test_a_failed_batch_fails_each_caller(store: Store) -> None:
    taken = values(store, "taken")
    gate = threading.Event()
    group = holding_first_batch(store, gate)
    try:
        with ThreadPoolExecutor(8) as pool:
            blocker = pool.submit(group.insert, (taken, None))
            wait_for(lambda: group.waiting() == 0, message="the first batch to start")
            # One duplicate id spoils the whole second batch.
            rows = [values(store, f"b{i}") for i in range(4)] + [taken]
            futures = [pool.submit(group.insert, (r, None)) for r in rows]
            wait_for(lambda: group.waiting() == len(rows), message="the second batch")
            gate.set()
            blocker.result(10)
            for fut in futures:
                with pytest.raises(IntegrityError):
                    fut.result(10)
        group.insert((values(store, "after"), None))
        assert store.known_job_ids(["taken", "after"] + [f"b{i}" for i in range(4)]) == {
            "taken", "after"}
    finally:
        group.close()
    with pytest.raises(GroupCommitClosed):
        group.insert((values(store, "late"), None))


def test_a_caller_that_gave_up_is_not_written_and_the_writer_goes_on(store: Store) -> None:
    gate = threading.Event()
    group = holding_first_batch(store, gate)
    try:
        blocker = group.submit((values(store, "first"), None))
        wait_for(lambda: group.waiting() == 0, message="the first batch to start")
        assert not blocker.cancel(), "a batch already being written cannot be called off"
        gone = group.submit((values(store, "gone"), None))
        assert gone.cancel()
        gate.set()
        blocker.result(10)
        group.insert((values(store, "after"), None))
        assert store.known_job_ids(["first", "gone", "after"]) == {"first", "after"}
    finally:
        group.close()


def test_async_submitters_wait_for_their_commit(store: Store) -> None:
    cluster = store.cluster("p", "c")

    async def submit_all() -> list[str]:
        jobs_ = await asyncio.gather(
            *(store.insert_job_async(cluster, SPEC, "u", "q") for _ in range(50)))
        return [j.id for j in jobs_]

    ids = asyncio.run(submit_all())
    assert len(set(ids)) == 50
    assert store.known_job_ids(ids) == set(ids)

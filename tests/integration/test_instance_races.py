"""Instances of one database deciding together: who is lost is decided by the UPDATE,
and instances that start at once on a fresh database migrate it and make its default
project once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from mrsjobs.bootstrap import Defaults, ensure_defaults
from mrsjobs.domain.jobs import JobSpec, JobState, JobType
from mrsjobs.store import Store
from mrsjobs.store.instances import Registry
from mrsjobs.store.tables import instances
from tests.databases import postgres_database
from tests.support.waiting import wait_for


def test_an_instance_that_beat_after_the_look_keeps_its_jobs(store: Store) -> None:
    defaults = ensure_defaults(store)
    cluster = store.cluster(defaults.project_id, defaults.cluster_id)
    far = Registry(store, "far", "host-b", 1, "/runs/far")
    here = Registry(store, "here", "host-a", 2, "/runs/here")
    far.register()
    store.insert_job(cluster, JobSpec("j", JobType.SPARK_SUBMIT, ("a",)), "u", "q")
    [job] = store.claim(cluster.id, 1, "far", "/runs/far")
    # Silent for long, as ``here`` reads it...
    with store.transaction() as conn:
        conn.execute(update(instances).where(instances.c.id == "far").values(heartbeat_ms=0))
    [seen] = wait_for(lambda: here.silent(timeout_ms=60_000), message="far to look silent")
    # ... and alive again before ``here`` acts on what it read.
    far.heartbeat()
    assert here.mark_lost(seen, timeout_ms=60_000) == []
    assert store.job(job.id).state is JobState.RUNNING
    assert [i.id for i in far.silent(timeout_ms=60_000)] == []


def _at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(5))
def test_instances_starting_at_once_migrate_and_make_one_default_project(
        round_: int) -> None:
    with postgres_database() as url:
        stores = [Store(url) for _ in range(3)]

        def start(i: int) -> Defaults:
            stores[i].migrate()
            return ensure_defaults(stores[i])

        try:
            results = _at_once(len(stores), start)
            assert all(isinstance(r, Defaults) for r in results), results
            assert len({(r.project_id, r.cluster_id) for r in results}) == 1
            assert sum(r.created for r in results) == 1
            assert len(stores[0].project_ids()) == 1 and len(stores[0].clusters()) == 1
        finally:
            for s in stores:
                s.close()

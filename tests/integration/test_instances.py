"""Instances sharing one database: claims, heartbeats, adoption, kill notices.

Run on SQLite and on the PostgreSQL server (the ``db_url`` fixture).
"""

from __future__ import annotations

import threading
from collections import Counter

from mrsjobs.bootstrap import ensure_defaults
from mrsjobs.domain.jobs import JobResult, JobSpec, JobState, JobType
from mrsjobs.store import Cluster, Store
from mrsjobs.store.instances import Registry
from mrsjobs.store.notify import KillListener
from tests.databases import postgres_database
from tests.support.waiting import wait_for


def _cluster(store: Store) -> Cluster:
    defaults = ensure_defaults(store)
    return store.cluster(defaults.project_id, defaults.cluster_id)


def _queue(store: Store, cluster: Cluster, n: int) -> list[str]:
    spec = JobSpec("j", JobType.SPARK_SUBMIT, ("a",))
    return [store.insert_job(cluster, spec, "u", "q").id for _ in range(n)]


def test_concurrent_claims_take_each_job_once(store: Store) -> None:
    cluster = _cluster(store)
    ids = _queue(store, cluster, 200)
    claimed: Counter[str] = Counter()
    owners: dict[str, str] = {}
    lock = threading.Lock()
    start = threading.Barrier(4)

    def claimer(owner: str) -> None:
        start.wait()
        while True:
            got = store.claim(cluster.id, 7, owner, f"/runs/{owner}")
            if not got:
                return
            with lock:
                for job in got:
                    claimed[job.id] += 1
                    owners[job.id] = owner
                    assert job.state is JobState.RUNNING and job.owner == owner
                    assert job.run_root == f"/runs/{owner}"

    threads = [threading.Thread(target=claimer, args=(f"i{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(claimed) == set(ids)
    assert max(claimed.values()) == 1
    assert all(store.job(i).owner == owners[i] for i in ids)


def test_a_claim_by_type_takes_the_oldest_of_its_types_only(store: Store) -> None:
    """A cluster's two lanes claim apart: the SQL types, and every other type; each
    oldest first, and neither takes the other's jobs however old."""
    cluster = _cluster(store)
    sql = frozenset({JobType.SPARK_SQL, JobType.HIVE_SCRIPT})
    kinds = [JobType.SPARK_SQL, JobType.SPARK_SUBMIT, JobType.HIVE_SCRIPT, JobType.MAP_REDUCE,
             JobType.SPARK_SQL, JobType.SPARK_SUBMIT]
    ids = [store.insert_job(cluster, JobSpec("j", kind, ("a",)), "u", "q").id
           for kind in kinds]
    assert [j.id for j in store.claim(cluster.id, 2, "me", types=sql)] == [ids[0], ids[2]]
    assert [j.id for j in store.claim(cluster.id, 1, "me", types=sql, exclude=True)] == [
        ids[1]]
    assert [j.id for j in store.claim(cluster.id, 5, "me", types=sql, exclude=True)] == [
        ids[3], ids[5]]
    assert [j.id for j in store.claim(cluster.id, 5, "me", types=sql)] == [ids[4]]
    assert store.claim(cluster.id, 5, "me") == []
    assert {store.job(i).state for i in ids} == {JobState.RUNNING}


def test_a_silent_instance_on_this_host_is_adopted(store: Store) -> None:
    cluster = _cluster(store)
    dead = Registry(store, "dead", "host-a", 1, "/runs/dead")
    alive = Registry(store, "alive", "host-a", 2, "/runs/alive")
    dead.register()
    alive.register()
    queued = _queue(store, cluster, 4)[3:]
    running = [j.id for j in store.claim(cluster.id, 3, "dead", "/runs/dead")]
    assert len(running) == 3
    assert alive.silent(timeout_ms=60_000) == []
    wait_for(lambda: alive.silent(timeout_ms=1), message="the dead instance to go silent")
    [silent] = alive.silent(timeout_ms=1)
    assert (silent.id, silent.runs_dir) == ("dead", "/runs/dead")
    adopted = alive.adopt(silent, timeout_ms=1)
    assert sorted(j.id for j in adopted) == sorted(running)
    assert {j.run_root for j in adopted} == {"/runs/dead"}, "records stay where they are"
    assert all(store.job(i).owner == "alive" for i in running)
    assert store.job(queued[0]).state is JobState.ACCEPTED
    assert [i.id for i in alive.silent(timeout_ms=1)] == [], "a dead instance is forgotten"


def test_an_instance_that_beats_again_keeps_its_jobs(store: Store) -> None:
    cluster = _cluster(store)
    slow = Registry(store, "slow", "host-a", 1, "/runs/slow")
    other = Registry(store, "other", "host-a", 2, "/runs/other")
    slow.register()
    other.register()
    _queue(store, cluster, 1)
    [job] = store.claim(cluster.id, 1, "slow", "/runs/slow")
    wait_for(lambda: other.silent(timeout_ms=1), message="slow to look silent")
    [seen] = other.silent(timeout_ms=1)
    slow.heartbeat()  # back before the adoption
    assert other.adopt(seen, timeout_ms=60_000) == []
    assert store.job(job.id).owner == "slow"


def test_jobs_of_an_instance_lost_on_another_host_are_failed(store: Store) -> None:
    cluster = _cluster(store)
    gone = Registry(store, "gone", "host-b", 1, "/runs/gone")
    here = Registry(store, "here", "host-a", 2, "/runs/here")
    gone.register()
    _queue(store, cluster, 1)
    [job] = store.claim(cluster.id, 1, "gone", "/runs/gone")
    [silent] = wait_for(lambda: here.silent(timeout_ms=1), message="gone to look silent")
    assert here.mark_lost(silent, timeout_ms=60_000) == [], "not yet: the timeout is long"
    assert here.mark_lost(silent, timeout_ms=1) == [job.id]
    lost = store.job(job.id)
    assert (lost.state, lost.result) == (JobState.FAILED, JobResult.FAILED)
    assert lost.diagnostics is not None and "gone" in lost.diagnostics
    assert "host-b" in lost.diagnostics


def test_a_kill_stored_anywhere_reaches_the_owner_at_once() -> None:
    with postgres_database() as url:
        store = Store(url)
        store.migrate()
        cluster = _cluster(store)
        _queue(store, cluster, 2)
        mine, theirs = (store.claim(cluster.id, 1, owner, "/r")[0] for owner in ("me", "you"))
        heard: list[str] = []
        listener = KillListener(url, "me", heard.append)
        listener.start()
        try:
            for job in (theirs, mine):
                store.request_kill(job.id, "alice", project_id=cluster.project_id,
                                   cluster_id=cluster.id)
            wait_for(lambda: heard, timeout=5, message="the owner to hear of its kill")
            assert heard == [mine.id]
        finally:
            listener.stop()
            store.close()

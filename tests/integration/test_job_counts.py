"""The per-(project, cluster, state) counts behind list totals stay exact on every
change a job goes through, on both backends."""

from __future__ import annotations

from sqlalchemy import func, select

from mrsjobs.domain.jobs import JobResult, JobSpec, JobState, JobType, Outcome
from mrsjobs.store import Cluster, JobQuery, Store
from mrsjobs.store.tables import jobs


def counted(store: Store, project: str, cluster: str | None,
            *states: JobState) -> int:
    total, _ = store.list_jobs(JobQuery(project, cluster,
                                        job_states=frozenset(states) if states else None))
    return total


def counted_star(store: Store, project: str, cluster: str | None, *states: JobState) -> int:
    stmt = select(func.count()).select_from(jobs).where(jobs.c.project_id == project)
    if cluster is not None:
        stmt = stmt.where(jobs.c.cluster_id == cluster)
    if states:
        stmt = stmt.where(jobs.c.state.in_(sorted(states)))
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def assert_exact(store: Store, clusters: list[Cluster]) -> None:
    for c in clusters:
        for scope in (c.id, None):
            assert counted(store, c.project_id, scope) == counted_star(store, c.project_id, scope)
            for state in JobState:
                assert (counted(store, c.project_id, scope, state)
                        == counted_star(store, c.project_id, scope, state)), (scope, state)
        pair = (JobState.RUNNING, JobState.FINISHED)
        assert counted(store, c.project_id, c.id, *pair) == counted_star(
            store, c.project_id, c.id, *pair)


def test_counts_follow_inserts_state_changes_and_deletes(store: Store) -> None:
    store.ensure_project("p1", "one")
    store.ensure_project("p2", "two")
    clusters = [store.add_cluster("p1", "a", (), "c1"), store.add_cluster("p1", "b", (), "c2"),
                store.add_cluster("p2", "a", (), "c3")]
    spec = JobSpec("count", JobType.SPARK_SUBMIT, ("x",))
    ids = {c.id: [store.insert_job(c, spec, "u", "q").id for _ in range(6)] for c in clusters}
    assert counted(store, "p1", "c1", JobState.ACCEPTED) == 6
    assert_exact(store, clusters)

    claimed = store.claim("c1", 4, "me")
    assert len(claimed) == 4
    assert_exact(store, clusters)
    store.release(claimed[0].id)
    store.mark_started(claimed[1].id, 1, "l")
    store.mark_signalled(claimed[1].id, 2)  # no state change: counts untouched
    store.finish(claimed[1].id, Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None))
    store.finish(claimed[2].id, Outcome(JobState.FAILED, JobResult.FAILED, "x"))
    store.request_kill(claimed[3].id, "u", project_id="p1", cluster_id="c1")
    store.request_kill(ids["c2"][0], "u", project_id="p1", cluster_id="c2")
    assert counted(store, "p1", "c1", JobState.RUNNING) == 1
    assert_exact(store, clusters)

    assert store.delete_job(claimed[1].id)
    store.request_delete(ids["c3"][:3], "u", project_id="p2", cluster_id="c3")
    store.request_delete([ids["c2"][0]], "u", project_id="p1", cluster_id="c2")
    assert counted(store, "p2", "c3") == 3
    assert_exact(store, clusters)


def test_a_filtered_total_is_independent_of_paging(store: Store) -> None:
    store.ensure_project("p", "p")
    cluster = store.add_cluster("p", "c", (), "c")
    for i in range(25):
        store.insert_job(cluster, JobSpec(f"n{i % 2}", JobType.SPARK_SUBMIT), "u", "q")
    for page in (1, 2, 3, 9):
        total, rows = store.list_jobs(JobQuery("p", "c", limit=10, page=page))
        assert total == 25
        assert len(rows) == max(0, min(10, 25 - (page - 1) * 10))
        total, _ = store.list_jobs(JobQuery("p", "c", job_name="n0", limit=10, page=page))
        assert total == 13


def test_busy_clusters_are_those_running_a_job_of_any_instance(store: Store) -> None:
    store.ensure_project("p1", "one")
    store.ensure_project("p2", "two")
    clusters = [store.add_cluster("p1", "a", (), "c1"), store.add_cluster("p1", "b", (), "c2"),
                store.add_cluster("p2", "a", (), "c3")]
    spec = JobSpec("busy", JobType.SPARK_SQL, ("SELECT 1",))
    for c in clusters:
        store.insert_job(c, spec, "u", "q")
    assert store.busy_clusters() == set()  # queued is not busy
    (mine,) = store.claim("c1", 1, "instance-a")
    (theirs,) = store.claim("c3", 1, "instance-b")
    assert store.busy_clusters() == {"c1", "c3"}
    store.finish(mine.id, Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None))
    assert store.busy_clusters() == {"c3"}
    store.finish(theirs.id, Outcome(JobState.KILLED, JobResult.KILLED, "killed"))
    assert store.busy_clusters() == set()

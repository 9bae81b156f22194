"""The job use cases: submit, list, show, kill, cancel, delete, each checked against the
caller's project and role. Typed specs and queries in, domain objects out: no HTTP,
no wire format and no SQL here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Protocol

from ..domain.access import Action, Identity
from ..domain.clusters import ClusterEngine
from ..domain.errors import (
    AccessDenied,
    ClusterNotFound,
    ContainmentMissing,
    JobTypeNotSupported,
    SqlResultUnavailable,
)
from ..domain.jobs import (
    COMPONENT_OF,
    SQL_FILE_TYPES,
    SQL_TEXT_TYPES,
    TERMINAL,
    Component,
    Job,
    JobPage,
    JobQuery,
    JobSpec,
    JobState,
    JobType,
)
from ..domain.submit import check_spec
from ..store import Cluster, Store
from ..store.clusters import StaleReference
from ..store.identity import audit_event
from ..store.sql_results import StatementResult

#: What the job types need when a cluster lacks their component.
MISSING_COMPONENT = {
    Component.SPARK: ("0057", "Spark jobs cannot be submitted."),
    Component.HIVE: ("0168", "Hive jobs cannot be submitted."),
    Component.FLINK: ("0169", "Flink jobs cannot be submitted."),
    Component.HADOOP: ("12000054", "MapReduce jobs cannot be submitted."),
}

DEFAULT_QUEUE = "default"

#: How long a cluster once found is taken as it is without a look at the store: an
#: operator may delete it meanwhile (a submit that races the delete is refused by the
#: database, and told the cluster is gone).
CLUSTER_CACHE_S = 2.0


class Notifier(Protocol):
    """Who runs the jobs: told at once about new jobs and kill requests (the store
    has them already; without a notice they are found on the next poll)."""

    def submitted(self, cluster_id: str) -> None: ...

    def kill_requested(self, job_id: str) -> None: ...


class NoNotifier:
    def submitted(self, cluster_id: str) -> None:
        pass

    def kill_requested(self, job_id: str) -> None:
        pass


class AuditLog(Protocol):
    """Where job changes are recorded, right after they are made."""

    def record(self, who: Identity, action: Action, job_ids: Iterable[str]) -> None: ...


class NoAuditLog:
    def record(self, who: Identity, action: Action, job_ids: Iterable[str]) -> None:
        pass


def check_access(who: Identity, project_id: str, *, change: bool = False,
                 what: str = "jobs") -> None:
    """The caller's credentials are scoped to ``project_id`` (and, for a ``change``,
    its role may change things): AccessDenied otherwise."""
    if who.project_id != project_id:
        raise AccessDenied(f"No access rights: the credentials are not scoped to "
                           f"project {project_id}.")
    if change and not who.role.may_change_jobs:
        raise AccessDenied(f"No access rights: the {who.role.value} role may only list "
                           f"and show {what}.")


class JobService:
    """Every use case checks the caller first. An API may ask the same with
    :meth:`authorize` (or :meth:`authorize_submit`) before it reads a request's body
    or query, so that a caller without access learns nothing about their faults."""

    def __init__(self, store: Store, runnable: Mapping[ClusterEngine, frozenset[JobType]],
                 notifier: Notifier | None = None, audit: AuditLog | None = None, *,
                 read_roots: Sequence[PurePosixPath] = (),
                 sole_project: str | None = None,
                 admit: Callable[[Cluster, JobSpec], None] | None = None) -> None:
        self.store = store
        #: The cluster's own check of a job it could never run (its engine's capacity).
        self.admit = admit
        self.runnable = runnable
        # Where jobs may read files from besides their cluster's file area (hdfs:///).
        self.read_roots = tuple(read_roots)
        # Where jobs cannot be kept apart per project, the one project that runs jobs.
        self.sole_project = sole_project
        self.notifier = notifier or NoNotifier()
        self.audit = audit or NoAuditLog()
        # (project, cluster) -> the cluster and until when it is taken as found.
        self._clusters: dict[tuple[str, str], tuple[Cluster, float]] = {}

    # -- access ---------------------------------------------------------------------

    def authorize(self, who: Identity, project_id: str, cluster_id: str | None = None, *,
                  change: bool = False) -> None:
        """AccessDenied unless ``who`` may see (or ``change``) the project's jobs;
        ClusterNotFound unless the project has ``cluster_id`` (when given)."""
        if cluster_id is None:
            check_access(who, project_id, change=change)
        else:
            self._cluster(who, project_id, cluster_id, change=change)

    def authorize_submit(self, who: Identity, project_id: str,
                         cluster_id: str | None = None) -> None:
        """:meth:`authorize` for a change, and this service runs the project's jobs."""
        self.authorize(who, project_id, cluster_id, change=True)
        self._check_contained(project_id)

    def _check_contained(self, project_id: str) -> None:
        if self.sole_project is not None and project_id != self.sole_project:
            raise ContainmentMissing(
                "The operation is not supported: this service cannot keep the jobs of "
                "different projects apart (it needs root, bubblewrap and iproute2), so it "
                f"runs the jobs of project {self.sole_project} only.")

    def _cluster(self, who: Identity, project_id: str, cluster_id: str, *,
                 change: bool = False) -> Cluster:
        check_access(who, project_id, change=change)
        key = (project_id, cluster_id)
        now = time.monotonic()
        found = self._clusters.get(key)
        if found is not None and found[1] > now:
            return found[0]
        try:
            cluster = self.store.cluster(project_id, cluster_id)
        except ClusterNotFound:
            self._clusters.pop(key, None)
            raise
        self._clusters[key] = (cluster, now + CLUSTER_CACHE_S)
        return cluster

    def _still_there(self, cluster: Cluster) -> Cluster:
        """The cluster as the store has it now (ClusterNotFound if deleted), after an
        insert the database refused: it refers to a cluster that may be gone."""
        self._clusters.pop((cluster.project_id, cluster.id), None)
        return self.store.cluster(cluster.project_id, cluster.id)

    # -- jobs -----------------------------------------------------------------------

    def submit(self, who: Identity, project_id: str, cluster_id: str, spec: JobSpec) -> Job:
        cluster = self._submittable(who, project_id, cluster_id, spec)
        audit = audit_event(who, Action.SUBMIT)
        try:
            job = self.store.insert_job(cluster, spec, who.user, DEFAULT_QUEUE, audit=audit)
        except StaleReference:
            # Ours, or a batch-mate's whose cluster went (nothing of the batch is
            # stored): once more if ours is still there.
            cluster = self._still_there(cluster)
            job = self.store.insert_job(cluster, spec, who.user, DEFAULT_QUEUE, audit=audit)
        self.notifier.submitted(cluster.id)
        return job

    async def submit_async(self, who: Identity, project_id: str, cluster_id: str,
                           spec: JobSpec) -> Job:
        """:meth:`submit` on an event loop: no worker thread waits for the commit."""
        cluster = self._submittable(who, project_id, cluster_id, spec)
        audit = audit_event(who, Action.SUBMIT)
        try:
            job = await self.store.insert_job_async(cluster, spec, who.user, DEFAULT_QUEUE,
                                                    audit=audit)
        except StaleReference:
            cluster = self._still_there(cluster)
            job = await self.store.insert_job_async(cluster, spec, who.user, DEFAULT_QUEUE,
                                                    audit=audit)
        self.notifier.submitted(cluster.id)
        return job

    def _submittable(self, who: Identity, project_id: str, cluster_id: str,
                     spec: JobSpec) -> Cluster:
        cluster = self._cluster(who, project_id, cluster_id, change=True)
        self._check_contained(project_id)
        check_spec(spec, self.read_roots)
        self._check_runnable(cluster, spec.type)
        if self.admit is not None:
            self.admit(cluster, spec)
        return cluster

    def _check_runnable(self, cluster: Cluster, job_type: JobType) -> None:
        component = COMPONENT_OF[job_type]
        if component not in cluster.components:
            code, message = MISSING_COMPONENT[component]
            raise JobTypeNotSupported(message, code)
        runs = self.runnable.get(cluster.engine)
        if runs is None:
            raise JobTypeNotSupported(
                f"The operation is not supported: cluster {cluster.id} runs on the "
                f"{cluster.engine.value} engine, which this service is not set up to run.")
        if job_type not in runs:
            raise JobTypeNotSupported(
                f"The operation is not supported: cluster {cluster.id} cannot run "
                f"{job_type.value} jobs.")

    def show(self, who: Identity, project_id: str, cluster_id: str, job_id: str) -> Job:
        self._cluster(who, project_id, cluster_id)
        return self.store.job(job_id, project_id=project_id, cluster_id=cluster_id)

    def sql_result(self, who: Identity, project_id: str, cluster_id: str,
                   job_id: str) -> list[StatementResult]:
        """The stored statement results of a SQL job, as MRS's V2-6 gives them."""
        job = self.show(who, project_id, cluster_id, job_id)
        if job.type not in SQL_TEXT_TYPES | SQL_FILE_TYPES:
            raise SqlResultUnavailable("0179", "The job type must be SparkSql or SparkScript.")
        if job.state is JobState.RUNNING:
            raise SqlResultUnavailable("0183", "The job is running.")
        if job.state not in TERMINAL:
            raise SqlResultUnavailable("0180", "The job is being submitted.")
        found = self.store.sql_results(job.id)
        if not found:
            raise SqlResultUnavailable("0181", "The SQL job result collection is empty.")
        return found

    def list_jobs(self, who: Identity, query: JobQuery) -> tuple[int, list[Job]]:
        """The total of the jobs ``query`` matches, and its page of them; a query
        without a cluster covers the whole project."""
        self.authorize(who, query.project_id, query.cluster_id)
        return self.store.list_jobs(query)

    def kill(self, who: Identity, project_id: str, cluster_id: str, job_id: str,
             action: Action = Action.KILL) -> Job:
        """Durable the moment it returns; finished jobs are left as they are."""
        self._cluster(who, project_id, cluster_id, change=True)
        job = self.store.request_kill(job_id, who.user, project_id=project_id,
                                      cluster_id=cluster_id)
        self.audit.record(who, action, [job.id])
        if job.state is JobState.RUNNING:
            self.notifier.kill_requested(job.id)
        return job

    def batch_delete(self, who: Identity, project_id: str, cluster_id: str,
                     job_ids: Sequence[str]) -> None:
        self._cluster(who, project_id, cluster_id, change=True)
        self.store.request_delete(job_ids, who.user, project_id=project_id,
                                  cluster_id=cluster_id)
        self.audit.record(who, Action.DELETE, sorted(set(job_ids)))
        for job_id in job_ids:
            self.notifier.kill_requested(job_id)

    # -- jobs addressed by project and id (the v1.1 APIs) ------------------------------

    def job_in_project(self, who: Identity, project_id: str, job_id: str, *,
                       change: bool = False) -> Job:
        check_access(who, project_id, change=change)
        return self.store.job(job_id, project_id=project_id)

    def cancel(self, who: Identity, project_id: str, job_id: str) -> Job:
        """The Sahara cancel: the kill of a job addressed by project and id."""
        job = self.job_in_project(who, project_id, job_id, change=True)
        return self.kill(who, project_id, job.cluster_id, job_id, Action.CANCEL)

    def delete(self, who: Identity, project_id: str, job_id: str) -> None:
        job = self.job_in_project(who, project_id, job_id, change=True)
        self.batch_delete(who, project_id, job.cluster_id, [job_id])

    def page(self, who: Identity, page: JobPage
             ) -> tuple[list[Job], str | None, str | None]:
        """The jobs of ``page``, and the markers of the pages before and after it (None
        where there is none)."""
        check_access(who, page.project_id)
        return self.store.page_after(page.project_id, limit=page.limit, marker=page.marker,
                                     sort=page.sort, descending=page.descending)

"""The job use cases: submit, list, show, kill, delete, each checked against the
caller's project and role. No HTTP and no SQL here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Protocol, TypeVar

from ..api.compat import V11_STATE_MEANS, V11State
from ..api.validation import BatchDeleteRequest, parse_model, submit_spec, submit_v11_spec
from ..domain.access import Action, Identity
from ..domain.errors import AccessDenied, ContainmentMissing, InvalidParameter, JobTypeNotSupported
from ..domain.jobs import COMPONENT_OF, Component, Job, JobResult, JobSpec, JobState, JobType
from ..store import Cluster, JobQuery, Store
from ..store.identity import audit_event

#: What the job types need when a cluster lacks their component.
MISSING_COMPONENT = {
    Component.SPARK: ("0057", "Spark jobs cannot be submitted."),
    Component.HIVE: ("0168", "Hive jobs cannot be submitted."),
    Component.FLINK: ("0169", "Flink jobs cannot be submitted."),
    Component.HADOOP: ("12000054", "MapReduce jobs cannot be submitted."),
}

E = TypeVar("E", JobType, JobState, JobResult)

DEFAULT_QUEUE = "default"
MAX_PAGE_SIZE = 1000


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
    def __init__(self, store: Store, runnable: frozenset[JobType],
                 notifier: Notifier | None = None, audit: AuditLog | None = None, *,
                 read_roots: Sequence[PurePosixPath] = (),
                 sole_project: str | None = None) -> None:
        self.store = store
        self.runnable = runnable
        # Where jobs may read files from besides their cluster's file area (hdfs:///).
        self.read_roots = tuple(read_roots)
        # Where jobs cannot be kept apart per project, the one project that runs jobs.
        self.sole_project = sole_project
        self.notifier = notifier or NoNotifier()
        self.audit = audit or NoAuditLog()
        # Clusters are never deleted or moved, so a cluster once found stays valid.
        self._clusters: dict[tuple[str, str], Cluster] = {}

    # -- access ---------------------------------------------------------------------

    def _project(self, who: Identity, project_id: str, *, change: bool = False) -> None:
        check_access(who, project_id, change=change)

    def _check_contained(self, project_id: str) -> None:
        if self.sole_project is not None and project_id != self.sole_project:
            raise ContainmentMissing(
                "The operation is not supported: this service cannot keep the jobs of "
                "different projects apart (it needs root, bubblewrap and iproute2), so it "
                f"runs the jobs of project {self.sole_project} only.")

    def _cluster(self, who: Identity, project_id: str, cluster_id: str, *,
                 change: bool = False) -> Cluster:
        self._project(who, project_id, change=change)
        key = (project_id, cluster_id)
        cluster = self._clusters.get(key)
        if cluster is None:
            cluster = self._clusters[key] = self.store.cluster(project_id, cluster_id)
        return cluster

    # -- jobs -----------------------------------------------------------------------

    def submit(self, who: Identity, project_id: str, cluster_id: str, body: Any) -> Job:
        cluster, spec = self._submission(who, project_id, cluster_id, body)
        job = self.store.insert_job(cluster, spec, who.user, DEFAULT_QUEUE,
                                    audit=audit_event(who, Action.SUBMIT))
        self.notifier.submitted(cluster.id)
        return job

    async def submit_async(self, who: Identity, project_id: str, cluster_id: str,
                           body: Any) -> Job:
        """:meth:`submit` on an event loop: no worker thread waits for the commit."""
        cluster, spec = self._submission(who, project_id, cluster_id, body)
        job = await self.store.insert_job_async(cluster, spec, who.user, DEFAULT_QUEUE,
                                                audit=audit_event(who, Action.SUBMIT))
        self.notifier.submitted(cluster.id)
        return job

    def _submission(self, who: Identity, project_id: str, cluster_id: str,
                    body: Any) -> tuple[Cluster, JobSpec]:
        cluster = self._cluster(who, project_id, cluster_id, change=True)
        self._check_contained(project_id)
        spec = submit_spec(body, read_roots=self.read_roots)
        self._check_runnable(cluster, spec.type)
        return cluster, spec

    def _check_runnable(self, cluster: Cluster, job_type: JobType) -> None:
        component = COMPONENT_OF[job_type]
        if component not in cluster.components:
            code, message = MISSING_COMPONENT[component]
            raise JobTypeNotSupported(message, code)
        if job_type not in self.runnable:
            raise JobTypeNotSupported(
                f"The operation is not supported: cluster {cluster.id} cannot run "
                f"{job_type.value} jobs.")

    def show(self, who: Identity, project_id: str, cluster_id: str, job_id: str) -> Job:
        self._cluster(who, project_id, cluster_id)
        return self.store.job(job_id, project_id=project_id, cluster_id=cluster_id)

    def list_jobs(self, who: Identity, project_id: str, cluster_id: str,
             params: Mapping[str, str]) -> tuple[int, list[Job]]:
        self._cluster(who, project_id, cluster_id)
        return self.store.list_jobs(list_query(project_id, cluster_id, params))

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

    def batch_delete(self, who: Identity, project_id: str, cluster_id: str, body: Any) -> None:
        self._cluster(who, project_id, cluster_id, change=True)
        req = parse_model(BatchDeleteRequest, body)
        self.store.request_delete(req.job_id_list, who.user, project_id=project_id,
                                  cluster_id=cluster_id)
        self.audit.record(who, Action.DELETE, sorted(set(req.job_id_list)))
        for job_id in req.job_id_list:
            self.notifier.kill_requested(job_id)


    # -- the v1.1 APIs: jobs addressed by project and id ------------------------------

    def submit_v11(self, who: Identity, project_id: str, body: Any) -> Job:
        self._project(who, project_id, change=True)
        self._check_contained(project_id)
        cluster_id, spec = submit_v11_spec(body, read_roots=self.read_roots)
        cluster = self._cluster(who, project_id, cluster_id, change=True)
        self._check_runnable(cluster, spec.type)
        job = self.store.insert_job(cluster, spec, who.user, DEFAULT_QUEUE,
                                    audit=audit_event(who, Action.SUBMIT))
        self.notifier.submitted(cluster.id)
        return job

    def list_v11(self, who: Identity, project_id: str,
                 params: Mapping[str, str]) -> tuple[int, list[Job]]:
        cluster_id = params.get("cluster_id")
        if not cluster_id:
            raise InvalidParameter("cluster_id", "is required")
        self._cluster(who, project_id, cluster_id)
        state = params.get("state")
        states, result = None, None
        if state:
            try:
                states, result = V11_STATE_MEANS[V11State(int(state))]
            except ValueError:
                raise InvalidParameter("state", "must be one of -1, 1, 2, 3, 4, 5") from None
        return self.store.list_jobs(JobQuery(
            project_id=project_id, cluster_id=cluster_id,
            job_name=_text(params, "job_name", 64), job_id=_text(params, "id", 64),
            job_states=states, job_result=result,
            limit=_int(params, "page_size", 10, 1, 100),
            page=_int(params, "current_page", 1, 1, 2**31)))

    def job_in_project(self, who: Identity, project_id: str, job_id: str, *,
                       change: bool = False) -> Job:
        self._project(who, project_id, change=change)
        return self.store.job(job_id, project_id=project_id)

    def cancel(self, who: Identity, project_id: str, job_id: str) -> Job:
        """The Sahara cancel: the v2 kill of a job addressed by project and id."""
        job = self.job_in_project(who, project_id, job_id, change=True)
        return self.kill(who, project_id, job.cluster_id, job_id, Action.CANCEL)

    def delete(self, who: Identity, project_id: str, job_id: str) -> None:
        job = self.job_in_project(who, project_id, job_id, change=True)
        self.batch_delete(who, project_id, job.cluster_id, {"job_id_list": [job_id]})

    def page_sahara(self, who: Identity, project_id: str, params: Mapping[str, str]
                    ) -> tuple[list[Job], str | None, str | None]:
        self._project(who, project_id)
        sort_by = params.get("sort_by") or "created_at"
        column = SAHARA_SORT.get(sort_by.removeprefix("-"))
        if column is None:
            raise InvalidParameter("sort_by", f"must be one of {', '.join(SAHARA_SORT)}, "
                                              "with '-' in front for descending order")
        return self.store.page_after(
            project_id, limit=_int(params, "limit", 100, 1, 1_073_741_822),
            marker=params.get("marker") or None, sort=column,
            descending=sort_by.startswith("-"))


#: Sahara ``sort_by`` field -> jobs column.
SAHARA_SORT = {"created_at": "submitted_ms", "start_time": "started_ms",
               "end_time": "finished_ms", "id": "id", "cluster_id": "cluster_id",
               "job_name": "name"}


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(name, "must be an integer") from None
    if not low <= value <= high:
        raise InvalidParameter(name, f"must be between {low} and {high}")
    return value


def _enum(params: Mapping[str, str], name: str, cls: type[E]) -> E | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = cls(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidParameter(name, f"must be one of {allowed}") from None
    return value


def _text(params: Mapping[str, str], name: str, max_len: int) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    if len(raw) > max_len:
        raise InvalidParameter(name, f"longer than {max_len} characters")
    return raw


def list_query(project_id: str, cluster_id: str, params: Mapping[str, str]) -> JobQuery:
    """A v2 list query from its query-string parameters."""
    sort_by = params.get("sort_by") or "desc"
    if sort_by not in ("asc", "desc"):
        raise InvalidParameter("sort_by", "must be asc or desc")
    max_ms = 2**63 - 1
    job_type = _enum(params, "job_type", JobType)
    return JobQuery(
        project_id=project_id,
        cluster_id=cluster_id,
        job_name=_text(params, "job_name", 128),
        job_id=_text(params, "job_id", 64),
        user=_text(params, "user", 32),
        job_type=job_type.stored if job_type else None,
        job_states=frozenset({state}) if (state := _enum(params, "job_state", JobState))
        else None,
        job_result=_enum(params, "job_result", JobResult),
        queue=_text(params, "queue", 64),
        submitted_from_ms=_int(params, "submitted_time_begin", 0, 0, max_ms)
        if params.get("submitted_time_begin") else None,
        submitted_to_ms=_int(params, "submitted_time_end", 0, 0, max_ms)
        if params.get("submitted_time_end") else None,
        limit=_int(params, "limit", 10, 1, MAX_PAGE_SIZE),
        page=_int(params, "offset", 1, 1, 2**31),
        descending=sort_by == "desc",
    )

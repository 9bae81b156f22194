"""The job writes: submission, and every state change as a single conditional UPDATE
built from :data:`mrsjobs.domain.jobs.TRANSITIONS`; zero rows changed means "not
allowed"."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, update
from sqlalchemy.sql import Executable

from ..domain.clock import now_ms
from ..domain.errors import JobNotFound
from ..domain.jobs import TERMINAL, Job, JobSpec, JobType, Outcome
from . import retention
from . import statements as sql
from .clusters import Cluster
from .group_commit import COMMIT_TIMEOUT_S, GroupCommit
from .job_reads import JobReads
from .rows import insert_many, job_of, job_of_row, new_job
from .tables import jobs


class JobChanges(JobReads):
    """The job writes of :class:`~mrsjobs.store.Store`."""

    #: The writer that concurrent submits share, if the store was made with one.
    _group: GroupCommit | None = None

    def insert_job(self, cluster: Cluster, spec: JobSpec, user: str, queue: str,
                   audit: Mapping[str, Any] | None = None) -> Job:
        """Store a new job, already queued (NEW -> ACCEPTED happens in this one INSERT).

        ``audit`` is the audit event of the submission without its job id: it is
        written in the same transaction, so neither exists without the other.
        """
        new = new_job(cluster.project_id, cluster.id, spec, user, queue, audit)
        if self._group is not None:
            self._group.insert(new)
        else:
            with self._write() as conn:
                insert_many(conn, [new])
        return job_of(new[0])

    async def insert_job_async(self, cluster: Cluster, spec: JobSpec, user: str, queue: str,
                               audit: Mapping[str, Any] | None = None) -> Job:
        """:meth:`insert_job` for an event loop, which stays free while the row commits."""
        if self._group is None:
            return await asyncio.to_thread(self.insert_job, cluster, spec, user, queue, audit)
        new = new_job(cluster.project_id, cluster.id, spec, user, queue, audit)
        await asyncio.wait_for(asyncio.wrap_future(self._group.submit(new)), COMMIT_TIMEOUT_S)
        return job_of(new[0])

    def _change(self, stmt: Executable, **params: Any) -> Job | None:
        with self._write() as conn:
            row = conn.execute(stmt, params).first()
        return job_of_row(row) if row else None

    def request_kill(self, job_id: str, by: str, *, project_id: str,
                     cluster_id: str) -> Job:
        """Record a kill request durably; a job that has not launched is killed at once.

        Returns the job as it is after the request. Finished jobs are left as they are.
        """
        params = {"p_id": job_id, "p_project": project_id, "p_cluster": cluster_id,
                  "p_now": now_ms(), "p_by": by}
        with self._write() as conn:
            row = conn.execute(sql.KILL_BEFORE_LAUNCH, params).first()
            if row is None:
                row = conn.execute(sql.REQUEST_KILL, params).first()
                if row is not None:
                    self._tell_owner(conn, row)
        if row is not None:
            return job_of_row(row)
        return self.job(job_id, project_id=project_id, cluster_id=cluster_id)

    def request_delete(self, job_ids: Sequence[str], by: str, *, project_id: str,
                       cluster_id: str) -> None:
        """Delete jobs; active ones are killed first and removed once the kill completes.

        All or nothing: if any id is unknown, nothing changes.
        """
        ids = sorted(set(job_ids))
        scope = (jobs.c.id.in_(ids), jobs.c.project_id == project_id,
                 jobs.c.cluster_id == cluster_id)
        now = now_ms()
        with self._write() as conn:
            # A write first: SQLite then holds the write lock for the whole transaction.
            found = conn.execute(
                update(jobs).where(*scope).values(delete_requested=True).returning(jobs.c.id)
            ).scalars().all()
            if len(found) != len(ids):
                missing = sorted(set(ids) - set(found))
                conn.rollback()
                raise JobNotFound(f"The job does not exist: {', '.join(missing)}")
            for job_id in ids:
                params = {"p_id": job_id, "p_project": project_id, "p_cluster": cluster_id,
                          "p_now": now, "p_by": by}
                if conn.execute(sql.KILL_BEFORE_LAUNCH, params).first() is None:
                    row = conn.execute(sql.REQUEST_KILL, params).first()
                    if row is not None:
                        self._tell_owner(conn, row)
            conn.execute(delete(jobs).where(*scope, jobs.c.state.in_(sorted(TERMINAL))))

    def _tell_owner(self, conn: Connection, row: Row[Any]) -> None:
        """On PostgreSQL, wake the job's owner, which may be another instance (the
        notice goes out at commit; owners also poll, so a lost notice only delays)."""
        if self.is_postgres and row.owner is not None:
            conn.execute(sql.NOTIFY_KILL, {"p_payload": f"{row.owner} {row.id}"})

    def claim(self, cluster_id: str, limit: int, owner: str, run_root: str = "", *,
              types: Collection[JobType] | None = None, exclude: bool = False) -> list[Job]:
        """Take up to ``limit`` queued jobs of a cluster, oldest first, for ``owner``
        (whose run directories are under ``run_root``): of ``types`` only if given, or
        with ``exclude`` of any other type only. Instances sharing a PostgreSQL
        database skip each other's locked rows instead of waiting for them."""
        if limit <= 0:
            return []
        params: dict[str, Any] = {"p_cluster": cluster_id, "p_limit": limit,
                                  "p_owner": owner, "p_root": run_root}
        statement = sql.CLAIM
        if types is not None:
            statement = sql.CLAIM_OTHER_TYPES if exclude else sql.CLAIM_TYPES
            params["p_types"] = sorted(types)
        with self._write() as conn:
            rows = conn.execute(statement, params).all()
        return sorted((job_of_row(r) for r in rows), key=lambda j: j.submitted_ms)

    def release(self, job_id: str) -> Job | None:
        """Queue a claimed job again that was never handed to an engine."""
        return self._change(sql.RELEASE, p_id=job_id)

    def mark_started(self, job_id: str, started_ms: int, launcher_id: str,
                     engine_handle: str | None = None) -> Job | None:
        """Record that a RUNNING job runs, with the engine's handle to find it again."""
        return self._change(sql.MARK_STARTED, p_id=job_id, p_started=started_ms,
                            p_launcher=launcher_id, p_handle=engine_handle)

    def mark_tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> Job | None:
        """Record a RUNNING job's application id and page, once its engine knows them."""
        return self._change(sql.MARK_TRACKED, p_id=job_id, p_app=app_id, p_url=tracking_url)

    def mark_signalled(self, job_id: str, at_ms: int) -> Job | None:
        """Record a kill attempt BEFORE its signal goes out, so that a crash right after
        the signal cannot lose it: the first one's time decides KILLED against the
        job's own end. Returns the job (with its attempts so far), or None if it is
        not RUNNING any more."""
        return self._change(sql.MARK_SIGNALLED, p_id=job_id, p_at=at_ms)

    def unmark_signalled(self, job_id: str, at_ms: int) -> None:
        """The attempt recorded at ``at_ms`` found nothing to signal: forget its time
        (not an earlier attempt's), so that the job's own end stands."""
        with self._write() as conn:
            conn.execute(sql.UNMARK_SIGNALLED, {"p_id": job_id, "p_at": at_ms})

    def finish(self, job_id: str, outcome: Outcome, *, exit_code: int | None = None,
               finished_ms: int | None = None) -> Job | None:
        """Record a RUNNING job's final state; None if it was not RUNNING any more."""
        return self._change(sql.FINISH[outcome.state], p_id=job_id, p_result=outcome.result,
                            p_finished=finished_ms or now_ms(), p_exit=exit_code,
                            p_diag=outcome.diagnostics)

    def delete_job(self, job_id: str) -> bool:
        with self._write() as conn:
            res = conn.execute(sql.DELETE_FINISHED, {"p_id": job_id})
        return res.rowcount == 1

    def purge_finished(self, before_ms: int, limit: int) -> list[str]:
        """Delete up to ``limit`` jobs that ended before ``before_ms``; their ids."""
        with self._write() as conn:
            rows = conn.execute(retention.PURGE, {"p_before": before_ms, "p_limit": limit})
            return list(rows.scalars())

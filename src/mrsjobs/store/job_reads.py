"""The job reads: one job, a v2 list page, Sahara marker paging, and what the
supervisor and the purger look up."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, and_, func, or_, select, tuple_

from ..domain.errors import JobNotFound
from ..domain.jobs import Job, JobQuery, JobState, JobType
from . import retention
from . import statements as sql
from .counts import by_state, clusters_with, counted_total
from .database import Database
from .rows import job_of_row
from .tables import jobs

# -- Sahara paging: a total order over a column that may be NULL -------------------------


def _sahara_order(column: Column[Any]) -> tuple[ColumnElement[Any], ...]:
    """The ascending order of Sahara paging by ``column``: NULLs last, then seq."""
    if not column.nullable:
        return (column, jobs.c.seq)
    return (column.is_(None), column, jobs.c.seq)


def _sahara_after(column: Column[Any], value: Any, seq: int) -> ColumnElement[bool]:
    """The jobs after the one at (``value``, ``seq``) in :func:`_sahara_order`."""
    if value is None:
        return and_(column.is_(None), jobs.c.seq > seq)
    later = tuple_(column, jobs.c.seq) > tuple_(value, seq)
    return or_(column.is_(None), later) if column.nullable else later


def _sahara_before(column: Column[Any], value: Any, seq: int) -> ColumnElement[bool]:
    """The jobs before the one at (``value``, ``seq``) in :func:`_sahara_order`."""
    if value is None:
        return or_(column.is_not(None), jobs.c.seq < seq)
    earlier = tuple_(column, jobs.c.seq) < tuple_(value, seq)
    return and_(column.is_not(None), earlier) if column.nullable else earlier


class JobReads(Database):
    """The job reads of :class:`~mrsjobs.store.Store`."""

    def job(self, job_id: str, *, project_id: str | None = None,
            cluster_id: str | None = None) -> Job:
        """A job by id; with a project (and cluster), only if it is theirs."""
        params = {"p_id": job_id, "p_project": project_id, "p_cluster": cluster_id}
        if project_id is None:
            stmt = sql.GET
        elif cluster_id is None:
            stmt = sql.GET_IN_PROJECT
        else:
            stmt = sql.GET_SCOPED
        with self.engine.connect() as conn:
            row = conn.execute(stmt, params).first()
        if row is None:
            raise JobNotFound()
        return job_of_row(row)

    def list_jobs(self, q: JobQuery) -> tuple[int, list[Job]]:
        """One page of matching jobs and the number of all matching jobs."""
        conds: list[ColumnElement[bool]] = [jobs.c.project_id == q.project_id]
        if q.cluster_id is not None:
            conds.append(jobs.c.cluster_id == q.cluster_id)
        equal = {"name": q.job_name, "id": q.job_id, "user_name": q.user, "type": q.job_type,
                 "result": q.job_result, "queue": q.queue}
        conds.extend(jobs.c[col] == value for col, value in equal.items() if value is not None)
        if q.job_states is not None:
            conds.append(jobs.c.state.in_(sorted(q.job_states)))
        if q.submitted_from_ms is not None:
            conds.append(jobs.c.submitted_ms >= q.submitted_from_ms)
        if q.submitted_to_ms is not None:
            conds.append(jobs.c.submitted_ms <= q.submitted_to_ms)
        where = and_(*conds)
        order = (
            (jobs.c.submitted_ms.desc(), jobs.c.seq.desc())
            if q.descending
            else (jobs.c.submitted_ms.asc(), jobs.c.seq.asc())
        )
        # Skip rows by key in an index alone, then read only the page's own rows: an
        # OFFSET over whole rows would fetch every skipped row from the table.
        keys = (select(jobs.c.seq).where(where).order_by(*order)
                .limit(q.limit).offset((q.page - 1) * q.limit).subquery())
        page = select(jobs).join(keys, jobs.c.seq == keys.c.seq).order_by(*order)
        only_counted = all(value is None for value in equal.values()) and (
            q.submitted_from_ms is None and q.submitted_to_ms is None)
        count = (counted_total(q.project_id, q.cluster_id, q.job_states) if only_counted
                 else select(func.count()).select_from(jobs).where(where))
        with self.engine.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(page).all()
        return total, [job_of_row(r) for r in rows]

    def page_after(self, project_id: str, *, limit: int, marker: str | None, sort: str,
                   descending: bool) -> tuple[list[Job], str | None, str | None]:
        """Sahara-style paging: the jobs after ``marker`` in ``sort`` order, and the
        markers of the previous page (None for the first) and the next (None if last).

        The order is total on both backends: (``sort`` IS NULL, ``sort``, seq), so jobs
        without a start or end time come last (first when descending), in seq order."""
        column = jobs.c[sort]
        ascending = _sahara_order(column)
        key = tuple(c.desc() for c in ascending) if descending else ascending
        back = ascending if descending else tuple(c.desc() for c in ascending)
        mine = jobs.c.project_id == project_id
        with self.engine.connect() as conn:
            after: list[Any] = [mine]
            prev_id = None
            if marker is not None:
                at = conn.execute(select(column, jobs.c.seq).where(mine, jobs.c.id == marker)
                                  ).first()
                if at is None:
                    raise JobNotFound(f"The job does not exist: marker {marker}")
                value, seq = at[0], at[1]
                at_marker = jobs.c.seq == seq
                later = _sahara_after(column, value, seq)
                earlier = or_(_sahara_before(column, value, seq), at_marker)
                if descending:
                    later = _sahara_before(column, value, seq)
                    earlier = or_(_sahara_after(column, value, seq), at_marker)
                after.append(later)
                # The previous page starts after the job ``limit`` places before the marker.
                prev_id = conn.execute(select(jobs.c.id).where(mine, earlier).order_by(*back)
                                       .offset(limit).limit(1)).scalar()
            rows = conn.execute(select(jobs).where(*after).order_by(*key).limit(limit + 1)
                                ).all()
        page = [job_of_row(r) for r in rows[:limit]]
        next_id = page[-1].id if len(rows) > limit else None
        return page, prev_id, next_id

    def busy_clusters(self) -> set[str]:
        """The clusters with a RUNNING job, whichever instance runs it."""
        with self.engine.connect() as conn:
            return set(conn.scalars(clusters_with(JobState.RUNNING)))

    def state_counts(self) -> list[tuple[str, str, str, int]]:
        """(project, cluster, state, jobs) of every cluster with jobs, all instances'."""
        with self.engine.connect() as conn:
            return [(p, c, s, int(n)) for p, c, s, n in conn.execute(by_state())]

    def queued(self, cluster_id: str, limit: int, *,
               types: Collection[JobType] | None = None, exclude: bool = False) -> list[Job]:
        """The oldest queued jobs of a cluster, as :meth:`claim` would take them next
        (``types`` and ``exclude`` as there)."""
        stmt = (select(jobs).where(jobs.c.cluster_id == cluster_id,
                                   jobs.c.state == JobState.ACCEPTED)
                .order_by(jobs.c.seq).limit(max(0, limit)))
        if types is not None:
            chosen = sorted(types)
            stmt = stmt.where(jobs.c.type.not_in(chosen) if exclude
                              else jobs.c.type.in_(chosen))
        with self.engine.connect() as conn:
            return [job_of_row(r) for r in conn.execute(stmt)]

    def owned_jobs(self, owner: str) -> list[Job]:
        """The RUNNING jobs a supervisor instance owns."""
        with self.engine.connect() as conn:
            return [job_of_row(r) for r in conn.execute(sql.OWNED, {"p_owner": owner})]

    def pending_kills(self, owner: str) -> list[Job]:
        with self.engine.connect() as conn:
            return [job_of_row(r) for r in conn.execute(sql.PENDING_KILLS, {"p_owner": owner})]

    def known_job_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Those of ``job_ids`` that have a job record."""
        with self.engine.connect() as conn:
            return set(conn.execute(retention.KNOWN, {"p_ids": list(job_ids)}).scalars())

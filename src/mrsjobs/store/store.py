"""The one store class. Every state change is a single conditional UPDATE built
from :data:`mrsjobs.domain.jobs.TRANSITIONS`; zero rows changed means "not allowed"."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Executable

from ..domain.clock import now_ms
from ..domain.errors import ClusterNotFound, JobNotFound
from ..domain.jobs import (
    TERMINAL,
    Component,
    Job,
    JobResult,
    JobSpec,
    JobState,
    JobType,
    Outcome,
)
from . import retention
from . import statements as sql
from .counts import clusters_with, counted_total
from .group_commit import COMMIT_TIMEOUT_S, GroupCommit
from .rows import insert_many, job_of, job_of_row, new_job
from .tables import clusters, jobs, projects


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    project_id: str
    name: str
    components: frozenset[Component]


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A v2 list request; ``page`` is 1-based."""

    project_id: str
    cluster_id: str | None
    job_name: str | None = None
    job_id: str | None = None
    user: str | None = None
    job_type: JobType | None = None
    job_states: frozenset[JobState] | None = None
    job_result: JobResult | None = None
    queue: str | None = None
    submitted_from_ms: int | None = None
    submitted_to_ms: int | None = None
    limit: int = 10
    page: int = 1
    descending: bool = True


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; NORMAL sync is crash-safe in WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


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


class Store:
    """Projects, clusters, tokens and jobs in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, group_commit: bool = False) -> None:
        self.url = url = normalize_url(url)
        self.is_postgres = url.startswith("postgresql")
        self.engine = make_engine(url)
        # SQLite admits one writer; its busy handler sleeps 1-25 ms per retry. Queue
        # this process's writers on a lock instead (other processes still use it).
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if url.startswith("sqlite") else nullcontext())
        # Concurrent submits share transactions (see group_commit.py).
        self._group = GroupCommit(self._write, insert_many) if group_commit else None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction, queued behind this process's other writers on SQLite."""
        return self._write()

    @contextmanager
    def serialized(self) -> Iterator[Connection]:
        """A write transaction that the instances sharing this database run one at a
        time (PostgreSQL: an advisory lock, held until it commits). For what every
        instance does on start: migrations, the default project, the server key."""
        with self._write() as conn:
            if self.is_postgres:
                conn.execute(sql.SERIALIZE, {"p_key": sql.STARTUP_LOCK})
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, on this store's engine).

        Instances started at once on a fresh database take turns: the second one
        finds the schema made (never a duplicate ``alembic_version`` row)."""
        config = Config()
        config.set_main_option("script_location", "mrsjobs.store:migrations")
        with self.serialized() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        self.engine.dispose()

    # -- projects, clusters, tokens -------------------------------------------------

    def ensure_project(self, project_id: str, name: str) -> bool:
        """Create the project if it is missing; True if it was created."""
        with self._write() as conn:
            if conn.execute(select(projects.c.id).where(projects.c.id == project_id)).first():
                return False
            conn.execute(insert(projects).values(id=project_id, name=name, created_ms=now_ms()))
            return True

    def ensure_first_cluster(self, project_id: str, project_name: str, cluster_id: str,
                             cluster_name: str, components: Iterable[Component]
                             ) -> tuple[str, str, bool]:
        """The first project and its first cluster, made from the given ids and names if
        missing: (project id, cluster id, whether anything was made). One transaction
        that instances starting at once run in turn, so there is one default project."""
        with self.serialized() as conn:
            first = conn.execute(select(projects.c.id).order_by(projects.c.created_ms)
                                 .limit(1)).scalar()
            made = first is None
            if first is None:
                conn.execute(insert(projects).values(id=project_id, name=project_name,
                                                     created_ms=now_ms()))
                first = project_id
            cluster = conn.execute(select(clusters.c.id).where(clusters.c.project_id == first)
                                   .order_by(clusters.c.created_ms).limit(1)).scalar()
            if cluster is None:
                conn.execute(insert(clusters).values(
                    id=cluster_id, project_id=first, name=cluster_name,
                    components=",".join(sorted(c.value for c in components)),
                    created_ms=now_ms()))
                cluster, made = cluster_id, True
        return first, cluster, made

    def project_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(projects.c.id).order_by(projects.c.created_ms))
            return [r.id for r in rows]

    def add_cluster(
        self, project_id: str, name: str, components: Iterable[Component], cluster_id: str
    ) -> Cluster:
        comps = frozenset(components)
        with self._write() as conn:
            conn.execute(
                insert(clusters).values(
                    id=cluster_id,
                    project_id=project_id,
                    name=name,
                    components=",".join(sorted(c.value for c in comps)),
                    created_ms=now_ms(),
                )
            )
        return Cluster(cluster_id, project_id, name, comps)

    def clusters(self, project_id: str | None = None) -> list[Cluster]:
        stmt = select(clusters).order_by(clusters.c.created_ms)
        if project_id is not None:
            stmt = stmt.where(clusters.c.project_id == project_id)
        with self.engine.connect() as conn:
            return [
                Cluster(
                    r.id,
                    r.project_id,
                    r.name,
                    frozenset(Component(c) for c in r.components.split(",") if c),
                )
                for r in conn.execute(stmt)
            ]

    def cluster(self, project_id: str, cluster_id: str) -> Cluster:
        """The project's cluster; a foreign cluster reads exactly like a missing one."""
        for c in self.clusters(project_id):
            if c.id == cluster_id:
                return c
        raise ClusterNotFound()

    # -- jobs: reads ----------------------------------------------------------------

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

    def owned_jobs(self, owner: str) -> list[Job]:
        """The RUNNING jobs a supervisor instance owns."""
        with self.engine.connect() as conn:
            return [job_of_row(r) for r in conn.execute(sql.OWNED, {"p_owner": owner})]

    def pending_kills(self, owner: str) -> list[Job]:
        with self.engine.connect() as conn:
            return [job_of_row(r) for r in conn.execute(sql.PENDING_KILLS, {"p_owner": owner})]

    # -- jobs: changes --------------------------------------------------------------

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

    def claim(self, cluster_id: str, limit: int, owner: str, run_root: str = "") -> list[Job]:
        """Take up to ``limit`` queued jobs of a cluster, oldest first, for ``owner``
        (whose run directories are under ``run_root``). Instances sharing a PostgreSQL
        database skip each other's locked rows instead of waiting for them."""
        if limit <= 0:
            return []
        with self._write() as conn:
            rows = conn.execute(sql.CLAIM, {"p_cluster": cluster_id, "p_limit": limit,
                                            "p_owner": owner, "p_root": run_root}).all()
        return sorted((job_of_row(r) for r in rows), key=lambda j: j.submitted_ms)

    def release(self, job_id: str) -> Job | None:
        """Queue a claimed job again that was never handed to an engine."""
        return self._change(sql.RELEASE, p_id=job_id)

    def mark_started(self, job_id: str, started_ms: int, launcher_id: str) -> Job | None:
        return self._change(sql.MARK_STARTED, p_id=job_id, p_started=started_ms,
                            p_launcher=launcher_id)

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

    # -- retention ------------------------------------------------------------------

    def purge_finished(self, before_ms: int, limit: int) -> list[str]:
        """Delete up to ``limit`` jobs that ended before ``before_ms``; their ids."""
        with self._write() as conn:
            rows = conn.execute(retention.PURGE, {"p_before": before_ms, "p_limit": limit})
            return list(rows.scalars())

    def known_job_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Those of ``job_ids`` that have a job record."""
        with self.engine.connect() as conn:
            return set(conn.execute(retention.KNOWN, {"p_ids": list(job_ids)}).scalars())

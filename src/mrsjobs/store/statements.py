"""The job statements on the hot paths (submit, dispatch, kill, finish), built once.

A statement object built per call costs SQLAlchemy about 0.7 ms of cache-key work;
these are built at import with bind parameters, so each call only binds values.
Every state change is guarded by :data:`mrsjobs.domain.jobs.TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update

from ..domain.jobs import PRE_LAUNCH, TERMINAL, TRANSITIONS, JobResult, JobState
from .tables import audit_events, jobs


def may_become(target: JobState, *, only_from: Iterable[JobState] | None = None) -> Any:
    """The WHERE clause that admits exactly the allowed source states of ``target``."""
    allowed = TRANSITIONS[target]
    if only_from is not None:
        allowed = allowed & frozenset(only_from)
    return jobs.c.state.in_(sorted(allowed))


_id = jobs.c.id == bindparam("p_id")
_scope = (_id, jobs.c.project_id == bindparam("p_project"),
          jobs.c.cluster_id == bindparam("p_cluster"))

GET = select(jobs).where(_id)
GET_SCOPED = select(jobs).where(*_scope)
GET_IN_PROJECT = select(jobs).where(_id, jobs.c.project_id == bindparam("p_project"))

OWNED = select(jobs).where(jobs.c.state == JobState.RUNNING, jobs.c.owner == bindparam("p_owner"))
PENDING_KILLS = OWNED.where(jobs.c.kill_requested_ms.is_not(None))

INSERT = insert(jobs)
INSERT_AUDIT = insert(audit_events)


def _claim(*only: Any) -> Any:
    """Claims the oldest queued jobs of a cluster (of those ``only`` admits).

    They are picked once: as a plain ``IN (subquery)`` PostgreSQL may run the subquery
    again per row and claim past the limit. On PostgreSQL, instances claim past each
    other's locked rows (SQLite has one writer and leaves the clause out)."""
    picked = (
        select(jobs.c.seq)
        .where(jobs.c.cluster_id == bindparam("p_cluster"), jobs.c.state == JobState.ACCEPTED,
               *only)
        .order_by(jobs.c.seq)
        .limit(bindparam("p_limit"))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    return (
        update(jobs)
        .where(jobs.c.seq.in_(select(picked.c.seq)), may_become(JobState.RUNNING))
        .values(state=JobState.RUNNING, owner=bindparam("p_owner"),
                run_root=bindparam("p_root"))
        .returning(jobs)
    )


CLAIM = _claim()
#: The same, of jobs of the types in ``p_types`` only, or of any other type only.
CLAIM_TYPES = _claim(jobs.c.type.in_(bindparam("p_types", expanding=True)))
CLAIM_OTHER_TYPES = _claim(jobs.c.type.not_in(bindparam("p_types", expanding=True)))

KILL_BEFORE_LAUNCH = (
    update(jobs)
    .where(*_scope, may_become(JobState.KILLED, only_from=PRE_LAUNCH))
    .values(state=JobState.KILLED, result=JobResult.KILLED, finished_ms=bindparam("p_now"),
            kill_requested_ms=bindparam("p_now"), kill_requested_by=bindparam("p_by"),
            diagnostics="killed before launch")
    .returning(jobs)
)

REQUEST_KILL = (
    update(jobs)
    .where(*_scope, jobs.c.state == JobState.RUNNING, jobs.c.kill_requested_ms.is_(None))
    .values(kill_requested_ms=bindparam("p_now"), kill_requested_by=bindparam("p_by"))
    .returning(jobs)
)

RELEASE = (
    update(jobs)
    .where(_id, may_become(JobState.ACCEPTED, only_from={JobState.RUNNING}),
           jobs.c.started_ms.is_(None))
    .values(state=JobState.ACCEPTED, owner=None)
    .returning(jobs)
)

MARK_STARTED = (
    update(jobs)
    .where(_id, jobs.c.state == JobState.RUNNING)
    .values(started_ms=bindparam("p_started"), launcher_id=bindparam("p_launcher"),
            engine_handle=bindparam("p_handle"))
    .returning(jobs)
)

MARK_TRACKED = (
    update(jobs)
    .where(_id, jobs.c.state == JobState.RUNNING)
    .values(app_id=bindparam("p_app"), tracking_url=bindparam("p_url"))
    .returning(jobs)
)

# Recorded BEFORE the signal goes out (an intent): a crash right after the signal
# cannot lose it. The first one stays: it decides KILLED against the job's own end.
MARK_SIGNALLED = (
    update(jobs)
    .where(_id, jobs.c.state == JobState.RUNNING)
    .values(kill_signalled_ms=func.coalesce(jobs.c.kill_signalled_ms, bindparam("p_at")),
            kill_attempts=jobs.c.kill_attempts + 1)
    .returning(jobs)
)

# The intent of ``p_at`` found nothing left to signal: the job ended on its own.
UNMARK_SIGNALLED = (
    update(jobs)
    .where(_id, jobs.c.kill_signalled_ms == bindparam("p_at"))
    .values(kill_signalled_ms=None)
)

#: final state -> the statement that records it for a RUNNING job
FINISH = {
    state: update(jobs)
    .where(_id, may_become(state, only_from={JobState.RUNNING}))
    .values(state=state, result=bindparam("p_result"), finished_ms=bindparam("p_finished"),
            exit_code=bindparam("p_exit"), diagnostics=bindparam("p_diag"), progress=100.0)
    .returning(jobs)
    for state in TERMINAL
}

#: PostgreSQL only: a transaction-scoped advisory lock, so that instances starting at
#: once on one database migrate it and make its defaults in turn.
SERIALIZE = text("SELECT pg_advisory_xact_lock(:p_key)")
STARTUP_LOCK = 0x6D72736A  # "mrsj"

#: PostgreSQL only: tells the owning instance that one of its jobs is to be killed.
KILL_CHANNEL = "mrsjobs_kill"
NOTIFY_KILL = text(f"SELECT pg_notify('{KILL_CHANNEL}', :p_payload)")

DELETE_FINISHED = delete(jobs).where(_id, jobs.c.state.in_(sorted(TERMINAL)))

"""The statements of the retention purge: only jobs that have ended, long enough ago."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select

from ..domain.jobs import TERMINAL
from .tables import jobs

_expired = (jobs.c.state.in_(sorted(TERMINAL)), jobs.c.finished_ms < bindparam("p_before"))

#: Delete up to ``p_limit`` expired jobs, oldest first (``ix_jobs_finished``). The outer
#: WHERE repeats the condition: the DELETE itself is the guard, not the subquery.
PURGE = (
    delete(jobs)
    .where(
        jobs.c.seq.in_(
            select(jobs.c.seq).where(*_expired).order_by(jobs.c.finished_ms)
            .limit(bindparam("p_limit")).scalar_subquery()
        ),
        *_expired,
    )
    .returning(jobs.c.id)
)

KNOWN = select(jobs.c.id).where(jobs.c.id.in_(bindparam("p_ids", expanding=True)))

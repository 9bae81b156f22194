"""List totals from the ``job_counts`` table (kept exact by triggers, see migration
0004) instead of a ``count(*)`` that reads every matching row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select

from ..domain.jobs import JobState
from .tables import job_counts


def counted_total(project_id: str, cluster_id: str | None,
                  states: Iterable[JobState] | None) -> Select[Any]:
    """The number of a project's (or one cluster's) jobs, optionally in ``states``."""
    stmt = select(func.coalesce(func.sum(job_counts.c.n), 0)).where(
        job_counts.c.project_id == project_id)
    if cluster_id is not None:
        stmt = stmt.where(job_counts.c.cluster_id == cluster_id)
    if states is not None:
        stmt = stmt.where(job_counts.c.state.in_(sorted(s.value for s in states)))
    return stmt


def by_state() -> Select[Any]:
    """Every project's and cluster's jobs by state: one row per (project, cluster,
    state), from the kept counts (a few rows per cluster, whatever the number of jobs)."""
    return (select(job_counts.c.project_id, job_counts.c.cluster_id, job_counts.c.state,
                   func.sum(job_counts.c.n))
            .group_by(job_counts.c.project_id, job_counts.c.cluster_id, job_counts.c.state)
            .order_by(job_counts.c.project_id, job_counts.c.cluster_id, job_counts.c.state))


def clusters_with(state: JobState) -> Select[Any]:
    """The clusters (of any project) that have at least one job in ``state``."""
    return (select(job_counts.c.cluster_id).where(job_counts.c.state == state.value)
            .group_by(job_counts.c.cluster_id).having(func.sum(job_counts.c.n) > 0))

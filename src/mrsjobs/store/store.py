"""The one store class: projects and clusters, job reads and job changes over one
database (each part in its own module)."""

from __future__ import annotations

from .clusters import ClusterRecords
from .group_commit import GroupCommit
from .job_changes import JobChanges
from .rows import insert_many
from .sql_results import SqlResults


class Store(JobChanges, ClusterRecords, SqlResults):
    """Projects, clusters, tokens and jobs in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, group_commit: bool = False) -> None:
        super().__init__(url)
        # Concurrent submits share transactions (see group_commit.py).
        self._group = GroupCommit(self._write, insert_many) if group_commit else None

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        super().close()

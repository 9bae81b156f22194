"""Projects and their clusters, as the job store keeps them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select

from ..domain.clock import now_ms
from ..domain.errors import ClusterNotFound
from ..domain.jobs import Component
from .database import Database
from .tables import clusters, projects


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    project_id: str
    name: str
    components: frozenset[Component]


class ClusterRecords(Database):
    """The projects and clusters part of :class:`~mrsjobs.store.Store`."""

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

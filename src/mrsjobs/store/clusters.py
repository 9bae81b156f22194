"""Projects and their clusters, as the job store keeps them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.clusters import ClusterConfig, ClusterEngine
from ..domain.errors import ClusterNotFound
from ..domain.jobs import TERMINAL, Component
from .database import Database
from .tables import clusters, jobs, projects

#: What the store raises for a row that refers to a cluster no longer there (a job
#: submitted to a cluster deleted meanwhile).
StaleReference = IntegrityError


class ClusterConflict(Exception):
    """A cluster change that the project's clusters or jobs do not allow."""


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    project_id: str
    name: str
    components: frozenset[Component]
    engine: ClusterEngine = ClusterEngine.LOCAL
    master_url: str | None = None
    rest_url: str | None = None
    #: Where the file area (hdfs:///) is, if not under the data directory.
    files_root: str | None = None
    #: How many of its jobs may run at once, if not the service's max_running.
    max_running: int | None = None
    created_ms: int | None = None
    #: A standalone master's web UI, if not on the master's host at port 8080.
    web_url: str | None = None
    #: Where its client-mode drivers on this host join its network (migration 0010).
    link_bridge: str | None = None
    link_addresses: str | None = None
    #: The file holding its REST server's token key (migration 0011).
    rest_key_file: str | None = None

    @property
    def config(self) -> ClusterConfig:
        return ClusterConfig(self.engine, self.master_url, self.rest_url, self.files_root,
                             self.max_running, self.web_url, self.link_bridge,
                             self.link_addresses, self.rest_key_file)


def _cluster(r: Any) -> Cluster:
    return Cluster(r.id, r.project_id, r.name,
                   frozenset(Component(c) for c in r.components.split(",") if c),
                   ClusterEngine(r.engine), r.master_url, r.rest_url, r.files_root,
                   r.max_running, r.created_ms, r.web_url, r.link_bridge, r.link_addresses,
                   r.rest_key_file)


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
        self, project_id: str, name: str, components: Iterable[Component], cluster_id: str,
        config: ClusterConfig | None = None,
    ) -> Cluster:
        """A new cluster of the project; ClusterConflict if the project has one of that
        name already."""
        comps = frozenset(components)
        config = config or ClusterConfig()
        created = now_ms()
        try:
            with self._write() as conn:
                conn.execute(
                    insert(clusters).values(
                        id=cluster_id,
                        project_id=project_id,
                        name=name,
                        components=",".join(sorted(c.value for c in comps)),
                        created_ms=created,
                        engine=config.engine.value,
                        master_url=config.master_url,
                        rest_url=config.rest_url,
                        files_root=config.files_root,
                        max_running=config.max_running,
                        web_url=config.web_url,
                        link_bridge=config.link_bridge,
                        link_addresses=config.link_addresses,
                        rest_key_file=config.rest_key_file,
                    )
                )
        except IntegrityError:
            raise ClusterConflict(
                f"project {project_id} has a cluster named {name} already") from None
        return Cluster(cluster_id, project_id, name, comps, config.engine, config.master_url,
                       config.rest_url, config.files_root, config.max_running, created,
                       config.web_url, config.link_bridge, config.link_addresses,
                       config.rest_key_file)

    def clusters(self, project_id: str | None = None) -> list[Cluster]:
        stmt = select(clusters).order_by(clusters.c.created_ms, clusters.c.id)
        if project_id is not None:
            stmt = stmt.where(clusters.c.project_id == project_id)
        with self.engine.connect() as conn:
            return [_cluster(r) for r in conn.execute(stmt)]

    def cluster(self, project_id: str, cluster_id: str) -> Cluster:
        """The project's cluster; a foreign cluster reads exactly like a missing one."""
        with self.engine.connect() as conn:
            row = conn.execute(select(clusters).where(clusters.c.id == cluster_id,
                                                      clusters.c.project_id == project_id)
                               ).first()
        if row is None:
            raise ClusterNotFound()
        return _cluster(row)

    def cluster_by_id(self, cluster_id: str) -> Cluster | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(clusters).where(clusters.c.id == cluster_id)).first()
        return None if row is None else _cluster(row)

    def delete_cluster(self, cluster_id: str) -> int:
        """Remove a cluster whose jobs have all ended, with their records (the purger
        sweeps their run directories): how many job records went. ClusterNotFound if
        there is no such cluster, ClusterConflict if a job of it has not ended."""
        busy = ClusterConflict(f"cluster {cluster_id} has jobs that have not ended; kill "
                               "them or wait for them to end first")
        try:
            with self._write() as conn:
                if conn.execute(select(clusters.c.id).where(clusters.c.id == cluster_id)
                                ).first() is None:
                    raise ClusterNotFound()
                if conn.execute(select(jobs.c.id).where(
                        jobs.c.cluster_id == cluster_id,
                        jobs.c.state.not_in(list(TERMINAL))).limit(1)).first() is not None:
                    raise busy
                gone = conn.execute(delete(jobs).where(jobs.c.cluster_id == cluster_id)
                                    ).rowcount
                conn.execute(delete(clusters).where(clusters.c.id == cluster_id))
        except IntegrityError:
            # A job submitted meanwhile still refers to the cluster.
            raise busy from None
        return int(gone)

"""The cluster use cases: what the API shows of a project's clusters (read only, checked
against the caller's project like the job use cases), and what an operator does to
them (create and delete, from the command line, with no caller to check)."""

from __future__ import annotations

import uuid

from ..domain.access import Identity
from ..domain.clusters import RUNNING_STATES, ClusterConfig, ClusterQuery, check_cluster_config
from ..store import Cluster, Store
from .jobs import check_access


class ClusterService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def authorize(self, who: Identity, project_id: str) -> None:
        """AccessDenied unless ``who`` may see the project's clusters: an API asks
        before it parses a request, so that a stranger learns nothing of its faults."""
        check_access(who, project_id, what="clusters")

    def list(self, who: Identity, query: ClusterQuery) -> tuple[int, list[Cluster]]:
        """How many of the project's clusters ``query`` matches, and its page of them."""
        check_access(who, query.project_id, what="clusters")
        found = [c for c in self.store.clusters(query.project_id) if _matches(c, query)]
        start = (query.current_page - 1) * query.page_size
        return len(found), found[start:start + query.page_size]

    def show(self, who: Identity, project_id: str, cluster_id: str) -> Cluster:
        check_access(who, project_id, what="clusters")
        return self.store.cluster(project_id, cluster_id)


def _matches(cluster: Cluster, query: ClusterQuery) -> bool:
    # Clusters here have no tags: a tag filter matches none of them.
    return ((query.state is None or query.state in RUNNING_STATES)
            and (query.name is None or cluster.name == query.name)
            and not query.tags)


def create_cluster(store: Store, project_id: str, name: str, config: ClusterConfig,
                   cluster_id: str | None = None) -> Cluster:
    """A new cluster of the project with the components its engine has; ValueError if
    ``config`` is incomplete or inconsistent, ClusterConflict if the name is taken."""
    check_cluster_config(config)
    return store.add_cluster(project_id, name, config.components,
                             cluster_id or str(uuid.uuid4()), config)

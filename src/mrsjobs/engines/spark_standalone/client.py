"""Drivers on this host that join a standalone cluster (client mode): SQL jobs' drivers,
cold (``spark-sql``) or warm (the project's SQL engine). Each runs contained as its
project's, reaches the cluster through the project's link to the cluster's network
(:mod:`mrsjobs.containment.links`) and keeps its tables in the cluster's files root,
where the executors on the workers write them.
"""

from __future__ import annotations

from pathlib import Path

from ...containment.links import LinkError, Links, LinkSpec
from ...domain.clusters import ClusterConfig
from ...domain.jobs import Job
from ..base import LaunchFailed, LaunchSpec
from ..local.commands import LocalCluster, RemoteMaster

#: Where a standalone cluster's managed tables live in its files root.
WAREHOUSE = ("user", "hive", "warehouse")


class ClientMode:
    """How a project's driver on this host joins a standalone cluster. ``umask``: the
    Hadoop umask of what its executors write (see ``Settings.sql_engine_files_umask``)."""

    def __init__(self, local: LocalCluster, links: Links, umask: str) -> None:
        self.local = local
        self.links = links
        self.umask = umask

    def warehouse(self, project_id: str, cluster_id: str) -> Path:
        """The cluster's warehouse in its files root (made, the project's)."""
        area = self.local.area(project_id, cluster_id)
        area.make_dirs(WAREHOUSE)
        return area.root.joinpath(*WAREHOUSE)

    def driver_conf(self, config: ClusterConfig, project_id: str) -> dict[str, str]:
        """The Spark conf of a driver of the project on this host: bound to, and
        advertised at, its address on the cluster's network (its link, made on first
        use). LaunchFailed if the cluster has no link or it cannot be made."""
        if not config.link_bridge or not config.link_addresses or not config.master_url:
            raise LaunchFailed("the cluster has no link for drivers on this host "
                               "(cluster create --link-bridge and --link-addresses)")
        tenant = self.local.containment.tenant(project_id)
        if tenant is None:
            raise LaunchFailed("jobs are not contained per project on this host, which "
                               "a driver joining a standalone cluster needs")
        host, _, port = config.master_url.removeprefix("spark://").rpartition(":")
        spec = LinkSpec(config.link_bridge, config.link_addresses, host, int(port))
        try:
            address = self.links.ensure(tenant, spec).address
        except LinkError as exc:
            raise LaunchFailed(f"the project's link to the cluster: {exc}") from exc
        return {"spark.driver.host": address, "spark.driver.bindAddress": address,
                "spark.ui.enabled": "false",
                "spark.hadoop.fs.permissions.umask-mode": self.umask}

    def launch_spec(self, job: Job, run_dir: Path, config: ClusterConfig) -> LaunchSpec:
        """A SQL job as a cold ``spark-sql`` driver on this host that joins the cluster."""
        assert config.master_url
        remote = RemoteMaster(config.master_url, self.driver_conf(config, job.project_id),
                              self.warehouse(job.project_id, job.cluster_id))
        return self.local.launch_spec(job, run_dir, remote)

    def finished(self, job: Job, run_dir: Path) -> None:
        """What a cold driver's job leaves, collected as a local job's."""
        self.local.finished(job, run_dir)

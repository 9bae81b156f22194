"""What a cluster is configured as: the engine that runs its jobs, where that engine is,
where its file area lives, and how many of its jobs may run at once."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .jobs import Component


class ClusterEngine(StrEnum):
    """What runs a cluster's jobs."""

    LOCAL = "local"  # processes on the service's own host
    SPARK_STANDALONE = "spark-standalone"  # a Spark standalone master and its workers


#: What each engine has installed. A standalone Spark cluster has no Hadoop, so
#: MapReduce and DistCp jobs are refused at submit.
ENGINE_COMPONENTS: Mapping[ClusterEngine, frozenset[Component]] = {
    ClusterEngine.LOCAL: frozenset({Component.HADOOP, Component.SPARK, Component.HIVE}),
    ClusterEngine.SPARK_STANDALONE: frozenset({Component.SPARK, Component.HIVE}),
}

CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SPARK_URL = re.compile(r"^spark://[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_HTTP_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?/?$")
MAX_URL = 255
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A cluster's engine and settings, as an operator gives them."""

    engine: ClusterEngine = ClusterEngine.LOCAL
    master_url: str | None = None
    rest_url: str | None = None
    files_root: str | None = None
    max_running: int | None = None
    #: The master's web UI (http://HOST:8080): its state, and the workers' log pages.
    #: Default: the master's host, port 8080.
    web_url: str | None = None
    #: spark-standalone: the bridge on this host that the cluster's network is reached
    #: through, and the addresses (a CIDR block of that network) this host gives the
    #: drivers that run here (client-mode SQL): see :mod:`mrsjobs.containment.links`.
    link_bridge: str | None = None
    link_addresses: str | None = None
    #: spark-standalone: a file on this host holding the key the master's REST server
    #: checks requests' signed tokens with (Spark's JWSFilter); None: it checks none.
    rest_key_file: str | None = None

    @property
    def master_web_url(self) -> str | None:
        if self.web_url:
            return self.web_url.rstrip("/")
        if not self.master_url:
            return None
        host = self.master_url.removeprefix("spark://").rsplit(":", 1)[0]
        return f"http://{host}:8080"

    @property
    def components(self) -> frozenset[Component]:
        return ENGINE_COMPONENTS[self.engine]


def check_cluster_config(config: ClusterConfig) -> None:
    """ValueError naming the option at fault unless ``config`` is complete and
    consistent: a standalone cluster needs its master's two URLs, a local one has none;
    a files root is an absolute path; ``max_running`` is at least 1."""
    if config.engine is ClusterEngine.SPARK_STANDALONE:
        if not config.master_url:
            raise ValueError("--master is required for a spark-standalone cluster "
                             "(spark://HOST:7077)")
        if not config.rest_url:
            raise ValueError("--rest-url is required for a spark-standalone cluster "
                             "(http://HOST:6066)")
        if len(config.master_url) > MAX_URL or not _SPARK_URL.match(config.master_url):
            raise ValueError(f"--master {config.master_url!r}: expected spark://HOST:PORT")
        for option, url in (("--rest-url", config.rest_url), ("--web-url", config.web_url)):
            if url is not None and (len(url) > MAX_URL or not _HTTP_URL.match(url)):
                raise ValueError(f"{option} {url!r}: expected http://HOST:PORT "
                                 "or https://HOST:PORT")
        check_link(config)
        if config.rest_key_file is not None:
            _check_absolute("--rest-key-file", config.rest_key_file)
    else:
        for option, value in (("--master", config.master_url),
                              ("--rest-url", config.rest_url),
                              ("--web-url", config.web_url),
                              ("--link-bridge", config.link_bridge),
                              ("--link-addresses", config.link_addresses),
                              ("--rest-key-file", config.rest_key_file)):
            if value is not None:
                raise ValueError(f"{option} is for spark-standalone clusters only: a "
                                 "local cluster runs its jobs on this host")
    if config.files_root is not None:
        root = config.files_root
        _check_absolute("--files-root", root)
        if not posixpath.normpath(root).strip("/"):
            raise ValueError("--files-root must not be /")
    if config.max_running is not None and config.max_running < 1:
        raise ValueError(f"--max-running {config.max_running}: must be at least 1")


def _check_absolute(option: str, path: str) -> None:
    if not path.startswith("/") or "\x00" in path or len(path) > 4096:
        raise ValueError(f"{option} {path!r}: expected an absolute path")


def check_link(config: ClusterConfig) -> None:
    """ValueError unless the link options are both given (or neither), the bridge is an
    interface name and the addresses an IPv4 block of at least one address."""
    bridge, block = config.link_bridge, config.link_addresses
    if (bridge is None) != (block is None):
        raise ValueError("--link-bridge and --link-addresses go together")
    if bridge is None or block is None:
        return
    if not _IFNAME.match(bridge):
        raise ValueError(f"--link-bridge {bridge!r}: expected a network interface name")
    try:
        network = ipaddress.IPv4Network(block, strict=True)
    except ValueError as exc:
        raise ValueError(f"--link-addresses {block!r}: expected an IPv4 block "
                         f"(A.B.C.D/N): {exc}") from None
    if network.prefixlen > 30:
        raise ValueError(f"--link-addresses {block}: a block of /30 or larger")


#: The states MRS lists clusters by; a cluster here is always running.
CLUSTER_STATES = ("existing", "history", "starting", "running", "terminated", "failed",
                  "abnormal", "terminating", "frozen", "scaling-out", "scaling-in")
#: Those of :data:`CLUSTER_STATES` a running cluster is listed under.
RUNNING_STATES = frozenset({"existing", "running"})


@dataclass(frozen=True, slots=True)
class ClusterQuery:
    """A page of a project's clusters, filtered as MRS's cluster list is."""

    project_id: str
    page_size: int = 10
    current_page: int = 1
    state: str | None = None
    name: str | None = None
    #: (key, value or None for any value); every one must match.
    tags: tuple[tuple[str, str | None], ...] = ()

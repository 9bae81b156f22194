"""SQL jobs of a cluster as requests to the project's warm SQL engine; every other job
(and a SQL job the engine cannot take as it is) goes to the cluster's own commands
(a local cluster's run it cold with ``spark-sql``).

Also makes each (project, cluster)'s engine server: contained as the project's, with
the cluster's metastore and warehouse. A standalone cluster's server is a client-mode
driver of its master: it joins the cluster's network through the project's link
(:mod:`mrsjobs.containment.links`), its executors run on the workers and its tables
live in the cluster's files root, which every host sees.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlparse
from sqlparse import tokens as T

from ...domain.clusters import ClusterConfig, ClusterEngine
from ...domain.errors import MrsError
from ...domain.jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, Job
from ...domain.paths import hdfs_parts
from ...settings import Settings
from ..base import EngineLane, LaunchFailed, LaunchSpec
from ..local.commands import LOOPBACK_CONF, LocalCluster
from ..router import Commands
from ..spark_standalone.client import ClientMode
from .engine import SqlLaunch
from .listener import LISTENER, javac_of, listener_classes
from .server import ConnectServer, ServerConfig, ServerError

#: The largest SQL script the engine reads from a cluster's file area.
MAX_SCRIPT_BYTES = 4 << 20
#: spark-sql options that set a SQL conf: the job's session gets them.
CONF_OPTIONS = ("--conf", "-c", "--hiveconf")
#: A standalone cluster's engine holds executors only while it has work: they go back
#: to the cluster after this long idle (shuffle tracking keeps their shuffle data
#: alive without an external shuffle service).
CLUSTER_ENGINE_CONF = {
    "spark.dynamicAllocation.enabled": "true",
    "spark.dynamicAllocation.shuffleTracking.enabled": "true",
    "spark.dynamicAllocation.minExecutors": "0",
    "spark.dynamicAllocation.executorIdleTimeout": "30s",
    "spark.executor.cores": "1",
}


def statements(sql: str) -> tuple[str, ...]:
    """The statements of a SQL text, in order (split where spark-sql would split it:
    at semicolons outside quotes and comments), without the empty ones."""
    found = (_trimmed(s) for s in sqlparse.split(sql))
    return tuple(s for s in found if s)


def _trimmed(statement: str) -> str:
    """A statement without its closing semicolon and what follows it (blanks, a comment
    on the same line): the Connect server takes one bare statement."""
    tokens = [t for parsed in sqlparse.parse(statement) for t in _leaves(parsed)]
    while tokens and (tokens[-1].is_whitespace or tokens[-1].ttype in T.Comment
                      or tokens[-1].match(T.Punctuation, ";")):
        tokens.pop()
    if all(t.is_whitespace or t.ttype in T.Comment for t in tokens):
        return ""
    return "".join(t.value for t in tokens).strip()


def session_conf(pairs: list[str]) -> dict[str, str] | None:
    """The SQL conf the options before a job's SQL set; None if an option is one the
    engine cannot honour (a setting of a JVM start): the job then runs cold."""
    conf: dict[str, str] = {}
    i = 0
    while i < len(pairs):
        arg = pairs[i]
        name, eq, value = arg.partition("=")
        if name not in CONF_OPTIONS:
            return None
        if not eq:
            if i + 1 == len(pairs):
                return None
            i += 1
            value = pairs[i]
        key, sep, setting = value.partition("=")
        if not sep:
            return None
        conf[key.strip()] = setting
        i += 1
    return conf


def _leaves(token: Any) -> Iterator[Any]:
    if token.is_group:
        for child in token.tokens:
            yield from _leaves(child)
    else:
        yield token


class SqlCommands:
    """A cluster kind's commands (``inner``: the local cluster's unless given), with SQL
    jobs sent to the warm engine. :meth:`beside` gives the same for another kind; all
    share one lane and one set of servers. ``config_of`` tells a cluster's config (the
    local kind's if it gives None); ``client`` joins standalone clusters."""

    def __init__(self, cluster: LocalCluster, settings: Settings, *,
                 config_of: Callable[[str], ClusterConfig | None] | None = None,
                 client: ClientMode | None = None) -> None:
        self.cluster = cluster
        self.settings = settings
        self.inner: Commands = cluster
        self._config_of = config_of or (lambda _: None)
        self.client = client
        #: The jobs the warm engine takes, as many at once as it has threads.
        self.lane = EngineLane(SQL_TEXT_TYPES | SQL_FILE_TYPES, max(1, settings.sql_engine_slots))
        self._servers: dict[tuple[str, str], ConnectServer] = {}
        self._lock = threading.Lock()

    def beside(self, inner: Commands) -> SqlCommands:
        """These commands in front of another cluster kind's (``inner``)."""
        view = copy.copy(self)
        view.inner = inner
        return view

    # -- JobCommands ----------------------------------------------------------------

    def may_block(self, job: Job) -> bool:
        return self.inner.may_block(job)

    def finished(self, job: Job, run_dir: Path) -> None:
        self.inner.finished(job, run_dir)

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        request = self._request(job) if self.lane.takes(job.type) else None
        if request is None:
            return self.inner.launch_spec(job, run_dir)
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return LaunchSpec(job.id, (), run_dir, run_dir, request=request)

    def _request(self, job: Job) -> SqlLaunch | None:
        *pairs, sql = job.arguments
        conf = session_conf(pairs)
        if conf is None:
            return None
        conf = {**job.properties, **conf}
        if job.type in SQL_FILE_TYPES:
            try:
                parts = hdfs_parts(sql)
            except ValueError as exc:
                raise LaunchFailed(f"the script {sql}: {exc}") from exc
            if parts is None:
                return None  # a file outside the area: spark-sql reads it in the sandbox
            area = self.cluster.area(job.project_id, job.cluster_id)
            try:
                sql = area.read(parts, MAX_SCRIPT_BYTES).decode()
            except (MrsError, UnicodeDecodeError) as exc:
                raise LaunchFailed(f"the script {job.arguments[-1]} cannot be read: "
                                   f"{exc}") from exc
        found = statements(sql)
        if not found:
            raise LaunchFailed("the job has no SQL statement")
        return SqlLaunch(job.project_id, job.cluster_id, found, conf)

    # -- the engines' servers -------------------------------------------------------

    def server(self, project_id: str, cluster_id: str) -> ConnectServer:
        """The engine server of a project's cluster (made once, started on demand)."""
        with self._lock:
            found = self._servers.get((project_id, cluster_id))
            if found is None:
                found = self._servers[(project_id, cluster_id)] = self._make(
                    project_id, cluster_id)
            return found

    def _make(self, project_id: str, cluster_id: str) -> ConnectServer:
        s, local = self.settings, self.cluster
        containment = local.containment
        tenant = containment.tenant(project_id)
        area = local.area(project_id, cluster_id)
        config = self._config_of(cluster_id)
        standalone = config is not None and config.engine is ClusterEngine.SPARK_STANDALONE
        write: list[Path] = [area.root]
        conf_of: Callable[[], dict[str, str]] = dict
        if s.hive_metastore:
            warehouse = None
            if standalone and self.client is not None:
                warehouse = self.client.warehouse(project_id, cluster_id)
            metastore = local.metastore(cluster_id, tenant, warehouse)
            write += metastore.job_dirs()
            conf_of = metastore.spark_conf
        master, conf = s.sql_engine_master, dict(LOOPBACK_CONF)
        if standalone:
            assert config is not None and config.master_url
            client = self.client
            if client is None:
                raise ServerError("standalone clusters are not served here")
            master, conf = config.master_url, dict(CLUSTER_ENGINE_CONF)
            catalog = conf_of

            def conf_of() -> dict[str, str]:
                try:
                    return {**catalog(), **client.driver_conf(config, project_id)}
                except LaunchFailed as exc:
                    raise ServerError(str(exc)) from exc
        # A killed query must not leave a stage running on the engine's cores.
        classes = listener_classes(s.data_dir.resolve() / "lib", s.spark_dir / "jars",
                                   javac_of(s.java))
        conf |= {"spark.extraListeners": LISTENER, "spark.driver.extraClassPath": str(classes)}
        server = ServerConfig(
            home=s.cluster_dir(cluster_id).resolve() / "sql-engine",
            spark_submit=s.spark_submit_cmd, master=master,
            driver_memory=s.sql_engine_memory, java_options=s.driver_java_options,
            conf=conf, read=(*local.read_paths(), classes), write=tuple(write),
            env=local.job_env(),
            idle_s=s.sql_engine_idle_s)
        return ConnectServer(server, containment if containment.sandbox else None, tenant,
                             conf_of)

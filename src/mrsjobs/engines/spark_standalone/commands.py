"""Turns a ``SparkSubmit`` job into the REST request that runs its driver on a worker
of a standalone cluster (cluster deploy mode); a SQL job into a ``spark-sql`` driver on
this host that joins the cluster (client mode, see :mod:`.client`).

The job's arguments are spark-submit's: the options it has a property for become
Spark properties, the cluster decides the master and deploy mode, and ``hdfs:///``
paths name the cluster's file area, which every host of the cluster sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from ...domain import paths
from ...domain.clusters import ClusterConfig, ClusterEngine
from ...domain.errors import InvalidParameter, JobTypeNotSupported
from ...domain.jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, Job, JobType, split_spark_options
from ..base import LaunchFailed, LaunchSpec
from .client import ClientMode
from .engine import SparkLaunch
from .logs import DriverLogs
from .master import MasterUi
from .rest import CreateRequest, jvm_app, python_app

#: spark-submit options that are a Spark property.
OPTION_PROPERTIES: Mapping[str, str] = {
    "--driver-memory": "spark.driver.memory",
    "--driver-cores": "spark.driver.cores",
    "--executor-memory": "spark.executor.memory",
    "--executor-cores": "spark.executor.cores",
    "--total-executor-cores": "spark.cores.max",
    "--driver-java-options": "spark.driver.extraJavaOptions",
    "--files": "spark.files",
}
#: Options the cluster decides, or that only name the app: dropped.
IGNORED = frozenset({"--master", "--deploy-mode", "--name", "--verbose", "-v"})
#: Properties the service sets for every driver, whatever the job says.
SERVICE_KEYS = frozenset({"spark.master", "spark.submit.deployMode", "spark.app.name",
                          "spark.jars", "spark.submit.pyFiles", "spark.pyspark.python",
                          "spark.pyspark.driver.python"})

FIELD = "arguments"



def localize(arg: str, area_root: Path) -> str:
    try:
        return paths.localize(arg, area_root, strict=True)
    except ValueError as exc:
        raise InvalidParameter(FIELD, str(exc)) from None


def _client_mode(job: Job) -> bool:
    """Whether the job's driver runs on this host (SQL), not on a worker."""
    return job.type in SQL_TEXT_TYPES or job.type in SQL_FILE_TYPES


def _conf(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key.strip():
        raise InvalidParameter(FIELD, f"--conf {value!r}: expected KEY=VALUE")
    return key.strip(), val


class SparkStandaloneCommands:
    """``cluster_of`` finds a job's cluster (its master's URLs); ``area_root`` is the
    directory the job's ``hdfs:///`` paths live in; ``python`` is the interpreter, at
    the same path on every host, that runs Python apps."""

    def __init__(self, cluster_of: Callable[[str], ClusterConfig | None],
                 area_root: Callable[[Job], Path], python: str, *,
                 max_log_bytes: int = 0, timeout_s: float = 5.0,
                 client: ClientMode | None = None) -> None:
        self._cluster_of = cluster_of
        self._area_root = area_root
        self.python = python
        #: Runs SQL jobs' drivers on this host (none: SQL jobs are refused).
        self.client = client
        self.max_log_bytes = max_log_bytes
        self.timeout_s = timeout_s

    def may_block(self, job: Job) -> bool:
        # A SQL driver on this host may first need its project's user, link and
        # metastore; a cluster-mode driver's request is built from the cluster's record
        # alone, on the supervisor's loop like its other reads of the store.
        return _client_mode(job)

    def finished(self, job: Job, run_dir: Path) -> None:
        """Copy what the engine could not copy of the driver's logs (a worker that did
        not answer at the driver's end) from its worker; the copy goes on from where
        it stands."""
        if self.client is not None and _client_mode(job):
            self.client.finished(job, run_dir)
            return
        config = self._cluster_of(job.cluster_id)
        web_url = config.master_web_url if config else None
        if not job.launcher_id or not web_url:
            return
        with MasterUi(web_url, timeout=self.timeout_s) as ui:
            state = ui.state()
        driver = state.driver(job.launcher_id)
        worker = state.worker(driver.worker) if driver and driver.worker else None
        if worker is None or not worker.web_url:
            return  # the master no longer knows where it ran
        with httpx.Client(timeout=httpx.Timeout(self.timeout_s), trust_env=False) as http:
            DriverLogs(job.launcher_id, run_dir, self.max_log_bytes).pull(http, worker.web_url)

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        config = self._cluster_of(job.cluster_id)
        if (config is None or config.engine is not ClusterEngine.SPARK_STANDALONE
                or not config.master_url or not config.rest_url):
            raise LaunchFailed(f"cluster {job.cluster_id} is not a spark-standalone cluster")
        if self.client is not None and _client_mode(job):
            return self.client.launch_spec(job, run_dir, config)
        if job.type.stored is not JobType.SPARK_SUBMIT:
            raise JobTypeNotSupported(
                f"{job.type} jobs cannot run on a {ClusterEngine.SPARK_STANDALONE} cluster yet")
        request = self.request(job, config.master_url, self._area_root(job))
        run_dir.mkdir(parents=True, exist_ok=True)
        return LaunchSpec(job.id, (), run_dir, run_dir, request=SparkLaunch(
            config.rest_url, request, config.master_web_url or "",
            config.rest_key_file or ""))

    def request(self, job: Job, master: str, area: Path) -> CreateRequest:
        options, app = split_spark_options([localize(a, area) for a in job.arguments])
        if not app:
            raise InvalidParameter(FIELD, "no application (a jar or a .py file) is given")
        resource, *app_args = app
        main_class = ""
        jars: list[str] = []
        py_files: list[str] = []
        properties = {k: localize(v, area) for k, v in job.properties.items()}
        for group in options:
            name, eq, inline = group[0].partition("=")
            value = inline if eq else (group[1] if len(group) > 1 else "")
            if name in IGNORED:
                continue
            if not value and not eq:
                raise InvalidParameter(FIELD, f"{name} is not supported on this cluster")
            if name == "--class":
                main_class = value
            elif name in ("--conf", "-c"):
                key, val = _conf(value)
                properties[key] = val
            elif name == "--jars":
                jars.extend(j for j in value.split(",") if j)
            elif name == "--py-files":
                py_files.extend(p for p in value.split(",") if p)
            elif name in OPTION_PROPERTIES:
                properties[OPTION_PROPERTIES[name]] = value
            else:
                raise InvalidParameter(FIELD, f"{name} is not supported on this cluster")
        given = {k: v for k, v in properties.items() if k not in SERVICE_KEYS}
        name = job.name or job.id
        try:
            if resource.endswith(".py"):
                return python_app(master=master, app_name=name, script=resource,
                                  python=self.python, args=app_args, py_files=py_files,
                                  properties=given)
            if not main_class:
                raise InvalidParameter(FIELD, "--class is required for a JVM application")
            return jvm_app(master=master, app_name=name, jar=resource, main_class=main_class,
                           args=app_args, jars=jars, properties=given)
        except ValueError as exc:
            raise InvalidParameter(FIELD, str(exc)) from None

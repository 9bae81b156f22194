"""Turns a job into the command line that runs it on the local cluster.

MRS users write arguments for a YARN cluster (``--master yarn``,
``--deploy-mode cluster``); here they are mapped to the cluster's own master.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...containment.host import Containment, open_containment
from ...containment.sandbox import Confinement
from ...containment.tenants import TenancyError, Tenant
from ...domain.errors import JobTypeNotSupported, MrsError
from ...domain.jobs import SQL_FILE_TYPES, SQL_TEXT_TYPES, Job, JobType, split_spark_options
from ...domain.paths import hdfs_parts, localize
from ...settings import Settings
from ...store.filearea import FileArea
from ..base import LaunchFailed, LaunchSpec
from .mapreduce import mapreduce_argv
from .metastore import Metastore, MetastoreConfig, MetastoreError

#: What of the service's environment a job gets; everything else (MRSJOBS_*, database
#: URLs, keys) stays with the service.
PASSED_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "JAVA_HOME")

# Options the cluster decides, whatever the job says.
CLUSTER_OPTIONS = frozenset({"--master", "--deploy-mode"})

# Keep Spark's driver, block manager and UI on loopback.
LOOPBACK_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
}


@dataclass(frozen=True, slots=True)
class RemoteMaster:
    """A cluster's master that a SQL job's driver on this host joins (client mode):
    its URL, the driver's conf (where it binds), the cluster's warehouse."""

    url: str
    conf: Mapping[str, str]
    warehouse: Path


def ui_base(job: Job) -> str:
    """Where the service serves the job's Spark UI (its ``tracking_url``): a path of the
    v2 API, under the job (see :mod:`mrsjobs.api.spark_ui`)."""
    return (f"/v2/{job.project_id}/clusters/{job.cluster_id}/job-executions/{job.id}"
            "/spark-ui")


def ui_conf(base: str) -> dict[str, str]:
    """A Spark driver's UI as the service proxies it: on the driver's (loopback) bind
    address, on a port of the kernel's choosing (a taken port can never fail the job;
    the driver logs the one it got, see :mod:`.ui`), its links under ``base``, and
    read-only (a job is killed through the API)."""
    return {"spark.ui.enabled": "true", "spark.ui.port": "0",
            "spark.ui.killEnabled": "false", "spark.ui.proxyBase": base}


def _option_name(group: Sequence[str]) -> str:
    return group[0].split("=", 1)[0]


def _confs(conf: Mapping[str, str]) -> Iterator[str]:
    for key, value in conf.items():
        yield "--conf"
        yield f"{key}={value}"


def spark_submit_args(args: Sequence[str], *, master: str, properties: Mapping[str, str],
                      defaults: Mapping[str, str],
                      ui: Mapping[str, str] | None = None) -> list[str]:
    """The job's spark-submit arguments with the cluster's master and our --conf entries
    (``ui``: its Spark UI's, see :func:`ui_conf`)."""
    options, app = split_spark_options(args)
    kept = [g for g in options if _option_name(g) not in CLUSTER_OPTIONS]
    given = {_option_name(g) for g in kept}
    conf = {k: v for k, v in defaults.items()
            if not (k == "spark.driver.memory" and "--driver-memory" in given)}
    conf.update(properties)
    conf.update(LOOPBACK_CONF)
    conf.update(ui or {})
    return ["--master", master, *_confs(conf), *(a for g in kept for a in g), *app]


#: The job types the local cluster can run.
RUNNABLE = frozenset({JobType.MAP_REDUCE, JobType.SPARK_SUBMIT, JobType.SPARK_SQL,
                      JobType.SPARK_SCRIPT, JobType.HIVE_SQL, JobType.HIVE_SCRIPT})


class LocalCluster:
    """How the embedded clusters run each job type on this host.

    Each cluster has a Hive metastore of its own (tables persist across its jobs),
    kept in ``Settings.cluster_dir``: instances that share that directory share it.
    Every job, and every metastore, runs contained as its project's (``containment``).
    """

    def __init__(self, settings: Settings, containment: Containment | None = None,
                 files_root_of: Callable[[str], str | None] | None = None) -> None:
        # Resolve Spark's home once: finding it imports pyspark, too slow for dispatch.
        if settings.spark_home is None:
            settings = settings.model_copy(update={"spark_home": settings.spark_dir})
        self.settings = settings
        self.containment = containment or open_containment(
            settings, (settings.spark_submit_cmd, settings.spark_sql_cmd, settings.java))
        self._env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
        self._env.update({
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_HOME": str(self.settings.spark_dir),
            "PYSPARK_PYTHON": self.settings.python,
            "PYSPARK_DRIVER_PYTHON": self.settings.python,
            "TMPDIR": "/tmp",
        })
        self._read = tuple(Path(r) for r in settings.read_roots if Path(r).exists())
        self._metastores: dict[str, Metastore] = {}
        self._areas: dict[str, FileArea] = {}
        # A cluster's files root, if it has one (asked once per cluster).
        self._files_root_of = files_root_of or (lambda _: None)
        self._lock = threading.Lock()

    def job_env(self) -> dict[str, str]:
        """The environment every process of a job (or of a cluster's daemon) starts with."""
        return dict(self._env)

    def read_paths(self) -> tuple[Path, ...]:
        """The operator's read-only roots that contained processes see."""
        return self._read

    def area(self, project_id: str, cluster_id: str) -> FileArea:
        """The cluster's file area, made on first use, owned by the project's user: its
        files root itself if it has one, else under the data directory (or clusters_dir)."""
        with self._lock:
            area = self._areas.get(cluster_id)
            if area is None:
                root = self._files_root_of(cluster_id)
                path = Path(root) if root else self.settings.files_dir(cluster_id)
                area = FileArea(path.resolve(), self.containment.owner(project_id))
                area.ensure()
                self._areas[cluster_id] = area
            return area

    def metastore(self, cluster_id: str, tenant: Tenant | None = None,
                  warehouse: Path | None = None) -> Metastore:
        """The cluster's metastore (made once); its tables in ``warehouse`` if given."""
        with self._lock:
            if cluster_id not in self._metastores:
                home = self.settings.cluster_dir(cluster_id).resolve() / "metastore"
                self._metastores[cluster_id] = Metastore(MetastoreConfig(
                    home=home, java=self.settings.java, spark_home=self.settings.spark_dir,
                    idle_s=self.settings.metastore_idle_s, warehouse=warehouse),
                    containment=self.containment, tenant=tenant)
            return self._metastores[cluster_id]

    def stop_metastores(self, keep: Container[str] = ()) -> None:
        """Stop the metastores of clusters not in ``keep`` (those still have SQL jobs)."""
        with self._lock:
            for cluster_id, metastore in list(self._metastores.items()):
                if cluster_id not in keep:
                    metastore.stop()
                    del self._metastores[cluster_id]

    def defaults(self) -> dict[str, str]:
        conf = {"spark.driver.memory": self.settings.driver_memory}
        if self.settings.driver_java_options:
            conf["spark.driver.extraJavaOptions"] = self.settings.driver_java_options
        return conf

    def may_block(self, job: Job) -> bool:
        """SQL jobs may first have to start the cluster's metastore (seconds), and a
        project's first job may have to create its OS user."""
        return not self.containment.tenant_ready(job.project_id) or (
            self.settings.hive_metastore
            and (job.type in SQL_TEXT_TYPES or job.type in SQL_FILE_TYPES))

    def launch_spec(self, job: Job, run_dir: Path, remote: RemoteMaster | None = None
                    ) -> LaunchSpec:
        """The command for ``job``. SQL jobs first make sure the metastore runs (blocking);
        with ``remote``, a SQL job's driver joins that master's cluster."""
        s = self.settings
        try:
            tenant = self.containment.tenant(job.project_id)
            area = self.area(job.project_id, job.cluster_id)
        except (TenancyError, OSError) as exc:
            raise LaunchFailed(f"the job's sandbox could not be made: {exc}") from exc
        work, tmp = _job_dirs(run_dir, tenant)
        if output := job.submission.output:
            # v1.1 promises the output directory exists when the job starts.
            try:
                area.make_dirs(_area_parts("output", output))
            except (MrsError, OSError) as exc:
                raise LaunchFailed(f"cannot create the output directory {output}: {exc}") from exc
        args = [localize(a, area.root) for a in job.arguments]
        writable = [work, area.root]
        base = None
        if job.type is JobType.SPARK_SUBMIT:
            base = ui_base(job)
            argv = [s.spark_submit_cmd, *spark_submit_args(
                args, master=s.master, properties=job.properties, defaults=self.defaults(),
                ui=ui_conf(base))]
        elif job.type in SQL_TEXT_TYPES or job.type in SQL_FILE_TYPES:
            *pairs, sql = args
            metastore_conf: dict[str, str] = {}
            if s.hive_metastore:
                metastore = self.metastore(job.cluster_id, tenant,
                                           remote.warehouse if remote else None)
                try:
                    metastore_conf = metastore.spark_conf()
                except MetastoreError as exc:
                    raise LaunchFailed(
                        f"the cluster's Hive metastore did not start: {exc}") from exc
                writable += metastore.job_dirs()
            conf = {**self.defaults(), **metastore_conf, **job.properties,
                    **(remote.conf if remote else LOOPBACK_CONF)}
            source = ["-e", sql] if job.type in SQL_TEXT_TYPES else ["-f", _local_path(sql)]
            argv = [s.spark_sql_cmd, "--master", remote.url if remote else s.master,
                    *_confs(conf), *pairs, *source]
        elif job.type is JobType.MAP_REDUCE:
            argv = mapreduce_argv(java=s.java, spark_home=s.spark_dir, jar=_local_path(args[0]),
                                  args=args[1:], properties=job.properties, work_dir=work)
            _chown_tree(work / ".hadoop", tenant)
        else:
            raise JobTypeNotSupported(f"{job.type.value} jobs cannot run on this cluster.")
        if remote is not None and argv[0] != s.spark_sql_cmd:
            raise JobTypeNotSupported(f"{job.type.value} jobs do not run on this host "
                                      "for that cluster.")
        # Inside the sandbox a missing program would only be the job's exit code 127.
        if shutil.which(argv[0]) is None:
            raise LaunchFailed(f"{argv[0]} is not an executable program on this host")
        env = {**self._env, "HOME": str(work),
               "USER": tenant.user if tenant else "mrsjobs"}
        contained = self.containment.sandbox is not None
        argv = self.containment.command(argv, Confinement(
            cwd=work, tenant=tenant, read=self._read, write=writable, tmp=tmp))
        netns = tenant.netns_path if tenant else None
        return LaunchSpec(job.id, tuple(argv), run_dir, work, env,
                          netns=str(netns) if netns else None, sandboxed=contained,
                          ui_base=base)

    def finished(self, job: Job, run_dir: Path) -> None:
        """Copy the job's logs to its v1.1 ``job_log`` directory, when it asked for that."""
        if target := job.submission.job_log:
            area = self.area(job.project_id, job.cluster_id)
            parts = (*_area_parts("job_log", target), job.id)
            for name in ("stdout.log", "stderr.log"):
                if (run_dir / name).exists():
                    area.copy_in(run_dir / name, (*parts, name))


def _area_parts(field: str, value: str) -> tuple[str, ...]:
    try:
        parts = hdfs_parts(value)
    except ValueError as exc:
        raise LaunchFailed(f"{field}: {exc}") from exc
    if parts is None:
        raise LaunchFailed(f"{field} must be in the cluster's file area (hdfs:///...)")
    return parts


def _job_dirs(run_dir: Path, tenant: Tenant | None) -> tuple[Path, Path]:
    """The run's work directory and private /tmp: the job's own, beside the service's
    records in ``run_dir``, which the job cannot see."""
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    work, tmp = run_dir / "work", run_dir / "tmp"
    for folder in (work, tmp):
        folder.mkdir(mode=0o700, exist_ok=True)
        if tenant is not None:
            os.chown(folder, tenant.uid, tenant.gid)
    return work, tmp


def _chown_tree(root: Path, tenant: Tenant | None) -> None:
    if tenant is None:
        return
    for folder, dirs, files in os.walk(root):
        for name in (folder, *(os.path.join(folder, n) for n in (*dirs, *files))):
            os.chown(name, tenant.uid, tenant.gid, follow_symlinks=False)


def _local_path(path: str) -> str:
    return path.removeprefix("file://")

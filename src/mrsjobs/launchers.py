"""Turns a job into the command line that runs it on the local cluster.

MRS users write arguments for a YARN cluster (``--master yarn``,
``--deploy-mode cluster``); here they are mapped to the cluster's own master.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Container, Iterator, Mapping, Sequence
from pathlib import Path

from .domain import SQL_FILE_TYPES, SQL_TEXT_TYPES, Job, JobType, split_spark_options
from .engines.base import LaunchFailed, LaunchSpec
from .errors import JobTypeNotSupported
from .hadoop import mapreduce_argv
from .metastore import Metastore, MetastoreConfig, MetastoreError
from .settings import Settings

# Options the cluster decides, whatever the job says.
CLUSTER_OPTIONS = frozenset({"--master", "--deploy-mode"})

# Keep Spark's driver, block manager and UI on loopback.
LOOPBACK_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
}


def _option_name(group: Sequence[str]) -> str:
    return group[0].split("=", 1)[0]


def _confs(conf: Mapping[str, str]) -> Iterator[str]:
    for key, value in conf.items():
        yield "--conf"
        yield f"{key}={value}"


def spark_submit_args(args: Sequence[str], *, master: str, properties: Mapping[str, str],
                      defaults: Mapping[str, str]) -> list[str]:
    """The job's spark-submit arguments with the cluster's master and our --conf entries."""
    options, app = split_spark_options(args)
    kept = [g for g in options if _option_name(g) not in CLUSTER_OPTIONS]
    given = {_option_name(g) for g in kept}
    conf = {k: v for k, v in defaults.items()
            if not (k == "spark.driver.memory" and "--driver-memory" in given)}
    conf.update(properties)
    conf.update(LOOPBACK_CONF)
    return ["--master", master, *_confs(conf), *(a for g in kept for a in g), *app]


#: The job types the local cluster can run.
RUNNABLE = frozenset({JobType.MAP_REDUCE, JobType.SPARK_SUBMIT, JobType.SPARK_SQL,
                      JobType.SPARK_SCRIPT, JobType.HIVE_SQL, JobType.HIVE_SCRIPT})


class LocalCluster:
    """How the embedded clusters run each job type on this host.

    Each cluster has a Hive metastore of its own (tables persist across its jobs),
    kept in ``Settings.cluster_dir``: instances that share that directory share it.
    """

    def __init__(self, settings: Settings) -> None:
        # Resolve Spark's home once: finding it imports pyspark, too slow for dispatch.
        if settings.spark_home is None:
            settings = settings.model_copy(update={"spark_home": settings.spark_dir})
        self.settings = settings
        self._env = self._make_env()
        self._metastores: dict[str, Metastore] = {}
        self._lock = threading.Lock()

    def metastore(self, cluster_id: str) -> Metastore:
        with self._lock:
            if cluster_id not in self._metastores:
                home = self.settings.cluster_dir(cluster_id) / "metastore"
                self._metastores[cluster_id] = Metastore(MetastoreConfig(
                    home=home.resolve(), java=self.settings.java,
                    spark_home=self.settings.spark_dir))
            return self._metastores[cluster_id]

    def stop_metastores(self, keep: Container[str] = ()) -> None:
        """Stop the metastores of clusters not in ``keep`` (those still have SQL jobs)."""
        with self._lock:
            for cluster_id, metastore in list(self._metastores.items()):
                if cluster_id not in keep:
                    metastore.stop()
                    del self._metastores[cluster_id]

    def _make_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_HOME": str(self.settings.spark_dir),
            "PYSPARK_PYTHON": self.settings.python,
            "PYSPARK_DRIVER_PYTHON": self.settings.python,
        })
        return env

    def defaults(self) -> dict[str, str]:
        conf = {"spark.driver.memory": self.settings.driver_memory}
        if self.settings.driver_java_options:
            conf["spark.driver.extraJavaOptions"] = self.settings.driver_java_options
        return conf

    def may_block(self, job: Job) -> bool:
        """SQL jobs may first have to start the cluster's metastore (seconds)."""
        return self.settings.hive_metastore and (
            job.type in SQL_TEXT_TYPES or job.type in SQL_FILE_TYPES)

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        """The command for ``job``. SQL jobs first make sure the metastore runs (blocking)."""
        s = self.settings
        if output := job.submission.get("output"):
            # v1.1 promises the output directory exists when the job starts.
            try:
                Path(_local_path(output)).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LaunchFailed(f"cannot create the output directory {output}: {exc}") from exc
        args = list(job.arguments)
        if job.type is JobType.SPARK_SUBMIT:
            argv = [s.spark_submit_cmd, *spark_submit_args(
                args, master=s.master, properties=job.properties, defaults=self.defaults())]
        elif job.type in SQL_TEXT_TYPES or job.type in SQL_FILE_TYPES:
            *pairs, sql = args
            metastore_conf: dict[str, str] = {}
            if s.hive_metastore:
                try:
                    metastore_conf = self.metastore(job.cluster_id).spark_conf()
                except MetastoreError as exc:
                    raise LaunchFailed(
                        f"the cluster's Hive metastore did not start: {exc}") from exc
            conf = {**self.defaults(), **metastore_conf, **job.properties, **LOOPBACK_CONF}
            source = ["-e", sql] if job.type in SQL_TEXT_TYPES else ["-f", _local_path(sql)]
            argv = [s.spark_sql_cmd, "--master", s.master, *_confs(conf), *pairs, *source]
        elif job.type is JobType.MAP_REDUCE:
            argv = mapreduce_argv(java=s.java, spark_home=s.spark_dir, jar=_local_path(args[0]),
                                  args=args[1:], properties=job.properties, work_dir=run_dir)
        else:
            raise JobTypeNotSupported(f"{job.type.value} jobs cannot run on this cluster.")
        return LaunchSpec(job.id, tuple(argv), run_dir, run_dir, self._env)


    def finished(self, job: Job, run_dir: Path) -> None:
        """Copy the job's logs to its v1.1 ``job_log`` directory, when it asked for that."""
        if target := job.submission.get("job_log"):
            dest = Path(_local_path(target)) / job.id
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("stdout.log", "stderr.log"):
                if (run_dir / name).exists():
                    shutil.copyfile(run_dir / name, dest / name)


def _local_path(path: str) -> str:
    return path.removeprefix("file://")

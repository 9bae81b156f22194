"""The per-cluster metastore daemon with real JVMs: concurrent spark-sql jobs share one
catalog, the daemon listens on loopback only, and it is started once, reused and stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mrsjobs.engines.local.metastore import Metastore, MetastoreConfig, MetastoreError
from tests.support.procs import kill_leftovers, processes_with
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("java")]

SRC = Path(__file__).resolve().parents[2] / "src"
JOB_TIMEOUT = 300.0
# C1-only JIT roughly halves the start-up of a short spark-sql job on 2 cores.
DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def _listening_addresses(pid: int) -> set[str]:
    """Local addresses of the TCP sockets ``pid`` listens on, as ``ss -ltnp`` shows them."""
    out = subprocess.run(["ss", "-H", "-l", "-t", "-n", "-p"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}


def _config(home: Path, spark_home: Path) -> MetastoreConfig:
    return MetastoreConfig(home=home, spark_home=spark_home)


@pytest.fixture(scope="module")
def metastore(spark_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metastore]:
    """A running metastore shared by the SQL tests of this module."""
    home = tmp_path_factory.mktemp("cluster")
    metastore = Metastore(_config(home, spark_home))
    try:
        metastore.ensure_started()
        yield metastore
    finally:
        metastore.stop()
        kill_leftovers(str(home))


@dataclass
class Job:
    name: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    returncode: int | None = None

    @property
    def stdout(self) -> str:
        return (self.workdir / "stdout").read_text()

    @property
    def stderr(self) -> str:
        return (self.workdir / "stderr").read_text()

    def wait(self, timeout: float = JOB_TIMEOUT) -> Job:
        self.returncode = self.proc.wait(timeout)
        return self

    def describe(self) -> str:
        return f"{self.name} exited {self.returncode}\n--- stderr:\n{self.stderr[-3000:]}"


class SqlJobs:
    """Starts ``spark-sql`` processes the way the job service does."""

    def __init__(self, spark_home: Path, metastore: Metastore, tmp: Path) -> None:
        self.spark_home = spark_home
        self.metastore = metastore
        self.tmp = tmp
        self.jobs: list[Job] = []

    def command(self, source: list[str]) -> list[str]:
        conf = {**self.metastore.spark_conf(), "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false"}
        confs = [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")]
        return [str(self.spark_home / "bin" / "spark-sql"), "--master", "local[1]",
                "--driver-memory", "512m", "--driver-java-options", DRIVER_JAVA_OPTIONS,
                *confs, *source]

    def start(self, name: str, *, sql: str | None = None, file_sql: str | None = None) -> Job:
        workdir = self.tmp / name
        workdir.mkdir()
        if file_sql is not None:
            (workdir / "job.sql").write_text(file_sql)
            source = ["-f", str(workdir / "job.sql")]
        else:
            assert sql is not None
            source = ["-e", sql]
        env = {**os.environ, "SPARK_HOME": str(self.spark_home), "SPARK_LOCAL_IP": "127.0.0.1"}
        with open(workdir / "stdout", "wb") as out, open(workdir / "stderr", "wb") as err:
            proc = subprocess.Popen(self.command(source), cwd=workdir, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        job = Job(name, proc, workdir)
        self.jobs.append(job)
        return job

    def run(self, name: str, **source: str) -> Job:
        return self.start(name, **source).wait()

    def cleanup(self) -> None:
        for job in self.jobs:
            if job.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.proc.pid, signal.SIGKILL)
                job.proc.wait(30)
        kill_leftovers(str(self.tmp))


@pytest.fixture
def sql_jobs(spark_home: Path, metastore: Metastore, tmp_path: Path) -> Iterator[SqlJobs]:
    jobs = SqlJobs(spark_home, metastore, tmp_path)
    try:
        yield jobs
    finally:
        jobs.cleanup()


def _rows(job: Job) -> list[str]:
    return [line for line in job.stdout.splitlines() if line.strip()]


def _assert_no_stray_metastore(job: Job) -> None:
    """The job used the daemon: no embedded Derby was booted in its working directory."""
    stray = {p.name for p in job.workdir.iterdir()} & {"derby.log", "metastore_db"}
    assert not stray, f"{job.name} booted an embedded metastore: {stray}"


def test_start_failure_reports_the_daemon_log(tmp_path: Path) -> None:
    (tmp_path / "spark" / "jars").mkdir(parents=True)
    metastore = Metastore(MetastoreConfig(home=tmp_path / "cluster", spark_home=tmp_path / "spark",
                                          java=str(tmp_path / "no-such-java")))
    with pytest.raises(MetastoreError, match="exited while starting") as failure:
        metastore.ensure_started()
    assert "no-such-java" in str(failure.value), "the error carries the daemon's log"
    assert metastore.pid() is None


# Ordered so that the lifecycle test's daemons are gone before the shared one starts.

@pytest.mark.timeout(600)
def test_started_once_reused_replaced_and_stopped(spark_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "cluster"
    config = _config(home, spark_home)
    try:
        # Two threads and another process race to start it: one daemon, one URI.
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import sys; from pathlib import Path;"
             "from mrsjobs.engines.local.metastore import Metastore, MetastoreConfig;"
             "print(Metastore(MetastoreConfig(home=Path(sys.argv[1]),"
             " spark_home=Path(sys.argv[2]))).ensure_started())",
             str(home), str(spark_home)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))})
        with ThreadPoolExecutor(2) as pool:
            uris = list(pool.map(lambda _: Metastore(config).ensure_started(), range(2)))
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        uris.append(out.strip())
        port = int(uris[0].rsplit(":", 1)[1])
        assert uris == [f"thrift://127.0.0.1:{port}"] * 3
        daemons = processes_with(str(home))
        assert len(daemons) == 1
        assert Metastore(config).pid() == daemons[0]
        assert (home / "logs" / "derby.log").is_file()
        assert (home / "metastore_db").is_dir()

        # A dead daemon is replaced, on the same port.
        os.kill(daemons[0], signal.SIGKILL)
        # A JVM takes a moment to die after SIGKILL; until then it still serves.
        wait_for(lambda: processes_with(str(home)) == [], timeout=30)
        assert Metastore(config).ensure_started() == uris[0]
        replaced = processes_with(str(home))
        assert len(replaced) == 1 and replaced != daemons

        # stop() leaves no process behind (and is idempotent).
        Metastore(config).stop()
        assert processes_with(str(home)) == []
        assert Metastore(config).pid() is None
        Metastore(config).stop()
    finally:
        Metastore(config).stop()
        kill_leftovers(str(home))


def test_daemon_listens_on_loopback_only(metastore: Metastore) -> None:
    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2)")
    pid = metastore.pid()
    assert pid is not None
    port = int(metastore.ensure_started().rsplit(":", 1)[1])
    assert _listening_addresses(pid) == {f"127.0.0.1:{port}"}


@pytest.mark.timeout(900)
def test_concurrent_sql_jobs_share_the_metastore(sql_jobs: SqlJobs, metastore: Metastore) -> None:
    setup = sql_jobs.run("setup", sql=(
        "CREATE TABLE shared (id INT, who STRING) USING parquet;"
        "INSERT INTO shared VALUES (0, 'from-setup');"))
    assert setup.returncode == 0, setup.describe()

    # Two jobs at once, each creating its own table and reading the shared one;
    # one with -e and a datasource table, one with -f and a Hive-format table.
    a = sql_jobs.start("a", sql=(
        "CREATE TABLE t_a (id INT) USING parquet;"
        "INSERT INTO t_a VALUES (1);"
        "SELECT who FROM shared;"))
    b = sql_jobs.start("b", file_sql=(
        "CREATE TABLE t_b (id INT) STORED AS PARQUET;\n"
        "INSERT INTO t_b VALUES (2);\n"
        "SELECT who FROM shared;\n"))
    assert a.proc.poll() is None, "job a ended before job b started: they did not overlap"
    for job in (a.wait(), b.wait()):
        assert job.returncode == 0, job.describe()
        assert _rows(job) == ["from-setup"], job.describe()

    after = sql_jobs.run("after", sql=(
        "SELECT 'a', id FROM t_a UNION ALL SELECT 'b', id FROM t_b ORDER BY 1;"))
    assert after.returncode == 0, after.describe()
    assert _rows(after) == ["a\t1", "b\t2"]

    for job in (setup, a, b, after):
        _assert_no_stray_metastore(job)
    warehouse = metastore.home / "warehouse"
    assert {"shared", "t_a", "t_b"} <= {p.name for p in warehouse.iterdir()}


def test_failing_statement_fails_the_job(sql_jobs: SqlJobs) -> None:
    job = sql_jobs.run("bad", file_sql=(
        "SELECT 'before';\nSELECT * FROM no_such_table;\nSELECT 'after';\n"))
    assert job.returncode != 0, job.describe()
    assert _rows(job) == ["before"], "spark-sql stops at the failing statement"
    assert "TABLE_OR_VIEW_NOT_FOUND" in job.stderr

"""The Spark standalone engine on the namespaced cluster: jobs become cluster-mode
drivers on the workers, their ends and kills are learnt from the master, and a new
engine finds a running driver again from its handle's text. Its commands and the
router between engines are checked here too (no cluster needed for those)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mrsjobs.domain.clusters import ClusterConfig, ClusterEngine
from mrsjobs.domain.errors import InvalidParameter, JobTypeNotSupported
from mrsjobs.domain.jobs import Job, JobResult, JobState, JobType
from mrsjobs.engines.base import LaunchFailed, LaunchSpec, Result
from mrsjobs.engines.memory import MemoryEngine
from mrsjobs.engines.router import EngineRouter
from mrsjobs.engines.spark_standalone.commands import SparkStandaloneCommands
from mrsjobs.engines.spark_standalone.engine import (
    SparkDriverHandle,
    SparkLaunch,
    SparkStandaloneEngine,
)
from mrsjobs.engines.spark_standalone.rest import PYTHON_RUNNER, DriverState, SparkRest
from tests.fixtures.sparkapp.build import COUNT_PY, PI, SLEEP
from tests.support.engine_events import Heard
from tests.support.spark_cluster import SparkCluster
from tests.support.waiting import free_port, wait_for

#: Driver and executor of one app fit one worker (1g), beside the driver's own core;
#: one executor core, so that another app's driver still finds a core.
SMALL = {"spark.driver.memory": "512m", "spark.executor.memory": "512m",
         "spark.driver.cores": "1", "spark.cores.max": "1",
         "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}
APP_TIMEOUT_S = 120.0
MASTER = "spark://10.213.0.2:7077"


def run(coro: Callable[[], Awaitable[Any]], timeout: float = 3 * APP_TIMEOUT_S) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), timeout))


def _job(args: list[str], *, job_type: JobType = JobType.SPARK_SUBMIT,
         properties: Mapping[str, str] | None = None) -> Job:
    job_id = uuid.uuid4().hex
    return Job(job_id, "p1", "c1", f"job-{job_id[:8]}", job_type, "user", "default",
               tuple(args), dict(properties or {}), JobState.RUNNING, JobResult.UNDEFINED,
               0.0, 0)


def _conf(props: Mapping[str, str]) -> list[str]:
    return [a for k, v in props.items() for a in ("--conf", f"{k}={v}")]


@pytest.fixture
def area(tmp_path: Path) -> Path:
    root = tmp_path / "area"
    root.mkdir()
    return root


def _commands(area: Path, cluster: SparkCluster | None = None) -> SparkStandaloneCommands:
    config = (ClusterConfig(ClusterEngine.SPARK_STANDALONE, cluster.master_url,
                            cluster.rest_url, web_url=cluster.web_url,
                            rest_key_file=cluster.rest_key_file) if cluster
              else ClusterConfig(ClusterEngine.SPARK_STANDALONE, MASTER, "http://10.213.0.2:6066"))
    return SparkStandaloneCommands(lambda _: config, lambda _: area, sys.executable)


# -- commands ---------------------------------------------------------------------------


def test_commands_build_a_jvm_request_in_the_file_area(area: Path, tmp_path: Path) -> None:
    job = _job(["--master", "yarn", "--deploy-mode", "client", "--class", PI,
                "--conf", "spark.master=local[*]", "--conf=spark.executor.memory=1g",
                "--driver-memory", "600m", "--jars", "hdfs:///lib/a.jar",
                "hdfs:///apps/app.jar", "4", "hdfs:///in"],
               properties={"spark.app.name": "mine", "spark.eventLog.enabled": "false"})
    spec = _commands(area).launch_spec(job, tmp_path / "run")
    assert isinstance(spec.request, SparkLaunch)
    request = spec.request.request
    props = request.spark_properties
    assert request.main_class == PI
    assert request.app_resource == (area / "apps/app.jar").as_uri()
    assert request.app_args == ("4", str(area / "in"))
    # The cluster decides the master, the deploy mode and the app's name.
    assert props["spark.master"] == MASTER
    assert props["spark.submit.deployMode"] == "cluster"
    assert props["spark.app.name"] == job.name
    assert props["spark.jars"] == ",".join([(area / "apps/app.jar").as_uri(),
                                           (area / "lib/a.jar").as_uri()])
    assert (props["spark.executor.memory"], props["spark.driver.memory"]) == ("1g", "600m")
    assert props["spark.eventLog.enabled"] == "false"


def test_commands_run_python_apps_through_python_runner(area: Path, tmp_path: Path) -> None:
    spec = _commands(area).launch_spec(
        _job(["--py-files", "hdfs:///lib/dep.py", "hdfs:///apps/count.py", "10"],
             job_type=JobType.SPARK_PYTHON), tmp_path / "run")
    assert isinstance(spec.request, SparkLaunch)
    request = spec.request.request
    assert request.main_class == PYTHON_RUNNER
    script = (area / "apps/count.py").as_uri()
    assert request.app_args == (script, (area / "lib/dep.py").as_uri(), "10")
    assert request.spark_properties["spark.pyspark.python"] == sys.executable


@pytest.mark.parametrize(("args", "problem"), [
    (["--packages", "a:b:1", "--class", PI, "/x.jar"], "--packages is not supported"),
    (["--supervise", "--class", PI, "/x.jar"], "--supervise is not supported"),
    (["/x.jar"], "--class is required"),
    (["--class", PI], "no application"),
    (["--conf", "novalue", "--class", PI, "/x.jar"], "expected KEY=VALUE"),
    (["--class", PI, "hdfs://host/x.jar"], "hdfs:///path"),
])
def test_commands_refuse_what_they_cannot_honour(area: Path, tmp_path: Path,
                                                 args: list[str], problem: str) -> None:
    with pytest.raises(InvalidParameter, match=problem) as caught:
        _commands(area).launch_spec(_job(args), tmp_path / "run")
    assert caught.value.field == "arguments"


def test_commands_refuse_other_job_types(area: Path, tmp_path: Path) -> None:
    with pytest.raises(JobTypeNotSupported, match="SparkSql"):
        _commands(area).launch_spec(_job(["select 1"], job_type=JobType.SPARK_SQL),
                                    tmp_path / "run")


# -- routing ----------------------------------------------------------------------------


def test_router_sends_each_job_to_its_engine(tmp_path: Path) -> None:
    local = MemoryEngine()
    spark = SparkStandaloneEngine()
    router = EngineRouter({ClusterEngine.LOCAL: local, ClusterEngine.SPARK_STANDALONE: spark})
    assert router.capabilities.job_types >= {JobType.SPARK_SUBMIT, JobType.MAP_REDUCE}

    async def scenario() -> None:
        handle = await router.launch(LaunchSpec("l1", ("true",), tmp_path, tmp_path))
        assert local.running() == ["l1"]
        # A local handle's text names no engine: the local engine finds it again.
        again = router.attach("l1", tmp_path, handle.dumps())
        assert again is not None and again.launcher_id == handle.launcher_id
        assert await router.signal(handle, force=True) is True
        # A driver's handle names its engine.
        text = SparkDriverHandle("s1", 1, "driver-1", "http://127.0.0.1:1").dumps()
        assert json.loads(text)["engine"] == "spark-standalone"
        assert router.attach("s1", tmp_path, None) is None  # nothing recorded: local
        await router.close()

    run(scenario)


def test_an_unreachable_master_ends_the_job_failed_after_its_timeout(tmp_path: Path) -> None:
    engine = SparkStandaloneEngine(unreachable_timeout_s=0.5)
    heard = Heard()

    async def scenario() -> tuple[str, object]:
        await engine.start(heard)
        assert engine.attach("u1", tmp_path, None) is None
        text = SparkDriverHandle("u1", 1, "driver-20260101-0000",
                                 f"http://127.0.0.1:{free_port()}").dumps()
        handle = engine.attach("u1", tmp_path, text)
        assert handle is not None and handle.launcher_id == "driver-20260101-0000"
        end = await heard.end_of("u1", timeout=30)
        await engine.close()
        return end

    kind, end = run(scenario)
    assert kind == "ended" and isinstance(end, Result)
    assert (end.outcome.state, end.outcome.result) == (JobState.FAILED, JobResult.FAILED)
    assert "unreachable" in (end.outcome.diagnostics or "")


def test_a_driver_whose_key_is_gone_ends_failed_with_the_reason(tmp_path: Path) -> None:
    """A service restarted after its cluster's REST key file went: the master cannot be
    asked, which is told as such once the unreachable timeout has passed."""
    engine = SparkStandaloneEngine(unreachable_timeout_s=0.5)
    heard = Heard()

    async def scenario() -> tuple[str, object]:
        await engine.start(heard)
        text = SparkDriverHandle("k1", 1, "driver-20260101-0000",
                                 f"http://127.0.0.1:{free_port()}",
                                 rest_key_file=str(tmp_path / "gone.key")).dumps()
        assert engine.attach("k1", tmp_path, text) is not None
        end = await heard.end_of("k1", timeout=30)
        await engine.close()
        return end

    kind, end = run(scenario)
    assert kind == "ended" and isinstance(end, Result)
    assert end.outcome.state is JobState.FAILED
    assert "cannot read the REST key file" in (end.outcome.diagnostics or "")


# -- on the namespaced cluster ----------------------------------------------------------


@pytest.fixture
def app_area(area: Path, sparkapp_jar: Path) -> Path:
    (area / "apps").mkdir()
    shutil.copy(sparkapp_jar, area / "apps" / "sparkapp.jar")
    shutil.copy(COUNT_PY, area / "apps" / "count.py")
    return area


@pytest.fixture
def rest(spark_cluster: SparkCluster) -> Iterator[SparkRest]:
    with spark_cluster.rest() as client:
        yield client


def _jvm_job(main_class: str, *args: str) -> Job:
    return _job([*_conf(SMALL), "--class", main_class, "hdfs:///apps/sparkapp.jar", *args])


def _sleep_ready(cluster: SparkCluster, rest: SparkRest, driver_id: str) -> None:
    """Wait until the Sleep driver runs on a worker with its SparkContext up."""
    def ready() -> bool:
        status = rest.status(driver_id)
        assert status.state is None or not status.state.terminal, status
        if status.state is not DriverState.RUNNING or status.worker_host is None:
            return False
        stdout = (cluster.work_dir(cluster.worker_at(status.worker_host)) / driver_id
                  / "stdout")
        return stdout.is_file() and "SLEEP_READY" in stdout.read_text()

    wait_for(ready, timeout=APP_TIMEOUT_S, interval=0.05, message=f"{driver_id} ready")


def _master_says(cluster: SparkCluster, driver_id: str) -> DriverState | None:
    with cluster.ui() as ui:
        driver = ui.state().driver(driver_id)
    return driver.state if driver else None


def _launch_and_end(cluster: SparkCluster, area: Path, job: Job, tmp_path: Path,
                    heard: Heard | None = None
                    ) -> tuple[SparkDriverHandle, tuple[str, object]]:
    engine = SparkStandaloneEngine()
    heard = heard or Heard()

    async def scenario() -> tuple[SparkDriverHandle, tuple[str, object]]:
        await engine.start(heard)
        try:
            spec = _commands(area, cluster).launch_spec(job, tmp_path / job.id)
            handle = await engine.launch(spec)
            return handle, await heard.end_of(job.id)
        finally:
            await engine.close()

    handle, end = run(scenario)
    assert heard.starts == [job.id]
    return handle, end


@pytest.mark.spark
def test_a_jvm_app_runs_to_success(spark_cluster: SparkCluster, app_area: Path,
                                   tmp_path: Path) -> None:
    heard = Heard()
    job = _jvm_job(PI, "4")
    handle, (kind, end) = _launch_and_end(spark_cluster, app_area, job, tmp_path, heard)
    assert handle.launcher_id == handle.driver_id and handle.driver_id.startswith("driver-")
    assert kind == "ended" and isinstance(end, Result), (kind, end)
    assert (end.outcome.state, end.outcome.result) == (JobState.FINISHED, JobResult.SUCCEEDED)
    assert _master_says(spark_cluster, handle.driver_id) is DriverState.FINISHED
    # Its logs were copied from the worker in full, and named its application.
    run_dir = tmp_path / job.id
    worker_copy = next(spark_cluster.work_dir(w) / handle.driver_id
                       for w in spark_cluster.workers
                       if (spark_cluster.work_dir(w) / handle.driver_id).is_dir())
    for stream in ("stdout", "stderr"):
        assert (run_dir / f"{stream}.log").read_bytes() == (worker_copy / stream).read_bytes()
    assert "Pi is roughly" in (run_dir / "stdout.log").read_text()
    app_id, page = heard.apps[job.id]
    assert app_id.startswith("app-") and app_id in (run_dir / "stderr.log").read_text()
    assert page == f"{spark_cluster.web_url}/app/?appId={app_id}"
    with spark_cluster.ui() as ui:
        app = ui.state().app(app_id)
    assert app is not None and app.state == "FINISHED"


@pytest.mark.spark
def test_a_python_app_runs_to_success(spark_cluster: SparkCluster, app_area: Path,
                                      tmp_path: Path) -> None:
    job = _job([*_conf(SMALL), "hdfs:///apps/count.py", "1000"], job_type=JobType.SPARK_PYTHON)
    handle, (kind, end) = _launch_and_end(spark_cluster, app_area, job, tmp_path)
    assert kind == "ended" and isinstance(end, Result), (kind, end)
    assert (end.outcome.state, end.outcome.result) == (JobState.FINISHED, JobResult.SUCCEEDED)
    assert _master_says(spark_cluster, handle.driver_id) is DriverState.FINISHED


@pytest.mark.spark
def test_a_failing_app_ends_failed(spark_cluster: SparkCluster, app_area: Path,
                                   tmp_path: Path) -> None:
    handle, (kind, end) = _launch_and_end(spark_cluster, app_area,
                                          _jvm_job(PI, "not-a-number"), tmp_path)
    assert kind == "ended" and isinstance(end, Result), (kind, end)
    assert (end.outcome.state, end.outcome.result) == (JobState.FINISHED, JobResult.FAILED)
    assert handle.driver_id in (end.outcome.diagnostics or "")


@pytest.mark.spark
def test_a_kill_ends_the_driver_at_the_master(spark_cluster: SparkCluster, rest: SparkRest,
                                              app_area: Path, tmp_path: Path) -> None:
    engine = SparkStandaloneEngine()
    heard = Heard()
    job = _jvm_job(SLEEP, "600", "0")

    async def scenario() -> tuple[SparkDriverHandle, tuple[str, object], bool]:
        await engine.start(heard)
        handle = await engine.launch(
            _commands(app_area, spark_cluster).launch_spec(job, tmp_path / job.id))
        try:
            await asyncio.to_thread(_sleep_ready, spark_cluster, rest, handle.driver_id)
            assert await engine.signal(handle, force=False) is True
            end = await heard.end_of(job.id, timeout=30)
            # Nothing is left to signal.
            again = await engine.signal(handle, force=True)
            return handle, end, again
        finally:
            await engine.close()
            await asyncio.to_thread(rest.kill, handle.driver_id)

    handle, (kind, _), again = run(scenario)
    assert kind == "killed"
    assert again is False
    assert _master_says(spark_cluster, handle.driver_id) is DriverState.KILLED
    # Confirmed only once its application had ended too.
    app_id, _page = heard.apps[job.id]
    with spark_cluster.ui() as ui:
        assert not ui.state().app_active(app_id)
    # The end of its logs is copied once its end is recorded.
    run_dir = tmp_path / job.id
    _commands(app_area, spark_cluster).finished(
        dataclasses.replace(job, launcher_id=handle.driver_id), run_dir)
    worker_copy = next(spark_cluster.work_dir(w) / handle.driver_id
                       for w in spark_cluster.workers
                       if (spark_cluster.work_dir(w) / handle.driver_id).is_dir())
    for stream in ("stdout", "stderr"):
        assert (run_dir / f"{stream}.log").read_bytes() == (worker_copy / stream).read_bytes()
    assert "SLEEP_READY" in (run_dir / "stdout.log").read_text()


@pytest.mark.spark
def test_a_new_engine_finds_a_running_driver_again(spark_cluster: SparkCluster,
                                                   rest: SparkRest, app_area: Path,
                                                   tmp_path: Path) -> None:
    job = _jvm_job(SLEEP, "600", "0")

    async def first_service() -> str:
        engine = SparkStandaloneEngine()
        await engine.start(Heard())
        handle = await engine.launch(
            _commands(app_area, spark_cluster).launch_spec(job, tmp_path / job.id))
        await engine.close()  # the service goes away; its driver runs on
        return handle.dumps()

    text = run(first_service)
    driver_id = json.loads(text)["driver_id"]
    try:
        assert _found_and_killed(spark_cluster, rest, job, tmp_path / job.id, text) == driver_id
        assert _master_says(spark_cluster, driver_id) is DriverState.KILLED
    finally:
        rest.kill(driver_id)


def _found_and_killed(cluster: SparkCluster, rest: SparkRest, job: Job, run_dir: Path,
                      kept: str | None) -> str:
    """A restarted service's engine finds the job's running driver (from ``kept``, or
    its run directory) and kills it: the driver's id, once the kill is confirmed."""
    engine, heard = SparkStandaloneEngine(), Heard()

    async def second_service() -> tuple[SparkDriverHandle | None, tuple[str, object]]:
        await engine.start(heard)
        try:
            handle = await asyncio.to_thread(engine.attach, job.id, run_dir, kept)
            assert handle is not None
            await asyncio.to_thread(_sleep_ready, cluster, rest, handle.driver_id)
            assert await engine.signal(handle, force=False) is True
            return handle, await heard.end_of(job.id, timeout=30)
        finally:
            await engine.close()

    handle, (kind, _) = run(second_service)
    assert handle is not None and kind == "killed"
    driver_id: str = handle.driver_id
    return driver_id


class _Crash(Exception):
    """The service dying at this point (nothing after it runs)."""


@pytest.mark.spark
def test_a_driver_the_store_never_recorded_is_found_from_the_run_directory(
        spark_cluster: SparkCluster, rest: SparkRest, app_area: Path, tmp_path: Path) -> None:
    """The service dies after the master took the driver, before the store kept its
    handle: the restarted service finds it from the run directory, never runs it twice."""
    job = _jvm_job(SLEEP, "600", "0")
    run_dir = tmp_path / job.id

    async def first_service() -> str:
        engine = SparkStandaloneEngine()
        await engine.start(Heard())
        handle = await engine.launch(_commands(app_area, spark_cluster).launch_spec(job, run_dir))
        await engine.close()  # gone before the store recorded anything
        return handle.driver_id

    driver_id = run(first_service)
    try:
        assert _found_and_killed(spark_cluster, rest, job, run_dir, None) == driver_id
    finally:
        rest.kill(driver_id)


@pytest.mark.spark
def test_a_submission_cut_short_is_never_sent_again(spark_cluster: SparkCluster,
                                                    rest: SparkRest, app_area: Path,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The service dies while the master's answer is on its way: the driver may run, so
    the job ends FAILED with that reason instead of being queued again."""
    job = _jvm_job(SLEEP, "600", "0")
    run_dir = tmp_path / job.id
    made: list[str] = []
    create = SparkRest.create

    def create_then_die(self: SparkRest, request: Any) -> Any:
        made.append(create(self, request).driver_id)
        raise _Crash

    async def first_service() -> None:
        engine = SparkStandaloneEngine()
        await engine.start(Heard())
        try:
            with pytest.raises(_Crash):
                await engine.launch(_commands(app_area, spark_cluster).launch_spec(job, run_dir))
        finally:
            await engine.close()

    monkeypatch.setattr(SparkRest, "create", create_then_die)
    try:
        run(first_service)
        monkeypatch.undo()
        assert len(made) == 1
        with pytest.raises(LaunchFailed, match="not submitted again"):
            SparkStandaloneEngine().attach(job.id, run_dir, None)
    finally:
        for driver_id in made:
            rest.kill(driver_id)


def test_a_refused_submission_leaves_the_job_free_to_run_again(tmp_path: Path) -> None:
    """A master that refused (or never got) the request runs nothing: no record stays,
    and the job may be queued again."""
    engine = SparkStandaloneEngine(rest_timeout_s=0.5)
    job = _job(["--class", PI, "hdfs:///apps/sparkapp.jar"])
    run_dir = tmp_path / job.id
    closed = free_port()
    config = ClusterConfig(ClusterEngine.SPARK_STANDALONE, f"spark://127.0.0.1:{closed}",
                           f"http://127.0.0.1:{closed}")
    commands = SparkStandaloneCommands(lambda _: config, lambda _: tmp_path, sys.executable)

    async def scenario() -> None:
        await engine.start(Heard())
        try:
            with pytest.raises(LaunchFailed, match="could not submit"):
                await engine.launch(commands.launch_spec(job, run_dir))
        finally:
            await engine.close()

    run(scenario)
    assert engine.attach(job.id, run_dir, None) is None


def test_a_key_that_cannot_be_read_submits_nothing(tmp_path: Path) -> None:
    """A cluster whose REST key file went missing: the job fails at launch with the
    reason, and nothing is recorded as sent."""
    engine = SparkStandaloneEngine(rest_timeout_s=0.5)
    job = _job(["--class", PI, "hdfs:///apps/sparkapp.jar"])
    run_dir = tmp_path / job.id
    closed = free_port()
    config = ClusterConfig(ClusterEngine.SPARK_STANDALONE, f"spark://127.0.0.1:{closed}",
                           f"http://127.0.0.1:{closed}",
                           rest_key_file=str(tmp_path / "gone.key"))
    commands = SparkStandaloneCommands(lambda _: config, lambda _: tmp_path, sys.executable)

    async def scenario() -> None:
        await engine.start(Heard())
        try:
            with pytest.raises(LaunchFailed, match="cannot read the REST key file"):
                await engine.launch(commands.launch_spec(job, run_dir))
        finally:
            await engine.close()

    run(scenario)
    assert engine.attach(job.id, run_dir, None) is None


"""The engine port's contract, in the supervisor's terms, against every engine: the
in-memory fake, the process engine and the Spark standalone engine on the namespaced
cluster. Each engine runs jobs that succeed, fail or run until stopped, as its own kind
of job (a fake's end, a local program, a driver on a worker); the contract is what the
supervisor relies on, whatever the engine: one end reported per job, saying how it
ended; a stop that is delivered once; a launch that cannot be made refused; a job found
again from its handle's text by the engine of a restarted service."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from mrsjobs.domain.clusters import ClusterConfig, ClusterEngine
from mrsjobs.domain.jobs import Job, JobResult, JobState, JobType
from mrsjobs.engines.base import Engine, Handle, LaunchFailed, LaunchSpec
from mrsjobs.engines.local.engine import ProcessEngine
from mrsjobs.engines.memory import MemoryEngine
from mrsjobs.engines.spark_standalone.commands import SparkStandaloneCommands
from mrsjobs.engines.spark_standalone.engine import SparkStandaloneEngine
from mrsjobs.engines.spark_standalone.rest import DriverState
from tests.fixtures.sparkapp.build import PI, SLEEP
from tests.support.engine_events import Heard, outcome
from tests.support.procs import kill_leftovers
from tests.support.server import FAKE_TOOL
from tests.support.spark_cluster import SparkCluster
from tests.support.waiting import free_port, wait_for

# One cluster per run: under ``pytest -n`` this module goes where the cluster is.
pytestmark = pytest.mark.xdist_group("spark_cluster")

Behaviour = Literal["succeed", "fail", "long"]
TIMEOUT_S = 180.0
SMALL = {"spark.driver.memory": "512m", "spark.executor.memory": "512m",
         "spark.driver.cores": "1", "spark.cores.max": "1",
         "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}


@dataclass
class Port:
    """An engine, and jobs of its own kind that behave as asked (run in ``tmp``)."""

    tmp: Path
    make: Callable[[], Engine[Any]]
    spec: Callable[[str, Behaviour], LaunchSpec]
    unlaunchable: Callable[[str], LaunchSpec]
    #: Makes a launched job behave (the fake's jobs end only when told).
    drive: Callable[[Engine[Any], Handle, Behaviour], None] = lambda *_: None
    #: Waits until a long job is really running (a driver's SparkContext up).
    settle: Callable[[Handle], None] = lambda _: None
    #: The engine a restarted service has (the fake's world is its memory).
    restarted: Callable[[Engine[Any]], Engine[Any]] = field(default=lambda _: _)
    engine: Engine[Any] = field(init=False)
    launched: list[Handle] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = self.make()

    async def launch(self, engine: Engine[Any], job_id: str, behaviour: Behaviour) -> Handle:
        handle: Handle = await engine.launch(self.spec(job_id, behaviour))
        self.launched.append(handle)
        return handle

    def stopped_as(self, engine: Engine[Any]) -> set[str]:
        """How a stopped job may be reported: an engine that confirms kills says
        killed; for another, the supervisor knows it stopped it (the job's own end,
        killed by a signal or exiting on it, is all the engine can tell)."""
        return {"killed"} if engine.capabilities.confirms_kill else {"killed", "failed"}


def _memory(tmp: Path) -> Port:
    def spec(job_id: str, behaviour: Behaviour) -> LaunchSpec:
        return LaunchSpec(job_id, ("fake", behaviour), tmp / job_id, tmp / job_id)

    def drive(engine: Engine[Any], handle: Handle, behaviour: Behaviour) -> None:
        assert isinstance(engine, MemoryEngine)
        if behaviour != "long":
            engine.end(handle.job_id, 0 if behaviour == "succeed" else 1)

    return Port(tmp, MemoryEngine, spec,
                lambda job_id: LaunchSpec(job_id, ("missing-program",), tmp, tmp), drive)


def _process(tmp: Path) -> Port:
    args = {"succeed": "exit=0", "fail": "exit=3", "long": "sleep=600"}

    def spec(job_id: str, behaviour: Behaviour) -> LaunchSpec:
        run_dir = tmp / job_id
        run_dir.mkdir(parents=True, exist_ok=True)
        return LaunchSpec(job_id, (str(FAKE_TOOL), args[behaviour]), run_dir, run_dir,
                          dict(os.environ))

    def unlaunchable(job_id: str) -> LaunchSpec:
        return LaunchSpec(job_id, (str(tmp / "no-such-program"),), tmp, tmp)

    return Port(tmp, ProcessEngine, spec, unlaunchable,
                restarted=lambda _: ProcessEngine())


def _standalone(tmp: Path, cluster: SparkCluster, jar: Path) -> Port:
    area = tmp / "area"
    (area / "apps").mkdir(parents=True, exist_ok=True)
    shutil.copy(jar, area / "apps" / "sparkapp.jar")
    config = ClusterConfig(ClusterEngine.SPARK_STANDALONE, cluster.master_url,
                           cluster.rest_url, web_url=cluster.web_url,
                           rest_key_file=cluster.rest_key_file)
    commands = SparkStandaloneCommands(lambda _: config, lambda _: area, sys.executable)
    args = {"succeed": (PI, "2"), "fail": (PI, "not-a-number"), "long": (SLEEP, "600", "0")}

    def job(job_id: str, *app: str) -> Job:
        conf = [a for k, v in SMALL.items() for a in ("--conf", f"{k}={v}")]
        return Job(job_id, "p1", "c1", job_id, JobType.SPARK_SUBMIT, "user", "default",
                   (*conf, "--class", app[0], "hdfs:///apps/sparkapp.jar", *app[1:]), {},
                   JobState.RUNNING, JobResult.UNDEFINED, 0.0, 0)

    def spec(job_id: str, behaviour: Behaviour) -> LaunchSpec:
        return commands.launch_spec(job(job_id, *args[behaviour]), tmp / job_id)

    closed = free_port()
    refusing = SparkStandaloneCommands(
        lambda _: ClusterConfig(ClusterEngine.SPARK_STANDALONE, f"spark://127.0.0.1:{closed}",
                                f"http://127.0.0.1:{closed}"),
        lambda _: area, sys.executable)

    def unlaunchable(job_id: str) -> LaunchSpec:
        return refusing.launch_spec(job(job_id, PI), tmp / job_id)

    def settle(handle: Handle) -> None:
        with cluster.rest() as rest:
            wait_for(lambda: rest.status(handle.launcher_id).state is DriverState.RUNNING,
                     timeout=TIMEOUT_S, interval=0.05, message=f"{handle.launcher_id} RUNNING")

    return Port(tmp, lambda: SparkStandaloneEngine(rest_timeout_s=2.0), spec, unlaunchable,
                settle=settle, restarted=lambda _: SparkStandaloneEngine())


@pytest.fixture(params=["memory", "process",
                        pytest.param("spark-standalone", marks=pytest.mark.spark)])
def port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Port]:
    if request.param == "memory":
        yield _memory(tmp_path)
    elif request.param == "process":
        yield _process(tmp_path)
        kill_leftovers(str(tmp_path))
    else:
        cluster: SparkCluster = request.getfixturevalue("spark_cluster")
        jar: Path = request.getfixturevalue("sparkapp_jar")
        made = _standalone(tmp_path, cluster, jar)
        yield made
        with cluster.rest() as rest:  # whatever a failed test left running
            for handle in made.launched:
                rest.kill(handle.launcher_id)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 3 * TIMEOUT_S))


def _id() -> str:
    return uuid.uuid4().hex[:12]


def test_each_job_is_reported_once_as_it_ended(port: Port) -> None:
    engine, heard = port.engine, Heard(TIMEOUT_S)

    async def scenario() -> tuple[str, str]:
        await engine.start(heard)
        try:
            ok, bad = _id(), _id()
            cases: list[tuple[str, Behaviour]] = [(ok, "succeed"), (bad, "fail")]
            for job_id, behaviour in cases:
                handle = await port.launch(engine, job_id, behaviour)
                assert handle.job_id == job_id
                port.drive(engine, handle, behaviour)
            return outcome(await heard.end_of(ok)), outcome(await heard.end_of(bad))
        finally:
            await engine.close()

    assert run(scenario) == ("succeeded", "failed")
    assert len(heard.starts) == 2


def test_a_stop_ends_a_running_job_and_is_delivered_once(port: Port) -> None:
    engine, heard = port.engine, Heard(TIMEOUT_S)

    async def scenario() -> tuple[bool, str, bool]:
        await engine.start(heard)
        try:
            job_id = _id()
            handle = await port.launch(engine, job_id, "long")
            await asyncio.to_thread(port.settle, handle)
            delivered = await engine.signal(handle, force=False)
            ended = outcome(await heard.end_of(job_id))
            again = await engine.signal(handle, force=True)
            return delivered, ended, again
        finally:
            await engine.close()

    delivered, ended, again = run(scenario)
    assert delivered is True
    assert ended in port.stopped_as(port.engine)
    assert again is False, "an ended job cannot be stopped again"


def test_a_launch_that_cannot_be_made_is_refused(port: Port) -> None:
    engine, heard = port.engine, Heard(TIMEOUT_S)
    job_id = _id()

    async def scenario() -> None:
        await engine.start(heard)
        try:
            await engine.launch(port.unlaunchable(job_id))
        finally:
            await engine.close()

    with pytest.raises(LaunchFailed):
        run(scenario)
    assert heard.starts == []


def test_a_restarted_service_finds_a_running_job_from_its_handle(port: Port) -> None:
    job_id = _id()

    async def first_service() -> tuple[Handle, str]:
        await port.engine.start(Heard(TIMEOUT_S))
        handle = await port.launch(port.engine, job_id, "long")
        await asyncio.to_thread(port.settle, handle)
        await port.engine.close()  # the service goes; its job runs on
        return handle, handle.dumps()

    handle, kept = run(first_service)
    engine, heard = port.restarted(port.engine), Heard(TIMEOUT_S)

    async def second_service() -> tuple[Handle | None, str]:
        await engine.start(heard)
        try:
            found = await asyncio.to_thread(engine.attach, job_id, port.tmp / job_id, kept)
            assert found is not None
            assert await engine.signal(found, force=False) is True
            return found, outcome(await heard.end_of(job_id))
        finally:
            await engine.close()

    found, ended = run(second_service)
    assert found is not None and found.launcher_id == handle.launcher_id
    assert ended in port.stopped_as(engine)

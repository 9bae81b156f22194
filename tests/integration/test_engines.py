"""One contract for every engine, run against the in-memory fake and the real process engine,
plus what only real processes can show: whole trees die, jobs outlive the service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mrsjobs.domain.jobs import ExitStatus
from mrsjobs.engines.base import Engine, Handle, LaunchFailed, LaunchSpec, Result
from mrsjobs.engines.local.engine import SHIM, ProcessEngine, group_alive, process_alive
from mrsjobs.engines.memory import MemoryEngine
from tests.support.procs import kill_leftovers, processes_with
from tests.support.server import FAKE_TOOL
from tests.support.waiting import wait_for


class Driver:
    """Makes an engine run a job that behaves as asked ("exit=3", "sleep=30", ...), and
    hears what the engine reports of it."""

    def __init__(self, engine: Engine[Any], tmp: Path) -> None:
        self.engine = engine
        self.tmp = tmp
        self._ends: dict[str, asyncio.Future[ExitStatus | Result]] = {}

    async def start(self) -> None:
        await self.engine.start(self)

    async def end_of(self, handle: Handle) -> ExitStatus:
        """The end the engine reported for the job."""
        end = await self._end(handle.job_id)
        assert isinstance(end, ExitStatus)
        return end

    def _end(self, job_id: str) -> asyncio.Future[ExitStatus | Result]:
        if job_id not in self._ends:
            self._ends[job_id] = asyncio.get_running_loop().create_future()
        return self._ends[job_id]

    # -- the engine's events ---------------------------------------------------------

    def started(self, handle: Handle) -> None:
        pass

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        raise AssertionError(f"{job_id}: these engines know no application")

    def ended(self, job_id: str, end: ExitStatus | Result) -> None:
        if not self._end(job_id).done():
            self._end(job_id).set_result(end)

    def killed(self, job_id: str, at_ms: int) -> None:
        raise AssertionError(f"{job_id}: no kill is confirmed by these engines")

    def unwatchable(self, job_id: str, error: Exception) -> None:
        self._end(job_id).set_exception(error)

    def spec(self, job_id: str, *behaviour: str, program: str = str(FAKE_TOOL)) -> LaunchSpec:
        run_dir = self.tmp / job_id
        run_dir.mkdir(parents=True, exist_ok=True)
        return LaunchSpec(job_id, (program, *behaviour), run_dir, run_dir, dict(os.environ))

    def let_exit(self, handle: Handle, code: int) -> None:
        if isinstance(self.engine, MemoryEngine):
            self.engine.end(handle.job_id, code)


@pytest.fixture(params=["memory", "process"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    engine: Engine[Any] = MemoryEngine() if request.param == "memory" else ProcessEngine()
    yield Driver(engine, tmp_path)
    kill_leftovers(str(tmp_path))


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 60))


def test_reports_the_exit_code(driver: Driver) -> None:
    async def scenario() -> ExitStatus:
        await driver.start()
        handle = await driver.engine.launch(driver.spec("j1", "exit=3"))
        driver.let_exit(handle, 3)
        status = await driver.end_of(handle)
        await driver.engine.close()
        return status

    status = run(scenario)
    assert (status.exit_code, status.signal) == (3, None)


def test_sigterm_stops_a_running_job(driver: Driver) -> None:
    async def scenario() -> tuple[bool, ExitStatus, bool, ExitStatus | None]:
        await driver.start()
        handle = await driver.engine.launch(driver.spec("j2", "sleep=60"))
        delivered = await driver.engine.signal(handle, force=False)
        status = await driver.end_of(handle)
        again = await driver.engine.signal(handle, force=True)
        polled = driver.engine.poll(handle)
        await driver.engine.close()
        return delivered, status, again, polled

    delivered, status, again, polled = run(scenario)
    assert delivered
    assert not status.succeeded and not status.lost
    assert again is False, "a finished job cannot be signalled"
    assert polled == status


def test_missing_program_fails_to_launch(driver: Driver) -> None:
    async def scenario() -> None:
        await driver.start()
        try:
            await driver.engine.launch(driver.spec("j3", program="missing-program"))
        finally:
            await driver.engine.close()

    with pytest.raises(LaunchFailed):
        run(scenario)


def test_attach_finds_a_launched_job(driver: Driver) -> None:
    async def scenario() -> tuple[Handle, Handle | None, ExitStatus | None]:
        await driver.start()
        handle = await driver.engine.launch(driver.spec("j4", "exit=0"))
        driver.let_exit(handle, 0)
        await driver.end_of(handle)
        attached = driver.engine.attach("j4", driver.tmp / "j4")
        polled = driver.engine.poll(attached) if attached else None
        await driver.engine.close()
        return handle, attached, polled

    handle, attached, polled = run(scenario)
    assert attached is not None and attached.pid == handle.pid
    assert polled is not None and polled.exit_code == 0


class Heard:
    """Every report an engine makes, in order."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str]] = []

    def started(self, handle: Handle) -> None:
        self.reports.append(("started", handle.job_id))

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        self.reports.append(("tracked", job_id))

    def ended(self, job_id: str, end: ExitStatus | Result) -> None:
        self.reports.append(("ended", job_id))

    def killed(self, job_id: str, at_ms: int) -> None:
        self.reports.append(("killed", job_id))

    def unwatchable(self, job_id: str, error: Exception) -> None:
        self.reports.append(("unwatchable", job_id))


def test_a_confirmed_kill_is_the_one_report_of_the_job() -> None:
    """An engine that confirms kills reports ``killed`` and nothing after it, even
    though the job's watch then sees it end; a job that ended first gets no ``killed``."""
    engine, heard = MemoryEngine(confirms_kill=True), Heard()

    async def scenario() -> None:
        await engine.start(heard)
        killed = await engine.launch(LaunchSpec("k", ("tool",), Path("/k"), Path("/k")))
        ended = await engine.launch(LaunchSpec("e", ("tool",), Path("/e"), Path("/e")))
        engine.end("e", 0)
        await asyncio.wait_for(_until(lambda: ("ended", "e") in heard.reports), 10)
        assert await engine.signal(killed, force=False)
        assert not await engine.signal(ended, force=False)
        for _ in range(3):  # the loop turns a surviving watch would need to report
            await asyncio.sleep(0)
        await engine.close()

    run(scenario)
    assert heard.reports == [("started", "k"), ("started", "e"), ("ended", "e"),
                             ("killed", "k")]


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


# -- the real process engine only ----------------------------------------------------------


def test_kill_takes_the_whole_tree(tmp_path: Path) -> None:
    """Grandchildren in the job's group and orphans in new sessions die with it."""
    engine = ProcessEngine()
    d = Driver(engine, tmp_path)

    async def scenario() -> tuple[Handle, ExitStatus]:
        handle = await engine.launch(d.spec("tree", "spawn", "orphan", "sleep=60"))
        wait_for(lambda: len(processes_with(str(tmp_path))) >= 3, message="the tree")
        await engine.signal(handle, force=False)
        status = await engine.wait(handle)
        await engine.close()
        return handle, status

    handle, status = run(scenario)
    assert status.signal == signal.SIGTERM
    assert not group_alive(handle.pgid)
    assert not process_alive(handle.shim_pid)
    assert processes_with(str(tmp_path)) == []


def test_job_outlives_the_engine_and_is_found_again(tmp_path: Path) -> None:
    d = Driver(ProcessEngine(poll_interval_s=0.05), tmp_path)

    async def first() -> Handle:
        handle = await d.engine.launch(d.spec("survivor", "sleep=60"))
        await d.engine.close()
        return handle

    handle = run(first)
    assert process_alive(handle.pid), "closing the engine must not stop the job"
    later = ProcessEngine(poll_interval_s=0.05)

    async def second() -> ExitStatus:
        attached = later.attach("survivor", handle.run_dir)
        assert attached is not None
        assert await later.signal(attached, force=False)
        status = await later.wait(attached)
        await later.close()
        return status

    status = run(second)
    assert status.signal == signal.SIGTERM
    assert not process_alive(handle.pid)


def test_logs_and_records_are_kept_in_the_run_dir(tmp_path: Path) -> None:
    d = Driver(ProcessEngine(), tmp_path)

    async def scenario() -> Handle:
        handle = await d.engine.launch(d.spec("logged", "hello", "exit=0"))
        await d.engine.wait(handle)
        await d.engine.close()
        return handle

    handle = run(scenario)
    assert "argv: hello exit=0" in (handle.run_dir / "stdout.log").read_text()
    assert (handle.run_dir / "pid.json").exists()
    assert (handle.run_dir / "exit.json").exists()


def _run_shim(request: dict[str, Any]) -> None:
    """A shim of an earlier service, handed its launch request late."""
    subprocess.run([sys.executable, "-I", "-S", str(SHIM)], input=json.dumps(request) + "\n",
                   text=True, check=True, timeout=30, capture_output=True)


def test_a_launch_given_up_after_a_crash_never_starts(tmp_path: Path) -> None:
    """The service died between recording the launch and the shim starting it: the
    restarted service takes the launch's claim, and a late shim then starts nothing."""
    run_dir = tmp_path / "j1"
    run_dir.mkdir()
    marker = tmp_path / "ran"
    (run_dir / "launch.json").write_text(json.dumps({"job": "j1", "nonce": "n1"}))
    engine = ProcessEngine(attach_wait_s=0.05)
    assert engine.attach("j1", run_dir) is None, "never started: safe to launch again"
    _run_shim({"job": "j1", "nonce": "n1", "run_dir": str(run_dir), "cwd": str(tmp_path),
               "argv": ["touch", str(marker)], "env": {"PATH": os.environ["PATH"]}})
    assert not marker.exists()
    assert not (run_dir / "pid.json").exists()


def test_a_launch_claimed_by_its_shim_is_found(tmp_path: Path) -> None:
    run_dir = tmp_path / "j1"
    run_dir.mkdir()
    (run_dir / "launch.json").write_text(json.dumps({"job": "j1", "nonce": "n1"}))
    _run_shim({"job": "j1", "nonce": "n1", "run_dir": str(run_dir), "cwd": str(tmp_path),
               "argv": ["true"], "env": {}})
    engine = ProcessEngine(attach_wait_s=0.05)
    handle = engine.attach("j1", run_dir)
    assert handle is not None and handle.shim_start > 0
    status = wait_for(lambda: engine.poll(handle), timeout=10, message="exit.json")
    assert (status.exit_code, status.signal) == (0, None)


def test_a_reused_shim_pid_is_not_mistaken_for_the_shim(tmp_path: Path) -> None:
    """After a reboot, the recorded pid may belong to another process: the start time
    tells them apart, and the job reads as lost rather than running for ever."""
    run_dir = tmp_path / "j1"
    run_dir.mkdir()
    stranger = os.getpid()
    (run_dir / "launch.json").write_text(json.dumps({"job": "j1", "nonce": "n1"}))
    (run_dir / "pid.json").write_text(json.dumps(
        {"shim_pid": stranger, "shim_start": 1, "pid": stranger, "pgid": stranger,
         "started_ms": 1}))
    engine = ProcessEngine()
    handle = engine.attach("j1", run_dir)
    assert handle is not None
    status = engine.poll(handle)
    assert status is not None and status.lost
    assert asyncio.run(engine.signal(handle, force=True)) is False, "never signal a stranger"

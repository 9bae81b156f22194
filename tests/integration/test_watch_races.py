"""A job whose process exits between two of the supervisor's checks: reading its
``/proc`` record then fails (ESRCH, a record cut short), and that must never leave the
job RUNNING, nor lose its kill. Real processes, a real store; the exit is staged
with a gate at the exact point between the checks."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import mrsjobs.engines.local.engine as process
import mrsjobs.engines.local.shim as shim
from mrsjobs.bootstrap import ensure_defaults
from mrsjobs.domain.jobs import Job, JobResult, JobSpec, JobState, JobType
from mrsjobs.engines.base import Handle, LaunchSpec
from mrsjobs.engines.local.engine import ProcessEngine, group_members, process_alive
from mrsjobs.store import Cluster, Store
from mrsjobs.supervisor import Supervisor, SupervisorConfig
from tests.support.procs import kill_leftovers
from tests.support.server import FAKE_TOOL
from tests.support.waiting import wait_for


class _Stat:
    """Stands in for ``open`` on ``/proc/<pid>/stat``: fails, or reads ``text``."""

    def __init__(self, error: Exception | None = None, text: str = "") -> None:
        self.error = error
        self.text = text

    def __call__(self, path: str, *args: Any, **kwargs: Any) -> _Stat:
        if self.error is not None:
            raise self.error
        return self

    def __enter__(self) -> _Stat:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self) -> str:
        return self.text


@pytest.mark.parametrize("stat", [
    _Stat(ProcessLookupError(3, "No such process")),  # reading the record of a dying process
    _Stat(text=""),                                    # a record cut short
    _Stat(text="123 (sh) R 1"),                        # fewer fields than a live one has
], ids=["ESRCH", "empty", "short"])
def test_a_process_that_exits_while_read_is_gone(monkeypatch: pytest.MonkeyPatch,
                                                   stat: _Stat) -> None:
    monkeypatch.setattr(shim, "open", stat, raising=False)
    assert process_alive(os.getpid(), start=12345) is False
    assert group_members(os.getpgrp()) == []


class ToolCommands:
    """Runs the fake Spark tool with the job's arguments as its behaviour."""

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        return LaunchSpec(job.id, (str(FAKE_TOOL), *job.arguments), run_dir, run_dir,
                          dict(os.environ))

    def may_block(self, job: Job) -> bool:
        return False

    def finished(self, job: Job, run_dir: Path) -> None:
        pass


class GatedEngine(ProcessEngine):
    """Says which of its checks is running, so that the gate can pick its point."""

    def __init__(self) -> None:
        super().__init__(poll_interval_s=0.05)
        self.checking = ""

    async def signal(self, handle: Handle, *, force: bool) -> bool:
        self.checking = "signal"
        try:
            return await super().signal(handle, force=force)
        finally:
            self.checking = ""

    def poll(self, handle: Handle) -> Any:
        self.checking = "poll"
        try:
            return super().poll(handle)
        finally:
            self.checking = ""


@dataclass
class Rig:
    store: Store
    cluster: Cluster
    runs: Path
    supervisors: list[Supervisor]

    def supervisor(self, engine: ProcessEngine) -> Supervisor:
        sup = Supervisor(self.store, engine, ToolCommands(), SupervisorConfig(
            owner="me", runs_dir=self.runs, poll_interval_s=0.05, kill_grace_s=5,
            kill_confirm_s=5))
        sup.start()
        self.supervisors.append(sup)
        return sup

    def launched_then_orphaned(self, *behaviour: str) -> tuple[str, dict[str, Any]]:
        """A job started by a service that then stopped: the restarted one adopts it
        and learns how it ends from its records (the poll path)."""
        first = self.supervisor(ProcessEngine(poll_interval_s=0.05))
        job = self.store.insert_job(self.cluster, JobSpec("j", JobType.SPARK_SUBMIT,
                                                          behaviour), "u", "q")
        first.submitted(self.cluster.id)
        wait_for(lambda: self.store.job(job.id).started_ms, message="the job to start")
        first.stop()
        record: dict[str, Any] = json.loads((self.runs / job.id / "pid.json").read_text())
        return job.id, record


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    store.migrate()
    defaults = ensure_defaults(store)
    rig = Rig(store, store.cluster(defaults.project_id, defaults.cluster_id),
              tmp_path / "runs", [])
    yield rig
    for sup in rig.supervisors:
        sup.stop()
    store.close()
    kill_leftovers(str(tmp_path))


def gate(monkeypatch: pytest.MonkeyPatch, engine: GatedEngine, check: str, shim_pid: int,
         end_the_job: Callable[[], None]) -> list[str]:
    """At the first liveness check of the shim from ``check``: the job ends right
    there, and reading the shim's record fails as it does for a process that exits."""
    real = process.process_alive
    hits: list[str] = []

    def checked(pid: int, start: int = 0) -> bool:
        if pid == shim_pid and engine.checking == check and not hits:
            hits.append(check)
            end_the_job()
            raise ProcessLookupError(3, "No such process")
        return real(pid, start)

    monkeypatch.setattr(process, "process_alive", checked)
    return hits


def test_an_exit_between_the_watch_checks_is_recorded(rig: Rig,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, record = rig.launched_then_orphaned("sleep=1", "exit=3")
    exit_record = rig.runs / job_id / "exit.json"
    engine = GatedEngine()
    hits = gate(monkeypatch, engine, "poll", record["shim_pid"],
                lambda: wait_for(exit_record.exists, message="the job to end"))
    rig.supervisor(engine)
    job = wait_for(lambda: (j := rig.store.job(job_id)).state is not JobState.RUNNING and j,
                   message="the job's end to be recorded")
    assert hits == ["poll"]
    assert (job.state, job.result, job.exit_code) == (JobState.FINISHED, JobResult.FAILED, 3)


def test_an_exit_between_the_kill_checks_still_ends_killed(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id, record = rig.launched_then_orphaned("sleep=60")
    exit_record = rig.runs / job_id / "exit.json"

    def killed_meanwhile() -> None:
        os.killpg(record["pgid"], signal.SIGKILL)
        wait_for(exit_record.exists, message="the job to end")

    engine = GatedEngine()
    hits = gate(monkeypatch, engine, "signal", record["shim_pid"], killed_meanwhile)
    sup = rig.supervisor(engine)
    rig.store.request_kill(job_id, "u", project_id=rig.cluster.project_id,
                           cluster_id=rig.cluster.id)
    sup.kill_requested(job_id)
    job = wait_for(lambda: (j := rig.store.job(job_id)).state is not JobState.RUNNING and j,
                   message="the job's end to be recorded")
    assert hits == ["signal"]
    assert (job.state, job.result) == (JobState.KILLED, JobResult.KILLED)


def test_a_launch_an_earlier_service_gave_up_is_queued_again(tmp_path: Path) -> None:
    """That service took the launch's claim, then stopped before it queued the job
    again (adoption runs in a thread now, and a stop does not wait for it): no shim
    will ever start the job, so it is never-started, not failed."""
    run_dir = tmp_path / "given-up"
    run_dir.mkdir()
    (run_dir / "launch.json").write_text(json.dumps({"job": "given-up", "nonce": "n1",
                                                     "argv": ["true"]}))
    (run_dir / "claim-n1").write_text("abandoned")
    assert ProcessEngine(attach_wait_s=0.05).attach("given-up", run_dir) is None

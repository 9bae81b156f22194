"""Never a stuck or lost kill, never a job left RUNNING by a bug: the supervisor's kill
loop across restarts, its watch when the engine fails, adoption that does not block.

Against the in-memory engine (with gates) and a real store; nothing sleeps to synchronise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mrsjobs.domain.jobs import ExitStatus, Job, JobResult, JobState
from mrsjobs.engines.memory import MemoryEngine
from tests.integration import test_supervisor
from tests.integration.test_supervisor import ArgvCommands, Harness
from tests.support.waiting import wait_for

#: The supervisor tests' harness fixture, used here too.
make_harness = test_supervisor.make_harness


def test_kill_attempts_go_on_from_the_stored_count_after_a_restart(
        make_harness: Callable[..., Harness]) -> None:
    engine = MemoryEngine(honour_sigterm=False, honour_sigkill=False)
    # A long confirmation wait: the first service "dies" after its second signal.
    first = make_harness(engine, kill_grace_s=0.05, kill_confirm_s=60.0, kill_attempts=3)
    job_id = first.submit()
    wait_for(lambda: job_id in engine.running())
    first.kill(job_id)
    wait_for(lambda: len(engine.signals) == 2, message="two kill attempts")
    first.supervisor.stop()
    assert first.job(job_id).kill_attempts == 2
    second = make_harness(engine, store=first.store, kill_grace_s=0.05, kill_confirm_s=0.1,
                          kill_attempts=3)
    job = second.wait_state(job_id, JobState.FAILED)
    # One attempt was left, not three: the limit holds across restarts.
    assert [force for _, force in engine.signals] == [False, True, True]
    assert job.kill_attempts == 3
    assert job.diagnostics == "kill not confirmed after 3 attempts: processes may remain"


def test_a_restart_with_every_attempt_spent_gives_up_with_the_reason(
        make_harness: Callable[..., Harness]) -> None:
    engine = MemoryEngine(honour_sigterm=False, honour_sigkill=False)
    first = make_harness(engine, kill_grace_s=0.05, kill_confirm_s=60.0, kill_attempts=2)
    job_id = first.submit()
    wait_for(lambda: job_id in engine.running())
    first.kill(job_id)
    wait_for(lambda: len(engine.signals) == 2, message="both kill attempts")
    first.supervisor.stop()
    second = make_harness(engine, store=first.store, kill_confirm_s=0.1, kill_attempts=2)
    job = second.wait_state(job_id, JobState.FAILED)
    assert len(engine.signals) == 2, "no attempt beyond the limit"
    assert job.diagnostics == "kill not confirmed after 2 attempts: processes may remain"


class FailingWait(MemoryEngine):
    """An engine whose wait fails (a bug, a /proc read that raced an exit)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.waits = 0

    async def wait(self, handle: Any) -> ExitStatus:
        self.waits += 1
        if self.waits <= self.failures:
            raise ProcessLookupError(3, "No such process")
        return await super().wait(handle)


def test_an_error_while_watching_is_tried_again(make_harness: Callable[..., Harness]) -> None:
    engine = FailingWait(failures=1)
    h = make_harness(engine)
    job_id = h.submit()
    wait_for(lambda: job_id in engine.running())
    wait_for(lambda: engine.waits >= 2, message="the watch to try again")
    h.engine.end(job_id, 4)
    job = h.wait_state(job_id, JobState.FINISHED)
    assert (job.result, job.exit_code) == (JobResult.FAILED, 4)


def test_a_job_that_cannot_be_watched_ends_failed_with_the_reason(
        make_harness: Callable[..., Harness]) -> None:
    engine = FailingWait(failures=1000)
    h = make_harness(engine)
    job_id = h.submit()
    job = h.wait_state(job_id, JobState.FAILED)
    assert job.result is JobResult.FAILED
    assert job.diagnostics is not None
    assert job.diagnostics.startswith("internal error while watching the job: ")
    assert "No such process" in job.diagnostics
    # What still ran of it was stopped, not left running unseen.
    assert engine.running() == []


class FailingCollect(ArgvCommands):
    """Collecting outputs fails as a NUL byte in a v1.1 ``job_log`` path made it fail."""

    def finished(self, job: Job, run_dir: Path) -> None:
        raise ValueError("embedded null byte")


def test_a_failure_collecting_outputs_never_skips_the_delete(
        make_harness: Callable[..., Harness]) -> None:
    h = make_harness(commands=FailingCollect())
    job_id = h.submit()
    wait_for(lambda: job_id in h.engine.running())
    h.service.batch_delete(h.who, h.who.project_id, h.cluster_id, [job_id])
    wait_for(lambda: test_supervisor._gone(h, job_id), message="the killed job's record to go")


class HeldAttach(MemoryEngine):
    """Finding one job again waits at a gate (a launch an earlier service handed over)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: str | None = None
        self.attach_gate = threading.Event()
        self.attach_begun = threading.Event()

    def attach(self, job_id: str, run_dir: Path, kept: str | None = None) -> Any:
        if job_id == self.held:
            self.attach_begun.set()
            self.attach_gate.wait(60)
        return super().attach(job_id, run_dir, kept)


def test_while_one_adoption_waits_other_jobs_are_killed_at_once(
        make_harness: Callable[..., Harness]) -> None:
    engine = HeldAttach()
    first = make_harness(engine)
    slow, victim = first.submit(name="slow"), first.submit(name="victim")
    wait_for(lambda: {slow, victim} <= set(engine.running()))
    first.supervisor.stop()
    engine.held = slow
    try:
        second = make_harness(engine, store=first.store, poll_interval_s=0.05)
        assert engine.attach_begun.wait(10)
        second.kill(victim)
        killed = second.wait_state(victim, JobState.KILLED, timeout=5)
        assert killed.result is JobResult.KILLED
        assert not engine.attach_gate.is_set() and second.job(slow).state is JobState.RUNNING
    finally:
        engine.attach_gate.set()
    engine.end(slow, 0)
    assert second.wait_state(slow, JobState.FINISHED).result is JobResult.SUCCEEDED

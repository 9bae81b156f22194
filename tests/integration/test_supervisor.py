"""The supervisor and the kill contract, against the in-memory engine and a real SQLite store.

Races are staged with gates (the engine's launch gate, threading barriers) and
observed with condition waits; nothing sleeps to synchronise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mrsjobs.bootstrap import ensure_defaults
from mrsjobs.domain.access import Identity
from mrsjobs.domain.clusters import ClusterConfig, ClusterEngine
from mrsjobs.domain.jobs import Component, Job, JobResult, JobSpec, JobState, JobType, Outcome
from mrsjobs.engines.base import EngineLane, LaunchSpec, Result
from mrsjobs.engines.memory import MemoryEngine
from mrsjobs.engines.router import CommandsRouter
from mrsjobs.service.jobs import JobService
from mrsjobs.store import Store
from mrsjobs.supervisor import Supervisor, SupervisorConfig
from tests.support.waiting import wait_for


@dataclass
class Harness:
    store: Store
    engine: MemoryEngine
    supervisor: Supervisor
    service: JobService
    who: Identity
    cluster_id: str

    def submit(self, *args: str, name: str = "job") -> str:
        spec = JobSpec(name, JobType.SPARK_SUBMIT, args or ("hdfs:///app.py",))
        return self.service.submit(self.who, self.who.project_id, self.cluster_id, spec).id

    def kill(self, job_id: str) -> Job:
        return self.service.kill(self.who, self.who.project_id, self.cluster_id, job_id)

    def job(self, job_id: str) -> Job:
        return self.store.job(job_id)

    def wait_state(self, job_id: str, *states: JobState, timeout: float = 10) -> Job:
        return wait_for(lambda: (j := self.job(job_id)).state in states and j,
                        timeout=timeout, message=f"{job_id} in {states}")

    def launched(self, job_id: str) -> bool:
        return any(spec.job_id == job_id for spec in self.engine.launched)


class ArgvCommands:
    """Runs a job's arguments as its command line (``hdfs:///`` dropped: jobs may name
    only files there, and the real commands map those to the cluster's file area)."""

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        argv = tuple(a.removeprefix("hdfs:///") for a in job.arguments)
        return LaunchSpec(job.id, argv, run_dir, run_dir)

    def may_block(self, job: Job) -> bool:
        return False

    def finished(self, job: Job, run_dir: Path) -> None:
        pass


class Room:
    """A cluster engine's room for more jobs, as a test sets it."""

    def __init__(self, free: int | None) -> None:
        self.room = free
        self.taken = 0
        #: The queued jobs the room was asked about, each time.
        self.asked: list[list[str]] = []

    def free(self, cluster_id: str, queued: Callable[[], Sequence[Job]]) -> int | None:
        self.asked.append([j.id for j in queued()])
        return self.room

    def took(self, cluster_id: str, jobs: Sequence[Job]) -> None:
        self.taken += len(jobs)
        if self.room is not None:
            self.room -= len(jobs)

    def on_change(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def grow(self, room: int) -> None:
        self.room = room
        self.wake()


@pytest.fixture
def make_harness(tmp_path: Path, db_url: str) -> Iterator[Callable[..., Harness]]:
    started: list[Supervisor] = []
    stores: list[Store] = []

    def make(engine: MemoryEngine | None = None, store: Store | None = None,
             commands: ArgvCommands | None = None, room: Room | None = None,
             lanes: Callable[[str], EngineLane | None] | None = None,
             **config: Any) -> Harness:
        store = store or Store(db_url)
        store.migrate()
        defaults = ensure_defaults(store)
        engine = engine or MemoryEngine()
        settings = {"owner": "test", "runs_dir": tmp_path / "runs", "kill_grace_s": 5.0,
                     "poll_interval_s": 0.05} | config
        supervisor = Supervisor(store, engine, commands or ArgvCommands(),
                                SupervisorConfig(**settings), room, lanes)
        service = JobService(store, {ClusterEngine.LOCAL: frozenset(JobType)}, supervisor)
        supervisor.start()
        started.append(supervisor)
        stores.append(store)
        return Harness(store, engine, supervisor, service,
                       Identity(defaults.project_id, "alice"), defaults.cluster_id)

    yield make
    for supervisor in started:
        supervisor.stop()
    for store in stores:
        store.close()


def test_job_runs_to_success_and_failure(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    ok, bad = h.submit(name="ok"), h.submit(name="bad")
    wait_for(lambda: h.launched(ok) and h.launched(bad))
    h.engine.end(ok, 0)
    h.engine.end(bad, 3)
    done = h.wait_state(ok, JobState.FINISHED)
    failed = h.wait_state(bad, JobState.FINISHED)
    assert (done.result, done.progress, done.exit_code) == (JobResult.SUCCEEDED, 100.0, 0)
    assert (failed.result, failed.exit_code, failed.diagnostics) == (
        JobResult.FAILED, 3, "exit code 3")
    assert done.started_ms is not None and done.finished_ms is not None
    assert done.finished_ms >= done.started_ms >= done.submitted_ms


def test_launch_failure_is_failed_with_reason(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    job = h.wait_state(h.submit("hdfs:///missing-program"), JobState.FAILED)
    assert job.result is JobResult.FAILED
    assert job.diagnostics is not None and job.diagnostics.startswith("could not launch")


def test_capacity_queues_jobs_beyond_max_running(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(max_running=2)
    ids = [h.submit(name=f"j{i}") for i in range(5)]
    wait_for(lambda: len(h.engine.running()) == 2)
    assert [h.job(i).state for i in ids[2:]] == [JobState.ACCEPTED] * 3
    # First in, first out: the two oldest run first.
    assert {s.job_id for s in h.engine.launched} == set(ids[:2])
    for job_id in ids:
        wait_for(lambda j=job_id: j in h.engine.running(), message=f"{job_id} to run")
        h.engine.end(job_id)
        h.wait_state(job_id, JobState.FINISHED)
    assert len(h.engine.launched) == 5


def test_kill_while_queued_never_launches(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(max_running=1)
    running, queued = h.submit(name="running"), h.submit(name="queued")
    wait_for(lambda: h.launched(running))
    killed = h.kill(queued)
    assert (killed.state, killed.result) == (JobState.KILLED, JobResult.KILLED)
    assert killed.kill_requested_by == "alice"
    h.engine.end(running)
    h.wait_state(running, JobState.FINISHED)
    # The freed slot went to nobody: the killed job stays killed and unlaunched.
    h.supervisor.wake()
    wait_for(lambda: h.store.list_jobs(_query(h))[0] == 2)
    assert not h.launched(queued)
    assert h.job(queued).state is JobState.KILLED


def _query(h: Harness) -> Any:
    from mrsjobs.store import JobQuery
    return JobQuery(project_id=h.who.project_id, cluster_id=h.cluster_id)


def test_kill_while_launching_is_honoured_after_launch(
        make_harness: Callable[..., Harness]) -> None:
    engine = MemoryEngine()
    engine.launch_gate = threading.Event()
    h = make_harness(engine)
    job_id = h.submit()
    assert engine.launch_begun.wait(5)
    # Claimed but not started: the kill is recorded for the owner, not applied here.
    pending = h.kill(job_id)
    assert pending.state is JobState.RUNNING and pending.kill_requested_ms is not None
    engine.launch_gate.set()
    job = h.wait_state(job_id, JobState.KILLED)
    assert job.result is JobResult.KILLED
    assert engine.signals == [(job_id, False)]
    assert engine.running() == []


def test_claim_and_kill_race_has_exactly_one_winner(db_url: str) -> None:
    store = Store(db_url)
    store.migrate()
    defaults = ensure_defaults(store)
    cluster = store.cluster(defaults.project_id, defaults.cluster_id)
    for _ in range(30):
        job = store.insert_job(cluster, JobSpec("r", JobType.SPARK_SUBMIT, ("a",)), "u", "q")
        barrier = threading.Barrier(2)
        out: dict[str, Any] = {}

        def claim(barrier: threading.Barrier = barrier, out: dict[str, Any] = out) -> None:
            barrier.wait()
            out["claimed"] = [j.id for j in store.claim(cluster.id, 1, "owner")]

        def kill(barrier: threading.Barrier = barrier, job_id: str = job.id) -> None:
            barrier.wait()
            store.request_kill(job_id, "u", project_id=cluster.project_id,
                               cluster_id=cluster.id)

        threads = [threading.Thread(target=claim), threading.Thread(target=kill)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        final = store.job(job.id)
        if out["claimed"] == [job.id]:
            # The launcher won: the kill is pending for the owner.
            assert final.state is JobState.RUNNING and final.kill_requested_ms is not None
        else:
            # The kill won: the job is killed and the claim got nothing.
            assert out["claimed"] == []
            assert final.state is JobState.KILLED
    store.close()


def test_kill_of_running_job_sigterm(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    job_id = h.submit()
    wait_for(lambda: job_id in h.engine.running())
    h.kill(job_id)
    job = h.wait_state(job_id, JobState.KILLED)
    assert (job.result, job.diagnostics) == (JobResult.KILLED, "killed on request")
    assert h.engine.signals == [(job_id, False)]


def test_sigterm_ignored_escalates_to_sigkill(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(MemoryEngine(honour_sigterm=False), kill_grace_s=0.2)
    job_id = h.submit()
    wait_for(lambda: job_id in h.engine.running())
    h.kill(job_id)
    h.wait_state(job_id, JobState.KILLED)
    assert h.engine.signals == [(job_id, False), (job_id, True)]


def test_unkillable_job_ends_failed_after_bounded_attempts(
        make_harness: Callable[..., Harness]) -> None:
    engine = MemoryEngine(honour_sigterm=False, honour_sigkill=False)
    h = make_harness(engine, kill_grace_s=0.1, kill_confirm_s=0.1, kill_attempts=3)
    job_id = h.submit()
    wait_for(lambda: job_id in engine.running())
    h.kill(job_id)
    job = h.wait_state(job_id, JobState.FAILED)
    assert job.diagnostics == "kill not confirmed after 3 attempts: processes may remain"
    assert [force for _, force in engine.signals] == [False, True, True]


def test_double_kill_is_one_kill(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(MemoryEngine(honour_sigterm=False), kill_grace_s=0.3)
    job_id = h.submit()
    wait_for(lambda: job_id in h.engine.running())
    first, second = h.kill(job_id), h.kill(job_id)
    assert first.kill_requested_ms == second.kill_requested_ms
    h.wait_state(job_id, JobState.KILLED)
    assert h.engine.signals == [(job_id, False), (job_id, True)]


def test_kill_of_finished_job_changes_nothing(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    job_id = h.submit()
    wait_for(lambda: job_id in h.engine.running())
    h.engine.end(job_id)
    before = h.wait_state(job_id, JobState.FINISHED)
    after = h.kill(job_id)
    assert after == before
    assert h.engine.signals == []


def test_kill_racing_natural_exit_ends_in_one_consistent_state(
        make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    for _ in range(10):
        job_id = h.submit()
        wait_for(lambda j=job_id: j in h.engine.running())
        barrier = threading.Barrier(2)
        t = threading.Thread(target=lambda j=job_id, b=barrier: (b.wait(), h.engine.end(j)))
        t.start()
        barrier.wait()
        h.kill(job_id)
        t.join(5)
        job = h.wait_state(job_id, JobState.FINISHED, JobState.KILLED)
        signalled = (job_id, False) in h.engine.signals
        if job.state is JobState.KILLED:
            assert signalled and job.result is JobResult.KILLED
        else:
            # The natural end won: it stands, whether the kill came before it was
            # recorded (a pending request) or after (a no-op on a finished job).
            assert job.result is JobResult.SUCCEEDED and job.exit_code == 0
            assert job.kill_signalled_ms is None or job.kill_signalled_ms >= job.finished_ms


def test_restart_reattaches_to_running_jobs(make_harness: Callable[..., Harness]) -> None:
    engine = MemoryEngine()
    first = make_harness(engine)
    job_id = first.submit()
    wait_for(lambda: job_id in engine.running())
    first.supervisor.stop()
    # A new supervisor over the same store and engine records the job's end.
    second = make_harness(engine, store=first.store)
    engine.end(job_id, 0)
    assert second.wait_state(job_id, JobState.FINISHED).result is JobResult.SUCCEEDED


class KeptHandles(MemoryEngine):
    """Remembers the handle text each job was attached with."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[str, str | None] = {}

    def attach(self, job_id: str, run_dir: Path, kept: str | None = None) -> Any:
        self.kept[job_id] = kept
        return super().attach(job_id, run_dir, kept)


def test_restart_attaches_with_the_handle_the_store_kept(
        make_harness: Callable[..., Harness]) -> None:
    engine = KeptHandles()
    first = make_harness(engine)
    job_id = first.submit()
    started = wait_for(lambda: (j := first.job(job_id)).started_ms and j,
                       message="the job to start")
    first.supervisor.stop()
    second = make_harness(engine, store=first.store)
    wait_for(lambda: job_id in engine.kept, message="the job to be attached")
    assert started.engine_handle is not None
    assert engine.kept[job_id] == started.engine_handle
    assert started.launcher_id == "pid_1000"
    engine.end(job_id, 0)
    assert second.wait_state(job_id, JobState.FINISHED).result is JobResult.SUCCEEDED


def test_restart_requeues_a_claim_that_never_reached_the_engine(
        make_harness: Callable[..., Harness]) -> None:
    held = MemoryEngine()
    held.launch_gate = threading.Event()
    first = make_harness(held)
    job_id = first.submit()
    assert held.launch_begun.wait(5)
    assert first.job(job_id).state is JobState.RUNNING
    first.supervisor.stop()  # "crash" while the launch is still held at the gate
    held.launch_gate.set()
    second = make_harness(store=first.store)
    wait_for(lambda: job_id in second.engine.running(), message="the job to be relaunched")
    second.engine.end(job_id)
    assert second.wait_state(job_id, JobState.FINISHED).result is JobResult.SUCCEEDED
    assert [s.job_id for s in second.engine.launched] == [job_id]
    assert held.launched == [], "the first engine never started it"


def test_batch_delete_kills_active_jobs_first(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(MemoryEngine(honour_sigterm=False), kill_grace_s=0.3, max_running=1)
    running, queued, done = h.submit(name="r"), h.submit(name="q"), None
    wait_for(lambda: running in h.engine.running())
    h.service.batch_delete(h.who, h.who.project_id, h.cluster_id, [running, queued])
    # The running job's record stays until its kill has completed.
    assert h.job(running).delete_requested
    wait_for(lambda: _gone(h, running), message="the killed job's record to go")
    assert _gone(h, queued) and done is None
    assert not h.launched(queued)
    assert h.engine.signals[0] == (running, False)


def _gone(h: Harness, job_id: str) -> bool:
    from mrsjobs.domain.errors import JobNotFound
    try:
        h.job(job_id)
    except JobNotFound:
        return True
    return False


def test_a_kill_the_engine_confirms_ends_killed(make_harness: Callable[..., Harness]) -> None:
    """An engine that confirms kills itself (a cluster master) reports ``killed``: the
    job ends KILLED on that report, whatever the job's own exit would have said."""
    h = make_harness(engine=MemoryEngine(confirms_kill=True))
    job_id = h.submit()
    wait_for(lambda: h.launched(job_id) and h.job(job_id).started_ms is not None)
    h.kill(job_id)
    job = h.wait_state(job_id, JobState.KILLED)
    assert (job.result, job.diagnostics) == (JobResult.KILLED, "killed on request")
    assert h.engine.signals == [(job_id, False)]


def test_an_outcome_the_engine_decides_is_recorded_as_it_says(
        make_harness: Callable[..., Harness]) -> None:
    """An engine that judges a job's end itself reports a Result, not an exit status:
    the supervisor records that outcome, with its exit code and end time."""
    h = make_harness()
    job_id = h.submit()
    wait_for(lambda: h.launched(job_id))
    h.engine.end_with(job_id, Result(
        Outcome(JobState.FINISHED, JobResult.FAILED, "the driver failed"), 1_700_000_000_000, 2))
    job = h.wait_state(job_id, JobState.FINISHED)
    assert (job.result, job.diagnostics, job.exit_code, job.finished_ms) == (
        JobResult.FAILED, "the driver failed", 2, 1_700_000_000_000)


def test_a_cluster_with_its_own_max_running(make_harness: Callable[..., Harness]) -> None:
    """A cluster's max_running caps its jobs, the configured one the others'; a cluster
    made while the supervisor runs is found on its first submit."""
    h = make_harness(max_running=3, poll_interval_s=60.0)  # hints alone drive dispatch
    capped = h.store.add_cluster(h.who.project_id, "capped", [Component.SPARK], "capped",
                                 ClusterConfig(max_running=1))
    spec = JobSpec("c", JobType.SPARK_SUBMIT, ("hdfs:///app.py",))
    ids = [h.service.submit(h.who, h.who.project_id, capped.id, spec).id for _ in range(3)]
    others = [h.submit(name=f"o{i}") for i in range(3)]
    # The other cluster's three run: the capped cluster's hints have been dealt with.
    wait_for(lambda: all(h.launched(j) for j in others), message="the others to run")
    for job_id in ids:
        wait_for(lambda j=job_id: j in h.engine.running(), message=f"{job_id} to run")
        assert sum(h.launched(j) for j in ids) == ids.index(job_id) + 1
        h.engine.end(job_id)
        h.wait_state(job_id, JobState.FINISHED)


def test_an_engine_without_room_holds_jobs_queued(make_harness: Callable[..., Harness]) -> None:
    """A cluster whose engine has room for one more job gets one dispatched, whatever
    its cap; the others wait QUEUED until the engine has room again."""
    room = Room(1)
    # Full passes far apart: the engine's news of more room is what dispatches.
    h = make_harness(max_running=10, room=room, poll_interval_s=60.0)
    ids = [h.submit(name=f"r{i}") for i in range(3)]
    wait_for(lambda: h.launched(ids[0]), message="the first job to run")
    h.wait_state(ids[0], JobState.RUNNING)
    assert room.taken == 1 and room.room == 0
    assert [h.job(j).state for j in ids[1:]] == [JobState.ACCEPTED, JobState.ACCEPTED]
    assert not any(h.launched(j) for j in ids[1:])
    room.grow(2)  # the engine's next reading: room for two
    wait_for(lambda: all(h.launched(j) for j in ids), message="the others to run")
    assert room.taken == 3
    # It was asked about the oldest queued jobs (which it may size), in order.
    assert ids[1:] in room.asked


def test_an_engine_lane_runs_beside_the_clusters_full_cap(
        make_harness: Callable[..., Harness]) -> None:
    """A local cluster's SQL jobs go to its engine lane, claimed against the engine's
    slots: a long Spark job holding the cluster's only slot does not keep them queued,
    nor do they keep a Spark job queued. Each lane is first in, first out."""
    lane = EngineLane(frozenset({JobType.SPARK_SQL}), slots=1)
    router = CommandsRouter({ClusterEngine.LOCAL: ArgvCommands()},
                            lambda _: ClusterEngine.LOCAL, {ClusterEngine.LOCAL: lane})
    h = make_harness(max_running=1, lanes=router.engine_lane, poll_interval_s=60.0)

    def submit(kind: JobType, name: str) -> str:
        spec = JobSpec(name, kind, ("hdfs:///app.py",))
        return h.service.submit(h.who, h.who.project_id, h.cluster_id, spec).id

    long_spark = submit(JobType.SPARK_SUBMIT, "long")
    wait_for(lambda: h.launched(long_spark), message="the Spark job to run")
    spark, sql, sql_next = (submit(JobType.SPARK_SUBMIT, "spark"),
                            submit(JobType.SPARK_SQL, "sql"),
                            submit(JobType.SPARK_SQL, "sql-next"))
    wait_for(lambda: h.launched(sql), message="the SQL job to run beside the Spark job")
    assert not h.launched(spark) and not h.launched(sql_next)
    h.engine.end(sql)
    wait_for(lambda: h.launched(sql_next), message="the next SQL job to take the slot")
    assert not h.launched(spark), "an engine slot is not the cluster's"
    h.engine.end(long_spark)
    wait_for(lambda: h.launched(spark), message="the Spark job to take the freed slot")
    assert [h.job(j).state for j in (spark, sql_next)] == [JobState.RUNNING] * 2

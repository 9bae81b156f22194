"""One record per running job: what the supervisor needs of it while it runs. What
must outlive the service (its state, start, handle, kill attempts) is in the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..domain.jobs import ExitStatus, JobResult, JobState, Outcome
from ..engines.base import Handle, Result


@dataclass(frozen=True, slots=True)
class Unwatchable:
    """The engine could not learn how the job ends."""

    error: Exception


#: What became of a job, as its engine reported it.
End = ExitStatus | Result | Unwatchable


@dataclass(eq=False)
class Run:
    job_id: str
    cluster_id: str
    run_dir: Path
    #: Resolved by the engine's report of the job's end.
    end: asyncio.Future[End]
    #: Resolved once the record is dropped: the end is recorded (or given up on).
    done: asyncio.Future[None]
    handle: Handle | None = None
    #: The first kill signal that went out, as stored: it decides KILLED against the
    #: job's own end.
    kill_signalled_ms: int | None = None
    #: Launching or adopting the job, then recording its end.
    task: asyncio.Task[None] | None = None
    kill: asyncio.Task[None] | None = None
    #: Counted against its cluster's engine lane, not the cluster's cap.
    engine_lane: bool = False

    @classmethod
    def of(cls, job_id: str, cluster_id: str, run_dir: Path, *,
           engine_lane: bool = False) -> Run:
        loop = asyncio.get_running_loop()
        return cls(job_id, cluster_id, run_dir, loop.create_future(), loop.create_future(),
                   engine_lane=engine_lane)

    def settle(self, end: End) -> None:
        if not self.end.done():
            self.end.set_result(end)

    def tasks(self) -> list[asyncio.Task[None]]:
        return [t for t in (self.task, self.kill) if t is not None]


class Runs:
    """The jobs this supervisor runs, by id and per cluster lane; the engine reports to it."""

    def __init__(self, on_started: Callable[[Run, Handle], None],
                 on_tracked: Callable[[Run, str, str | None], None]) -> None:
        self._on_started = on_started
        self._on_tracked = on_tracked
        self._runs: dict[str, Run] = {}
        self._per_lane: dict[tuple[str, bool], int] = {}

    def add(self, run: Run) -> None:
        self._runs[run.job_id] = run
        lane = (run.cluster_id, run.engine_lane)
        self._per_lane[lane] = self._per_lane.get(lane, 0) + 1

    def drop(self, run: Run) -> None:
        if self._runs.get(run.job_id) is run:
            del self._runs[run.job_id]
            self._per_lane[(run.cluster_id, run.engine_lane)] -= 1
        if not run.done.done():
            run.done.set_result(None)

    def get(self, job_id: str) -> Run | None:
        return self._runs.get(job_id)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._runs

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._runs.values()))

    def running(self, cluster_id: str, *, engine_lane: bool = False) -> int:
        """The cluster's jobs running in its own lane, or in its engine lane."""
        return self._per_lane.get((cluster_id, engine_lane), 0)

    # -- engine events (on the supervisor's loop) -----------------------------------

    def started(self, handle: Handle) -> None:
        run = self._runs.get(handle.job_id)
        if run is not None:
            self._on_started(run, handle)

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        run = self._runs.get(job_id)
        if run is not None:
            self._on_tracked(run, app_id, tracking_url)

    def ended(self, job_id: str, end: ExitStatus | Result) -> None:
        run = self._runs.get(job_id)
        if run is not None:
            run.settle(end)

    def killed(self, job_id: str, at_ms: int) -> None:
        run = self._runs.get(job_id)
        if run is not None:
            run.settle(Result(Outcome(JobState.KILLED, JobResult.KILLED, "killed on request"),
                              at_ms))

    def unwatchable(self, job_id: str, error: Exception) -> None:
        run = self._runs.get(job_id)
        if run is not None:
            run.settle(Unwatchable(error))

"""The supervisor owns running jobs: it dispatches queued jobs within each
cluster's capacity, watches them end, carries out kill requests and re-attaches
to its jobs after a restart.

It runs an asyncio loop in a thread of its own, so the API's threads only have to
store a change and call :meth:`Supervisor.wake`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .domain import (
    SQL_FILE_TYPES,
    SQL_TEXT_TYPES,
    ExitStatus,
    Job,
    JobResult,
    JobState,
    Outcome,
    outcome_of,
)
from .engines.base import Engine, Handle, LaunchFailed, LaunchSpec
from .errors import MrsError
from .store.store import Store, now_ms

log = logging.getLogger(__name__)

SpecBuilder = Callable[[Job, Path], LaunchSpec]


@dataclass(frozen=True)
class SupervisorConfig:
    owner: str
    runs_dir: Path
    max_running: int = 10
    kill_grace_s: float = 5.0
    kill_attempts: int = 3
    kill_confirm_s: float = 10.0
    poll_interval_s: float = 1.0


def needs_thread(job: Job) -> bool:
    """SQL jobs may first have to start the cluster's metastore, which blocks for seconds."""
    return job.type in SQL_TEXT_TYPES or job.type in SQL_FILE_TYPES


class Supervisor:
    def __init__(self, store: Store, engine: Engine, build: SpecBuilder,
                 config: SupervisorConfig) -> None:
        self.store = store
        self.engine = engine
        self.build = build
        self.config = config
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._active: dict[str, set[str]] = defaultdict(set)
        self._handles: dict[str, Handle] = {}
        self._done: dict[str, asyncio.Future[None]] = {}
        self._killing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle (called from other threads) --------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="supervisor",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the supervisor did not start")

    def stop(self) -> None:
        """Stop supervising. Jobs keep running; a new supervisor re-attaches to them."""
        self._stopping = True
        self.wake()
        if self._thread is not None:
            self._thread.join(30)

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    # -- the loop -------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        start = getattr(self.engine, "start", None)
        if start is not None:
            await start()
        self._reattach()
        self._ready.set()
        while not self._stopping:
            self._wake.clear()
            try:
                self._tick()
            except Exception:
                log.exception("supervisor tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.engine.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tick(self) -> None:
        for job in self.store.pending_kills(self.config.owner):
            if job.id in self._handles and job.id not in self._killing:
                self._killing.add(job.id)
                self._spawn(self._kill(job))
        for cluster in self.store.clusters():
            free = self.config.max_running - len(self._active[cluster.id])
            for job in self.store.claim(cluster.id, free, self.config.owner):
                self._active[cluster.id].add(job.id)
                self._done[job.id] = asyncio.get_running_loop().create_future()
                self._spawn(self._run(job))

    def run_dir(self, job_id: str) -> Path:
        return self.config.runs_dir / job_id

    async def _run(self, job: Job) -> None:
        try:
            try:
                if needs_thread(job):
                    spec = await asyncio.to_thread(self.build, job, self.run_dir(job.id))
                else:
                    spec = self.build(job, self.run_dir(job.id))
                handle = await self.engine.launch(spec)
            except (LaunchFailed, MrsError, OSError) as exc:
                self.store.finish(job.id, Outcome(JobState.FAILED, JobResult.FAILED,
                                                  f"could not launch: {exc}"))
                return
            except Exception as exc:
                # A bug must not leave the job RUNNING for ever: record it and say why.
                log.exception("job %s: launch failed unexpectedly", job.id)
                self.store.finish(job.id, Outcome(JobState.FAILED, JobResult.FAILED,
                                                  f"could not launch: internal error: {exc}"))
                return
            self._handles[job.id] = handle
            started = self.store.mark_started(job.id, handle.started_ms, handle.launcher_id)
            if started is not None and started.kill_requested_ms is not None:
                self.wake()
            await self._watch(job.id, handle)
        finally:
            self._forget(job)

    async def _watch(self, job_id: str, handle: Handle) -> None:
        status = await self.engine.wait(handle)
        self._finalize(job_id, status)

    def _finalize(self, job_id: str, status: ExitStatus) -> None:
        job = self.store.job(job_id)
        outcome = outcome_of(status, kill_signalled_ms=job.kill_signalled_ms)
        final = self.store.finish(job_id, outcome, exit_code=status.exit_code,
                                  finished_ms=status.ended_ms)
        if final is not None and final.delete_requested:
            self.store.delete_job(job_id)

    def _forget(self, job: Job) -> None:
        self._active[job.cluster_id].discard(job.id)
        self._handles.pop(job.id, None)
        self._killing.discard(job.id)
        done = self._done.pop(job.id, None)
        if done is not None and not done.done():
            done.set_result(None)
        self.wake()

    async def _kill(self, job: Job) -> None:
        """SIGTERM the tree, then SIGKILL after the grace period; bounded attempts."""
        handle, done = self._handles.get(job.id), self._done.get(job.id)
        if handle is None or done is None:
            return
        waits = [self.config.kill_grace_s] + [self.config.kill_confirm_s] * max(
            0, self.config.kill_attempts - 1)
        for attempt, wait_s in enumerate(waits):
            at = now_ms()
            if self.engine.signal(handle, force=attempt > 0):
                self.store.mark_signalled(job.id, at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), wait_s)
                return
        self.store.finish(job.id, Outcome(
            JobState.FAILED, JobResult.FAILED,
            f"kill not confirmed after {len(waits)} attempts: processes may remain"))
        log.error("job %s: kill not confirmed after %d attempts", job.id, len(waits))

    def _reattach(self) -> None:
        """Pick up the RUNNING jobs this owner had before a restart."""
        for job in self.store.owned_jobs(self.config.owner):
            try:
                handle = self.engine.attach(job.id, self.run_dir(job.id))
            except LaunchFailed as exc:
                self.store.finish(job.id, Outcome(JobState.FAILED, JobResult.FAILED,
                                                  f"could not launch: {exc}"))
                continue
            if handle is None:
                # Claimed, never handed to the engine: queue it again.
                self.store.release(job.id)
                continue
            if job.started_ms is None:
                self.store.mark_started(job.id, handle.started_ms, handle.launcher_id)
            self._active[job.cluster_id].add(job.id)
            self._handles[job.id] = handle
            self._done[job.id] = asyncio.get_running_loop().create_future()
            self._spawn(self._watch_adopted(job, handle))

    async def _watch_adopted(self, job: Job, handle: Handle) -> None:
        try:
            await self._watch(job.id, handle)
        finally:
            self._forget(job)

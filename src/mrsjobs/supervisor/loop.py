"""The supervisor owns running jobs: it dispatches queued jobs within each
cluster's capacity, records how they end, carries out kill requests and re-attaches
to its jobs after a restart.

It runs an asyncio loop in a thread of its own, so the API's threads only have to
store a change and call :meth:`Supervisor.wake`. Its engine reports to it (through
:class:`Runs`): it never polls the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..domain.errors import MrsError
from ..domain.jobs import Job, JobResult, JobState, Outcome
from ..engines.base import Engine, EngineLane, Handle, LaunchFailed
from ..store import Store
from ..store.instances import Registry
from ..telemetry import logs
from ..telemetry.instruments import DISPATCH_SECONDS, ENGINE_ERRORS
from .adoption import Adoption
from .config import ClusterRoom, JobCommands, SupervisorConfig
from .endings import Endings
from .kills import KILL_GATE_ENV, Kills
from .run import Run, Runs

__all__ = ["KILL_GATE_ENV", "JobCommands", "Supervisor", "SupervisorConfig"]

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, store: Store, engine: Engine[Any], commands: JobCommands,
                 config: SupervisorConfig, room: ClusterRoom | None = None,
                 lanes: Callable[[str], EngineLane | None] | None = None) -> None:
        """``lanes`` tells a cluster's engine lane (:class:`EngineLane`), if it has
        one: those jobs are claimed and counted apart from the cluster's others."""
        self.store = store
        self.room = room
        self.lanes = lanes
        if room is not None:
            room.on_change(self.wake)
        self.engine = engine
        self.commands = commands
        self.config = config
        self.registry = Registry(store, config.owner, config.host, os.getpid(),
                                 str(config.runs_dir))
        self.runs = Runs(self._on_started, self._on_tracked)
        self.kills = Kills(store, engine, config)
        self.endings = Endings(store, engine, config.poll_interval_s)
        self.adoption = Adoption(store, engine, self.registry, config, self._adopt)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopping = False
        # Clusters that may have queued jobs, and whether stored kill requests need a look.
        self._hinted: set[str] = set()
        self._kills_due = False
        # Each known cluster's own cap on running jobs (None: the configured one), read
        # on full passes and once for a cluster first hinted in between.
        self._caps: dict[str, int | None] = {}

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
        if self._wake is not None:
            self._call(self._wake.set)

    def submitted(self, cluster_id: str) -> None:
        """A job was queued on ``cluster_id``."""
        self._call(self._on_submitted, cluster_id)

    def kill_requested(self, job_id: str) -> None:
        """A kill of ``job_id`` was stored."""
        self._call(self._on_kill_requested, job_id)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed in between: nothing to do
                loop.call_soon_threadsafe(fn, *args)

    def _on_submitted(self, cluster_id: str) -> None:
        self._hinted.add(cluster_id)
        self._wake_now()

    def _on_kill_requested(self, job_id: str) -> None:
        # Fast path: a job we run gets its signal now, not on the next tick.
        if not self.kills.start(self.runs.get(job_id)):
            self._kills_due = True
            self._wake_now()

    def _wake_now(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    # -- the loop -------------------------------------------------------------------

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await self.engine.start(self.runs)
        self.registry.register()
        self.adoption.own_jobs()
        self._ready.set()
        next_full = 0.0
        while not self._stopping:
            self._wake.clear()
            # A full pass (every poll interval) rereads what other processes may have
            # changed; in between, only what a notification pointed at is looked at.
            full = self._loop.time() >= next_full
            if full:
                next_full = self._loop.time() + self.config.poll_interval_s
            try:
                self._tick(full)
            except Exception:
                log.exception("supervisor tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(),
                                       max(0.0, next_full - self._loop.time()))
        tasks = [task for run in self.runs for task in run.tasks()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.adoption.close()
        await self.engine.close()

    def _tick(self, full: bool) -> None:
        if full:
            self.registry.heartbeat()
            self.adoption.take_over_silent_instances()
        if full or self._kills_due:
            self._kills_due = False
            for job in self.store.pending_kills(self.config.owner):
                self.kills.start(self.runs.get(job.id))
        if full:
            self._caps = {c.id: c.max_running for c in self.store.clusters()}
            self._hinted.update(self._caps)
        for cluster_id in list(self._hinted):
            # Two lanes (see EngineLane): neither one's jobs hold the other's slots.
            lane = self._lane(cluster_id)
            free = self._cap(cluster_id) - self.runs.running(cluster_id)
            if self.room is not None and free > 0:
                room = self.room.free(cluster_id, functools.partial(
                    self.store.queued, cluster_id, free,
                    types=lane.job_types if lane is not None else None, exclude=True))
                if room is not None:
                    free = min(free, room)
            more = self._dispatch(cluster_id, free, lane, engine_lane=False)
            if lane is not None:
                free = lane.slots - self.runs.running(cluster_id, engine_lane=True)
                more = self._dispatch(cluster_id, free, lane, engine_lane=True) or more
            if not more:
                self._hinted.discard(cluster_id)

    def _dispatch(self, cluster_id: str, free: int, lane: EngineLane | None, *,
                  engine_lane: bool) -> bool:
        """Claim and launch up to ``free`` of the oldest queued jobs of one lane of a
        cluster: its engine lane's, or its own (every other job, all if it has no
        engine lane). True if more may wait in that lane."""
        if free <= 0:
            return True  # the hint stays: a freed slot (or a full pass) looks again
        claimed = self.store.claim(cluster_id, free, self.config.owner,
                                   str(self.config.runs_dir),
                                   types=lane.job_types if lane is not None else None,
                                   exclude=not engine_lane)
        if claimed and not engine_lane and self.room is not None:
            self.room.took(cluster_id, claimed)
        for job in claimed:
            run = self._add(job)
            run.task = asyncio.create_task(self._launched(run, job))
        return len(claimed) == free

    def _lane(self, cluster_id: str) -> EngineLane | None:
        return self.lanes(cluster_id) if self.lanes is not None else None

    def _cap(self, cluster_id: str) -> int:
        """How many jobs of the cluster may run at once."""
        if cluster_id not in self._caps:
            found = self.store.cluster_by_id(cluster_id)
            self._caps[cluster_id] = found.max_running if found else None
        return self._caps[cluster_id] or self.config.max_running

    def _add(self, job: Job) -> Run:
        # Under the runs directory of whoever claimed it.
        root = Path(job.run_root) if job.run_root else self.config.runs_dir
        lane = self._lane(job.cluster_id)
        run = Run.of(job.id, job.cluster_id, root / job.id,
                     engine_lane=lane is not None and lane.takes(job.type))
        self.runs.add(run)
        return run

    def _drop(self, run: Run) -> None:
        self.runs.drop(run)
        # A slot is free: look for queued work.
        self._hinted.add(run.cluster_id)
        self._wake_now()

    async def _launched(self, run: Run, job: Job) -> None:
        logs.begin(project_id=job.project_id, job_id=job.id)  # this task's own context
        try:
            try:
                if self.commands.may_block(job):
                    spec = await asyncio.to_thread(self.commands.launch_spec, job, run.run_dir)
                else:
                    spec = self.commands.launch_spec(job, run.run_dir)
                handle = await self.engine.launch(spec)
            except (LaunchFailed, MrsError, OSError) as exc:
                ENGINE_ERRORS.labels("launch").inc()
                self.store.finish(job.id, Outcome(JobState.FAILED, JobResult.FAILED,
                                                  f"could not launch: {exc}"))
                return
            except Exception as exc:
                # A bug must not leave the job RUNNING for ever: record it and say why.
                ENGINE_ERRORS.labels("launch").inc()
                log.exception("job %s: launch failed unexpectedly", job.id)
                self.store.finish(job.id, Outcome(JobState.FAILED, JobResult.FAILED,
                                                  f"could not launch: internal error: {exc}"))
                return
            if run.handle is None:
                run.handle = handle  # an engine that queues jobs: it starts later
            await self.endings.settle(run, self.commands)
        finally:
            self._drop(run)

    def _on_started(self, run: Run, handle: Handle) -> None:
        """The engine started a job that this supervisor launched."""
        run.handle = handle
        try:
            started = self.store.mark_started(run.job_id, handle.started_ms,
                                              handle.launcher_id, handle.dumps())
        except Exception:
            # Only the start is lost: the job is watched (and killable) all the same.
            log.exception("job %s: could not record its start", run.job_id)
            self._kills_due = True
            return
        if started is None:
            return
        if started.started_ms is not None:
            DISPATCH_SECONDS.observe(max(0, started.started_ms - started.submitted_ms) / 1000)
        if started.kill_requested_ms is not None:
            self.kills.start(run)

    def _on_tracked(self, run: Run, app_id: str, tracking_url: str | None) -> None:
        try:
            self.store.mark_tracked(run.job_id, app_id, tracking_url)
        except Exception:
            # Only the link is lost: the job runs and ends as it would.
            log.exception("job %s: could not record its application", run.job_id)

    def _adopt(self, job: Job) -> None:
        """Watch a RUNNING job launched earlier, by us before a restart or by another
        instance on this host: found from its records, or queued again if it never
        started."""
        if job.id in self.runs:
            return
        run = self._add(job)
        # A kill attempt was under way: a job that ended after it was killed.
        run.kill_signalled_ms = job.kill_signalled_ms
        run.task = asyncio.create_task(self._adopted(run, job))

    async def _adopted(self, run: Run, job: Job) -> None:
        logs.begin(project_id=job.project_id, job_id=job.id)  # this task's own context
        try:
            handle = await self.adoption.find(job, run.run_dir)
            if handle is None:
                return
            run.handle = handle
            if job.started_ms is None:
                try:
                    self.store.mark_started(job.id, handle.started_ms, handle.launcher_id,
                                            handle.dumps())
                except Exception:
                    log.exception("job %s: could not record its start", job.id)
            # A kill stored before or while it was being found: the next pass starts it.
            self._kills_due = True
            self._wake_now()
            await self.endings.settle(run, self.commands)
        finally:
            self._drop(run)

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
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..domain.clock import now_ms
from ..domain.errors import JobNotFound, MrsError
from ..domain.jobs import (
    ExitStatus,
    Job,
    JobResult,
    JobState,
    Outcome,
    outcome_of,
)
from ..engines.base import Engine, Handle, LaunchFailed, LaunchSpec
from ..store import Store
from ..store.instances import Registry

log = logging.getLogger(__name__)

#: Tests only: a path. The kill path creates it right after a signal went out and then
#: holds the supervisor there, so that a test can crash the service at that instant.
KILL_GATE_ENV = "MRSJOBS_TEST_KILL_GATE"
#: Errors in a row while watching a job before it is given up (FAILED, with the reason).
WATCH_RETRIES = 3
#: The longest pause between tries to record a job's end while the store fails.
RECORD_BACKOFF_S = 5.0
#: Jobs found again at once after a restart (each may wait seconds for a handed-over
#: launch): threads of their own, so that they never hold up launches and log copies.
ATTACH_THREADS = 8


def _gate_from_env() -> Callable[[str], None] | None:
    path = os.environ.get(KILL_GATE_ENV)
    if not path:
        return None

    def hold(job_id: str) -> None:
        with open(path, "w") as f:
            f.write(job_id)
        while True:  # until the test kills the process
            time.sleep(3600)

    return hold


class Launcher(Protocol):
    """Turns a job into something an engine can run."""

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec: ...

    def may_block(self, job: Job) -> bool:
        """True if building the spec may take long (it then runs in a worker thread)."""
        ...

    def finished(self, job: Job, run_dir: Path) -> None:
        """Called once the job's final state is stored (to collect its outputs)."""
        ...


@dataclass(frozen=True)
class SupervisorConfig:
    owner: str
    runs_dir: Path
    max_running: int = 10
    kill_grace_s: float = 5.0
    kill_attempts: int = 3
    kill_confirm_s: float = 10.0
    poll_interval_s: float = 1.0
    host: str = "localhost"
    # Another instance on this host adopts our jobs once we are silent this long; on
    # other hosts, they are marked lost after the longer timeout.
    instance_timeout_s: float = 15.0
    lost_timeout_s: float = 300.0


class Supervisor:
    def __init__(self, store: Store, engine: Engine, launcher: Launcher,
                 config: SupervisorConfig) -> None:
        self.store = store
        self.engine = engine
        self.launcher = launcher
        self.config = config
        self.registry = Registry(store, config.owner, config.host, os.getpid(),
                                 str(config.runs_dir))
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._active: dict[str, set[str]] = defaultdict(set)
        self._handles: dict[str, Handle] = {}
        self._done: dict[str, asyncio.Future[None]] = {}
        self._killing: set[str] = set()
        self._signalled: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Clusters that may have queued jobs, and whether stored kill requests need a look.
        self._hinted: set[str] = set()
        self._kills_due = False
        self._run_dirs: dict[str, Path] = {}
        #: Called with the job id right after a kill signal went out (a test gate).
        self.after_signal: Callable[[str], None] | None = _gate_from_env()
        self._attach_pool: ThreadPoolExecutor | None = None

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
        if not self._start_kill(job_id):
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
        start = getattr(self.engine, "start", None)
        if start is not None:
            await start()
        self.registry.register()
        self._reattach()
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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._attach_pool is not None:
            self._attach_pool.shutdown(wait=False, cancel_futures=True)
        await self.engine.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _tick(self, full: bool) -> None:
        if full:
            self.registry.heartbeat()
            self._take_over_silent_instances()
        if full or self._kills_due:
            self._kills_due = False
            for job in self.store.pending_kills(self.config.owner):
                self._start_kill(job.id)
        if full:
            self._hinted.update(c.id for c in self.store.clusters())
        for cluster_id in list(self._hinted):
            free = self.config.max_running - len(self._active[cluster_id])
            if free <= 0:
                continue  # the hint stays: a freed slot looks again
            claimed = self.store.claim(cluster_id, free, self.config.owner,
                                       str(self.config.runs_dir))
            if len(claimed) < free:
                self._hinted.discard(cluster_id)
            for job in claimed:
                self._active[cluster_id].add(job.id)
                self._done[job.id] = asyncio.get_running_loop().create_future()
                self._spawn(self._run(job))

    def _start_kill(self, job_id: str) -> bool:
        """Start killing a job this supervisor runs; False if it runs none such (yet)."""
        if job_id not in self._handles:
            return False
        if job_id not in self._killing:
            self._killing.add(job_id)
            self._spawn(self._kill(job_id))
        return True

    def run_dir(self, job: Job) -> Path:
        """Where the job's records are: under the runs directory of whoever claimed it."""
        found = self._run_dirs.get(job.id)
        if found is None:
            root = Path(job.run_root) if job.run_root else self.config.runs_dir
            found = self._run_dirs[job.id] = root / job.id
        return found

    async def _run(self, job: Job) -> None:
        try:
            try:
                if self.launcher.may_block(job):
                    spec = await asyncio.to_thread(self.launcher.launch_spec, job,
                                                   self.run_dir(job))
                else:
                    spec = self.launcher.launch_spec(job, self.run_dir(job))
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
            try:
                started = self.store.mark_started(job.id, handle.started_ms,
                                                  handle.launcher_id)
            except Exception:
                # Only the start time is lost: the job is watched (and killable) all the same.
                log.exception("job %s: could not record its start", job.id)
                started = None
                self._kills_due = True
            if started is not None and started.kill_requested_ms is not None:
                self._start_kill(job.id)
            await self._watch(job.id, handle)
        finally:
            self._forget(job)

    async def _watch(self, job_id: str, handle: Handle) -> None:
        """Wait for the job's end and record it. Nothing that goes wrong in here leaves
        the job RUNNING: errors are logged and tried again, and a job that cannot be
        watched any more ends FAILED with the reason."""
        status, problem = await self._wait_end(job_id, handle)
        await self._finalize(job_id, status, problem)

    async def _wait_end(self, job_id: str, handle: Handle) -> tuple[ExitStatus | None, str]:
        """The job's exit status; or None and why it could not be learnt (after
        :data:`WATCH_RETRIES` errors in a row; the job's processes are then stopped)."""
        errors = 0
        while True:
            try:
                return await self.engine.wait(handle), ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors += 1
                log.exception("job %s: watching it failed (%d of %d)", job_id, errors,
                              WATCH_RETRIES)
                if errors >= WATCH_RETRIES:
                    problem = f"internal error while watching the job: {exc!r}"
                    break
                await asyncio.sleep(self.config.poll_interval_s)
        # Given up: what still runs of it would run unseen, so it is stopped.
        try:
            self.engine.signal(handle, force=True)
        except Exception:
            log.exception("job %s: could not stop it", job_id)
            problem += "; its processes may remain"
        return None, problem

    async def _finalize(self, job_id: str, status: ExitStatus | None, problem: str) -> None:
        final = await self._record_end(job_id, status, problem)
        if final is None:
            return
        # Collecting outputs may fail (a full disk, a bad v1.1 job_log path): that is
        # logged, and never keeps a delete from happening.
        try:
            await asyncio.to_thread(self.launcher.finished, final, self.run_dir(final))
        except Exception:
            log.exception("job %s: could not collect its logs", job_id)
        if final.delete_requested:
            await self._retrying(f"job {job_id}: could not delete it",
                                 lambda: self.store.delete_job(job_id))

    async def _record_end(self, job_id: str, status: ExitStatus | None,
                          problem: str) -> Job | None:
        """Store the job's final state (None if it was not RUNNING any more), trying
        again for as long as the store fails."""
        def record() -> Job | None:
            if status is None:
                return self.store.finish(job_id, Outcome(JobState.FAILED, JobResult.FAILED,
                                                         problem))
            try:
                outcome = outcome_of(status, kill_signalled_ms=self._signalled.get(job_id))
            except Exception as exc:
                log.exception("job %s: could not work out its outcome", job_id)
                outcome = Outcome(JobState.FAILED, JobResult.FAILED,
                                  f"internal error recording its end: {exc!r}")
            return self.store.finish(job_id, outcome, exit_code=status.exit_code,
                                     finished_ms=status.ended_ms)

        final: Job | None = await self._retrying(f"job {job_id}: could not record its end",
                                                 record)
        return final

    async def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, tried again (with a growing pause) until it succeeds or the
        supervisor stops."""
        pause = self.config.poll_interval_s
        while True:
            try:
                return fn()
            except Exception:
                log.exception("%s; trying again in %.1f s", what, pause)
            await asyncio.sleep(pause)
            pause = min(RECORD_BACKOFF_S, pause * 2)

    def _forget(self, job: Job) -> None:
        self._active[job.cluster_id].discard(job.id)
        self._handles.pop(job.id, None)
        self._killing.discard(job.id)
        self._signalled.pop(job.id, None)
        self._run_dirs.pop(job.id, None)
        done = self._done.pop(job.id, None)
        if done is not None and not done.done():
            done.set_result(None)
        # A slot is free: look for queued work.
        self._hinted.add(job.cluster_id)
        self._wake_now()

    async def _kill(self, job_id: str) -> None:
        try:
            await self._kill_attempts(job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not stuck: the next pass over the stored kill requests starts it again.
            log.exception("job %s: killing it failed; trying again", job_id)
            self._killing.discard(job_id)

    async def _kill_attempts(self, job_id: str) -> None:
        """SIGTERM the tree, then SIGKILL after the grace period, at most
        ``kill_attempts`` signals in all: counted in the store, so a restart goes on
        from where the last service was, and never starts the count again."""
        handle, done = self._handles.get(job_id), self._done.get(job_id)
        if handle is None or done is None:
            return
        limit = max(1, self.config.kill_attempts)
        try:
            attempts = self.store.job(job_id).kill_attempts
        except JobNotFound:
            return
        waited = False
        while attempts < limit:
            at = now_ms()
            # The attempt is durable before its signal goes out: if the service dies
            # right after the signal, the restarted one still knows the job was killed.
            job = self.store.mark_signalled(job_id, at)
            if job is None:
                return  # not RUNNING any more: it ended meanwhile
            attempts = job.kill_attempts
            first = job.kill_signalled_ms if job.kill_signalled_ms is not None else at
            if self._send_signal(handle, force=attempts > 1):
                self._signalled.setdefault(job_id, first)
                if self.after_signal is not None:
                    self.after_signal(job_id)
            elif first == at and job_id not in self._signalled:
                # Nothing was left to signal: the job ended on its own, and that stands.
                self.store.unmark_signalled(job_id, at)
            wait_s = self.config.kill_grace_s if attempts == 1 else self.config.kill_confirm_s
            if await self._ended(done, wait_s):
                return
            waited = True
        # The last attempt may have been made by a service that then died: it gets its
        # confirmation time here before the kill is given up.
        if not waited and await self._ended(done, self.config.kill_confirm_s):
            return
        if self.store.finish(job_id, Outcome(
                JobState.FAILED, JobResult.FAILED,
                f"kill not confirmed after {limit} attempts: processes may remain")):
            log.error("job %s: kill not confirmed after %d attempts", job_id, limit)

    def _send_signal(self, handle: Handle, *, force: bool) -> bool:
        """True if a signal went out, or may have (the engine failed half-way)."""
        try:
            return self.engine.signal(handle, force=force)
        except Exception:
            log.exception("job %s: signalling it failed", handle.job_id)
            return True

    @staticmethod
    async def _ended(done: asyncio.Future[None], wait_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), wait_s)
            return True
        return False

    def _reattach(self) -> None:
        """Pick up the RUNNING jobs this owner had before a restart."""
        for job in self.store.owned_jobs(self.config.owner):
            self._adopt(job)

    def _take_over_silent_instances(self) -> None:
        """Adopt the jobs of dead instances on this host; fail those of long-dead
        instances elsewhere, whose processes nobody here can see."""
        timeout_ms = int(self.config.instance_timeout_s * 1000)
        for dead in self.registry.silent(timeout_ms):
            if dead.host == self.config.host:
                for job in self.registry.adopt(dead, timeout_ms):
                    log.warning("job %s: adopted from silent instance %s", job.id, dead.id)
                    self._adopt(job)
            else:
                for job_id in self.registry.mark_lost(dead, int(self.config.lost_timeout_s
                                                                * 1000)):
                    log.error("job %s: lost with instance %s on %s", job_id, dead.id,
                              dead.host)

    def _adopt(self, job: Job) -> None:
        """Watch a RUNNING job launched earlier, by us before a restart or by another
        instance on this host: find it from its records, or queue it again if it
        never started."""
        if job.id in self._handles or job.id in self._done:
            return
        if job.kill_signalled_ms is not None:
            # A kill attempt was under way: a job that ended after it was killed.
            self._signalled[job.id] = job.kill_signalled_ms
        self._active[job.cluster_id].add(job.id)
        self._done[job.id] = asyncio.get_running_loop().create_future()
        self._spawn(self._watch_adopted(job))

    async def _watch_adopted(self, job: Job) -> None:
        try:
            try:
                # Finding it may wait seconds for a launch that an earlier service
                # handed over: in a worker thread, so that the loop goes on
                # dispatching, watching and killing the other jobs meanwhile.
                if self._attach_pool is None:
                    self._attach_pool = ThreadPoolExecutor(ATTACH_THREADS, "attach")
                handle = await asyncio.get_running_loop().run_in_executor(
                    self._attach_pool, self.engine.attach, job.id, self.run_dir(job))
            except Exception as exc:
                if not isinstance(exc, LaunchFailed):
                    log.exception("job %s: could not find it again", job.id)
                failed = Outcome(JobState.FAILED, JobResult.FAILED, f"could not launch: {exc}")
                await self._retrying(f"job {job.id}: could not record its end",
                                     lambda: self.store.finish(job.id, failed))
                return
            if handle is None:
                # Claimed, never started (and now never will be): queue it again.
                await self._retrying(f"job {job.id}: could not queue it again",
                                     lambda: self.store.release(job.id))
                return
            if job.started_ms is None:
                try:
                    self.store.mark_started(job.id, handle.started_ms, handle.launcher_id)
                except Exception:
                    log.exception("job %s: could not record its start", job.id)
            self._handles[job.id] = handle
            # A kill stored before or while it was being found: the next pass starts it.
            self._kills_due = True
            self._wake_now()
            await self._watch(job.id, handle)
        finally:
            self._forget(job)

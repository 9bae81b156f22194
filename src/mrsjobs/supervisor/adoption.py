"""Jobs this supervisor watches but did not launch: its own, after a restart, and those
of silent instances on this host. Each is found again through the engine, from the
handle the store kept; one that never started is queued again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..domain.jobs import Job, JobResult, JobState, Outcome
from ..engines.base import Engine, Handle, LaunchFailed
from ..store import Store
from ..store.instances import Registry
from .config import SupervisorConfig
from .endings import retrying

log = logging.getLogger(__name__)

#: Jobs found again at once after a restart (each may wait seconds for a handed-over
#: launch): threads of their own, so that they never hold up launches and log copies.
ATTACH_THREADS = 8


class Adoption:
    def __init__(self, store: Store, engine: Engine[Any], registry: Registry,
                 config: SupervisorConfig, adopt: Callable[[Job], None]) -> None:
        self.store = store
        self.engine = engine
        self.registry = registry
        self.config = config
        self._adopt = adopt
        self._pool: ThreadPoolExecutor | None = None

    def own_jobs(self) -> None:
        """Pick up the RUNNING jobs this owner had before a restart."""
        for job in self.store.owned_jobs(self.config.owner):
            self._adopt(job)

    def take_over_silent_instances(self) -> None:
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

    async def find(self, job: Job, run_dir: Path) -> Handle | None:
        """The job's handle, the engine watching it; None if there is nothing to watch
        (it never started and is queued again, or could not start and is FAILED)."""
        try:
            # Finding it may wait seconds for a launch that an earlier service handed
            # over: in a worker thread, so that the loop goes on dispatching, watching
            # and killing the other jobs meanwhile.
            if self._pool is None:
                self._pool = ThreadPoolExecutor(ATTACH_THREADS, "attach")
            handle: Handle | None = await asyncio.get_running_loop().run_in_executor(
                self._pool, self.engine.attach, job.id, run_dir, job.engine_handle)
        except Exception as exc:
            if not isinstance(exc, LaunchFailed):
                log.exception("job %s: could not find it again", job.id)
            failed = Outcome(JobState.FAILED, JobResult.FAILED, f"could not launch: {exc}")
            await retrying(f"job {job.id}: could not record its end",
                           lambda: self.store.finish(job.id, failed),
                           self.config.poll_interval_s)
            return None
        if handle is None:
            # Claimed, never started (and now never will be): queue it again.
            await retrying(f"job {job.id}: could not queue it again",
                           lambda: self.store.release(job.id), self.config.poll_interval_s)
        return handle

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

"""A job's end, recorded: its final state from what the engine reported, then its
outputs collected and, if asked for, its record deleted. Nothing that goes wrong in
here leaves the job RUNNING: the store is tried again for as long as it fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..domain.jobs import ExitStatus, Job, JobResult, JobState, Outcome, outcome_of
from ..engines.base import Engine, Result
from ..store import Store
from .config import JobCommands
from .run import Run, Unwatchable

log = logging.getLogger(__name__)

#: The longest pause between tries to record a job's end while the store fails.
RECORD_BACKOFF_S = 5.0


async def retrying(what: str, fn: Callable[[], Any], pause_s: float) -> Any:
    """``fn()``, tried again (with a growing pause) until it succeeds or the
    supervisor stops."""
    pause = pause_s
    while True:
        try:
            return fn()
        except Exception:
            log.exception("%s; trying again in %.1f s", what, pause)
        await asyncio.sleep(pause)
        pause = min(RECORD_BACKOFF_S, pause * 2)


class Endings:
    def __init__(self, store: Store, engine: Engine[Any], pause_s: float) -> None:
        self.store = store
        self.engine = engine
        self.pause_s = pause_s

    async def settle(self, run: Run, commands: JobCommands) -> None:
        """Wait for the engine's report of the job's end, and record it."""
        end = await run.end
        final = await self._record(run, await self._stop(run, end.error)
                                   if isinstance(end, Unwatchable) else end)
        if final is None:
            return
        # Collecting outputs may fail (a full disk, a bad v1.1 job_log path): that is
        # logged, and never keeps a delete from happening.
        try:
            await asyncio.to_thread(commands.finished, final, run.run_dir)
        except Exception:
            log.exception("job %s: could not collect its logs", run.job_id)
        if final.delete_requested:
            await retrying(f"job {run.job_id}: could not delete it",
                           lambda: self.store.delete_job(run.job_id), self.pause_s)

    async def _stop(self, run: Run, error: Exception) -> Outcome:
        """Given up watching: what still runs of the job would run unseen, so it is
        stopped, and the job ends FAILED with the reason."""
        problem = f"internal error while watching the job: {error!r}"
        try:
            if run.handle is not None:
                await self.engine.signal(run.handle, force=True)
        except Exception:
            log.exception("job %s: could not stop it", run.job_id)
            problem += "; its processes may remain"
        return Outcome(JobState.FAILED, JobResult.FAILED, problem)

    async def _record(self, run: Run, end: ExitStatus | Result | Outcome) -> Job | None:
        """Store the job's final state (None if it was not RUNNING any more), trying
        again for as long as the store fails."""
        job_id = run.job_id

        def record() -> Job | None:
            if isinstance(end, Outcome):
                return self.store.finish(job_id, end)
            if isinstance(end, Result):
                return self.store.finish(job_id, end.outcome, exit_code=end.exit_code,
                                         finished_ms=end.ended_ms)
            try:
                outcome = outcome_of(end, kill_signalled_ms=run.kill_signalled_ms)
            except Exception as exc:
                log.exception("job %s: could not work out its outcome", job_id)
                outcome = Outcome(JobState.FAILED, JobResult.FAILED,
                                  f"internal error recording its end: {exc!r}")
            return self.store.finish(job_id, outcome, exit_code=end.exit_code,
                                     finished_ms=end.ended_ms)

        final: Job | None = await retrying(f"job {job_id}: could not record its end", record,
                                           self.pause_s)
        return final

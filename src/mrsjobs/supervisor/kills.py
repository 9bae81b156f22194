"""Killing a running job: SIGTERM, then SIGKILL after the grace period, a bounded
number of signals in all, each recorded in the store before it goes out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ..domain.clock import now_ms
from ..domain.errors import JobNotFound
from ..domain.jobs import JobResult, JobState, Outcome
from ..engines.base import Engine, Handle
from ..store import Store
from .config import SupervisorConfig
from .run import Run

log = logging.getLogger(__name__)

#: Tests only: a path. The kill path creates it right after a signal went out and then
#: holds the supervisor there, so that a test can crash the service at that instant.
KILL_GATE_ENV = "MRSJOBS_TEST_KILL_GATE"


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


class Kills:
    def __init__(self, store: Store, engine: Engine[Any], config: SupervisorConfig) -> None:
        self.store = store
        self.engine = engine
        self.config = config
        #: Called with the job id right after a kill signal went out (a test gate).
        self.after_signal: Callable[[str], None] | None = _gate_from_env()

    def start(self, run: Run | None) -> bool:
        """Start killing a job this supervisor runs; False if it runs none such (yet)."""
        if run is None or run.handle is None:
            return False
        if run.kill is None:
            run.kill = asyncio.create_task(self._kill(run, run.handle))
        return True

    async def _kill(self, run: Run, handle: Handle) -> None:
        try:
            await self._attempts(run, handle)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not stuck: the next pass over the stored kill requests starts it again.
            log.exception("job %s: killing it failed; trying again", run.job_id)
            run.kill = None

    async def _attempts(self, run: Run, handle: Handle) -> None:
        """At most ``kill_attempts`` signals in all: counted in the store, so a restart
        goes on from where the last service was, and never starts the count again."""
        job_id = run.job_id
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
            if await self._send_signal(handle, force=attempts > 1):
                if run.kill_signalled_ms is None:
                    run.kill_signalled_ms = first
                if self.after_signal is not None:
                    self.after_signal(job_id)
            elif first == at and run.kill_signalled_ms is None:
                # Nothing was left to signal: the job ended on its own, and that stands.
                self.store.unmark_signalled(job_id, at)
            wait_s = self.config.kill_grace_s if attempts == 1 else self.config.kill_confirm_s
            if await _ended(run, wait_s):
                return
            waited = True
        # The last attempt may have been made by a service that then died: it gets its
        # confirmation time here before the kill is given up.
        if not waited and await _ended(run, self.config.kill_confirm_s):
            return
        if self.store.finish(job_id, Outcome(
                JobState.FAILED, JobResult.FAILED,
                f"kill not confirmed after {limit} attempts: processes may remain")):
            log.error("job %s: kill not confirmed after %d attempts", job_id, limit)

    async def _send_signal(self, handle: Handle, *, force: bool) -> bool:
        """True if a signal went out, or may have (the engine failed half-way)."""
        try:
            return await self.engine.signal(handle, force=force)
        except Exception:
            log.exception("job %s: signalling it failed", handle.job_id)
            return True


async def _ended(run: Run, wait_s: float) -> bool:
    """True once the job is seen ended (its end recorded) within ``wait_s``."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(run.done), wait_s)
        return True
    return False

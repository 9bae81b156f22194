"""How an engine tells the supervisor what becomes of its jobs: one watch task per
job, which learns the job's end in the engine's own way and reports it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..domain.jobs import ExitStatus
from .base import EngineEvents, Handle, Result

log = logging.getLogger(__name__)

#: Errors in a row while learning a job's end before the job is reported unwatchable.
WATCH_RETRIES = 3


class Reporter:
    """Reports to the events an engine was started with. An engine used without
    :meth:`start` (a test that waits on it directly) reports nothing."""

    def __init__(self, retry_pause_s: float) -> None:
        self.retry_pause_s = retry_pause_s
        self._events: EngineEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, events: EngineEvents) -> None:
        self._events = events
        self._loop = asyncio.get_running_loop()

    def started(self, handle: Handle) -> None:
        if self._events is not None:
            self._events.started(handle)

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        if self._events is not None and job_id in self._tasks:
            self._events.tracked(job_id, app_id, tracking_url)

    def killed(self, job_id: str, at_ms: int) -> None:
        """The engine confirmed a kill: that is the job's one report, and its watch
        stops. Nothing is reported for a job whose end was reported already."""
        task = self._tasks.pop(job_id, None)
        if task is None or self._events is None:
            return
        task.cancel()
        self._events.killed(job_id, at_ms)

    def watch(self, handle: Handle,
              wait: Callable[[], Awaitable[ExitStatus | Result]]) -> None:
        """Report how the job ends, as ``wait`` learns it. From any thread: ``attach``
        runs in a worker thread."""
        loop = self._loop
        if self._events is None or loop is None or loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            self._spawn(handle, wait)
        else:
            with contextlib.suppress(RuntimeError):  # closed in between: nobody listens
                loop.call_soon_threadsafe(self._spawn, handle, wait)

    def _spawn(self, handle: Handle,
               wait: Callable[[], Awaitable[ExitStatus | Result]]) -> None:
        if self._events is None:
            return  # closed meanwhile
        task = asyncio.get_running_loop().create_task(self._report_end(handle, wait))
        self._tasks[handle.job_id] = task
        task.add_done_callback(lambda done: self._forget(handle.job_id, done))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    async def _report_end(self, handle: Handle,
                          wait: Callable[[], Awaitable[ExitStatus | Result]]) -> None:
        events = self._events
        assert events is not None
        errors = 0
        while True:
            try:
                status = await wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors += 1
                log.exception("job %s: watching it failed (%d of %d)", handle.job_id, errors,
                              WATCH_RETRIES)
                if errors >= WATCH_RETRIES:
                    events.unwatchable(handle.job_id, exc)
                    return
                await asyncio.sleep(self.retry_pause_s)
                continue
            events.ended(handle.job_id, status)
            return

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._events = None

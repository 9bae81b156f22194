"""An in-memory engine for tests: jobs "run" until the test ends them or a signal does.

It keeps the engine contract (the same contract tests run against it and the
process engine) and adds gates, so that races can be staged deterministically.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from ..domain.clock import now_ms
from ..domain.jobs import ExitStatus, JobType
from .base import (
    Capabilities,
    EngineEvents,
    Handle,
    LaunchFailed,
    LaunchSpec,
    Result,
    handle_fields,
)
from .reporting import Reporter


@dataclass(frozen=True, slots=True)
class MemoryHandle(Handle):
    pid: int

    @property
    def launcher_id(self) -> str:
        return f"pid_{self.pid}"


class MemoryEngine:
    """With ``confirms_kill``, it stands for an engine that confirms kills itself (a
    cluster master): a signal that ends a job is reported as ``killed``."""

    def __init__(self, *, honour_sigterm: bool = True, honour_sigkill: bool = True,
                 retry_pause_s: float = 0.05, confirms_kill: bool = False) -> None:
        self.capabilities = Capabilities(frozenset(JobType), confirms_kill=confirms_kill,
                                         survives_restart=True)
        self.honour_sigterm = honour_sigterm
        self.honour_sigkill = honour_sigkill
        #: When set, launches wait at this gate until the test opens it.
        self.launch_gate: threading.Event | None = None
        #: Set whenever a launch has begun (and is possibly held at the gate).
        self.launch_begun = threading.Event()
        self.launched: list[LaunchSpec] = []
        self.signals: list[tuple[str, bool]] = []
        self._pids = itertools.count(1000)
        self._lock = threading.Lock()
        self._handles: dict[str, MemoryHandle] = {}
        self._status: dict[str, ExitStatus | Result | None] = {}
        # Waiters may sit on different loops: a restarted supervisor has a new one.
        self._waiters: dict[str, list[asyncio.Future[ExitStatus | Result]]] = {}
        self._reporter = Reporter(retry_pause_s)

    # -- test controls (any thread) -------------------------------------------------

    def running(self) -> list[str]:
        with self._lock:
            return [j for j, status in self._status.items() if status is None]

    def end(self, job_id: str, exit_code: int = 0) -> None:
        """Let a running job exit on its own with ``exit_code``."""
        self._finish(job_id, ExitStatus(exit_code, None, now_ms()))

    def end_with(self, job_id: str, result: Result) -> None:
        """End a running job with an outcome the engine decided (as a cluster master
        reports a driver's final state)."""
        self._finish(job_id, result)

    def _finish(self, job_id: str, status: ExitStatus | Result) -> bool:
        with self._lock:
            if self._status.get(job_id, status) is not None:
                return False
            self._status[job_id] = status
            waiters = self._waiters.pop(job_id, [])
        for fut in waiters:
            if not fut.get_loop().is_closed():
                fut.get_loop().call_soon_threadsafe(_resolve, fut, status)
        return True

    # -- the port -------------------------------------------------------------------

    async def start(self, events: EngineEvents) -> None:
        self._reporter.start(events)

    async def launch(self, spec: LaunchSpec) -> MemoryHandle:
        self.launch_begun.set()
        gate = self.launch_gate
        # Polled, not waited on in a thread: a stopping supervisor can cancel it.
        while gate is not None and not gate.is_set():
            await asyncio.sleep(0.002)
        if not spec.argv or spec.argv[0] == "missing-program":
            raise LaunchFailed(f"no such program: {spec.argv[:1]}")
        pid = next(self._pids)
        handle = MemoryHandle(spec.job_id, now_ms(), pid)
        with self._lock:
            self.launched.append(spec)
            self._status[spec.job_id] = None
            self._handles[spec.job_id] = handle
        self._reporter.started(handle)
        self._watch(handle)
        return handle

    async def signal(self, handle: MemoryHandle, *, force: bool) -> bool:
        with self._lock:
            if self._status.get(handle.job_id, True) is not None:
                return False
            self.signals.append((handle.job_id, force))
        if self.honour_sigkill if force else self.honour_sigterm:
            sig = signal.SIGKILL if force else signal.SIGTERM
            ended = ExitStatus(None, int(sig), now_ms())
            if self._finish(handle.job_id, ended) and self.capabilities.confirms_kill:
                self._reporter.killed(handle.job_id, ended.ended_ms)
        return True

    def attach(self, job_id: str, run_dir: Path,
               kept: str | None = None) -> MemoryHandle | None:
        with self._lock:
            known = self._handles.get(job_id)
        if known is None:
            return None  # it "ran" in another memory: never started here
        try:
            handle = MemoryHandle(**(handle_fields(kept) or {}))
        except TypeError:
            handle = known  # nothing kept (or not a handle of ours): our own record
        self._watch(handle)
        return handle

    async def close(self) -> None:
        await self._reporter.close()

    # -- inside the engine (and for tests) ------------------------------------------

    def _watch(self, handle: MemoryHandle) -> None:
        self._reporter.watch(handle, lambda: self.wait(handle))

    async def wait(self, handle: MemoryHandle) -> ExitStatus | Result:
        """Resolve once the job has ended."""
        fut: asyncio.Future[ExitStatus | Result] = asyncio.get_running_loop().create_future()
        with self._lock:
            status = self._status.get(handle.job_id)
            if status is None:
                self._waiters.setdefault(handle.job_id, []).append(fut)
        if status is not None:
            return status
        try:
            return await fut
        finally:
            with self._lock:
                if fut in self._waiters.get(handle.job_id, []):
                    self._waiters[handle.job_id].remove(fut)

    def poll(self, handle: MemoryHandle) -> ExitStatus | Result | None:
        """The job's exit status if it has ended; None if it runs."""
        with self._lock:
            return self._status.get(handle.job_id)


def _resolve(fut: asyncio.Future[ExitStatus | Result], status: ExitStatus | Result) -> None:
    if not fut.done():
        fut.set_result(status)

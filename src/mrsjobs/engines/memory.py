"""An in-memory engine for tests: jobs "run" until the test ends them or a signal does.

It keeps the engine contract (the same contract tests run against it and the
process engine) and adds gates, so that races can be staged deterministically.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
from pathlib import Path

from ..domain.clock import now_ms
from ..domain.jobs import ExitStatus
from .base import Handle, LaunchFailed, LaunchSpec


class MemoryEngine:
    def __init__(self, *, honour_sigterm: bool = True, honour_sigkill: bool = True) -> None:
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
        self._handles: dict[str, Handle] = {}
        self._status: dict[str, ExitStatus | None] = {}
        # Waiters may sit on different loops: a restarted supervisor has a new one.
        self._waiters: dict[str, list[asyncio.Future[ExitStatus]]] = {}

    # -- test controls (any thread) -------------------------------------------------

    def running(self) -> list[str]:
        with self._lock:
            return [j for j, status in self._status.items() if status is None]

    def end(self, job_id: str, exit_code: int = 0) -> None:
        """Let a running job exit on its own with ``exit_code``."""
        self._finish(job_id, ExitStatus(exit_code, None, now_ms()))

    def _finish(self, job_id: str, status: ExitStatus) -> bool:
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

    async def launch(self, spec: LaunchSpec) -> Handle:
        self.launch_begun.set()
        gate = self.launch_gate
        # Polled, not waited on in a thread: a stopping supervisor can cancel it.
        while gate is not None and not gate.is_set():
            await asyncio.sleep(0.002)
        if not spec.argv or spec.argv[0] == "missing-program":
            raise LaunchFailed(f"no such program: {spec.argv[:1]}")
        pid = next(self._pids)
        handle = Handle(spec.job_id, spec.run_dir, pid, pid, pid, now_ms())
        with self._lock:
            self.launched.append(spec)
            self._status[spec.job_id] = None
            self._handles[spec.job_id] = handle
        return handle

    async def wait(self, handle: Handle) -> ExitStatus:
        fut: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
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

    def signal(self, handle: Handle, *, force: bool) -> bool:
        with self._lock:
            if self._status.get(handle.job_id, True) is not None:
                return False
            self.signals.append((handle.job_id, force))
        if self.honour_sigkill if force else self.honour_sigterm:
            sig = signal.SIGKILL if force else signal.SIGTERM
            self._finish(handle.job_id, ExitStatus(None, int(sig), now_ms()))
        return True

    def attach(self, job_id: str, run_dir: Path) -> Handle | None:
        with self._lock:
            return self._handles.get(job_id)

    def poll(self, handle: Handle) -> ExitStatus | None:
        with self._lock:
            return self._status.get(handle.job_id)

    async def close(self) -> None:
        return None


def _resolve(fut: asyncio.Future[ExitStatus], status: ExitStatus) -> None:
    if not fut.done():
        fut.set_result(status)

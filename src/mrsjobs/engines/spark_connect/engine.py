"""SQL jobs on a warm Spark Connect server per project and cluster (server.py): each job
in its own session, its statements in order, each statement's rows stored as it ends.

A kill interrupts the job's operations by its tag; the job is reported killed once the
engine answered its running statement with ``OPERATION_CANCELED`` (or before its next
statement started). A kill never touches another job: tags are per session.

After a restart of the service a job whose statements were not all done is not run
again: what it left running in its session is interrupted, and it ends FAILED with
that reason (KILLED if a kill had been asked for).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from ...containment.bridge import Bridge
from ...domain.clock import now_ms
from ...domain.errors import MrsError
from ...domain.jobs import Job, JobResult, JobState, JobType, Outcome
from ...store.sql_results import StatementResult
from ..base import (
    Capabilities,
    EngineEvents,
    Handle,
    LaunchFailed,
    LaunchSpec,
    Result,
)
from ..local.detached import proc_alive
from ..reporting import Reporter
from .client import JobSession, error_class, session_id, unavailable
from .server import HOST, ConnectServer, ServerError

log = logging.getLogger(__name__)

#: The engine's name in launch requests and handles.
ENGINE = "spark-connect"
#: Where a service keeps the sockets it reaches its engines by: ``<tmp>/<this><pid>-*``.
SOCKET_DIR = "mrsjobs-sql-"
#: How long a kill keeps interrupting a job whose statement is not on the engine yet.
INTERRUPT_RETRY_S = 2.0
#: Where the sessions of ended jobs are released.
_RELEASE = ThreadPoolExecutor(2, thread_name_prefix="sql-release")
SQL_TYPES = frozenset({JobType.SPARK_SQL, JobType.HIVE_SQL, JobType.SPARK_SCRIPT,
                       JobType.HIVE_SCRIPT})


@dataclass(frozen=True, slots=True)
class SqlLaunch:
    """A SQL job as its commands hand it to the engine."""

    engine: ClassVar[str] = ENGINE
    project_id: str
    cluster_id: str
    statements: tuple[str, ...]
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SqlHandle(Handle):
    project_id: str
    cluster_id: str
    #: How many statements the job has: a restart knows whether all were done.
    statements: int
    engine: str = ENGINE

    @property
    def launcher_id(self) -> str:
        return session_id(self.job_id)


class Results(Protocol):
    """Where statement results go (the store), and what a restart looks up there."""

    def save_sql_result(self, job_id: str, result: StatementResult) -> None: ...

    def sql_results_stored(self, job_id: str) -> int: ...

    def job(self, job_id: str) -> Job: ...


class _Killed(Exception):
    """The job's operations were cancelled by a kill."""


@dataclass
class _Warm:
    """A started server, how to reach it, and the threads its jobs' calls run in."""

    server: ConnectServer
    pool: ThreadPoolExecutor
    target: str = ""
    token: str = ""
    pid: int = 0
    bridge: Bridge | None = None
    running: int = 0
    last_used: float = field(default_factory=time.monotonic)


class SparkConnectEngine:
    capabilities = Capabilities(SQL_TYPES, confirms_kill=True)

    def __init__(self, servers: Callable[[str, str], ConnectServer], results: Results, *,
                 slots: int = 8, max_rows: int = 1000, idle_s: float = 600.0) -> None:
        #: The server of a (project, cluster): made, not started.
        self._servers = servers
        self.results = results
        self.slots = max(1, slots)
        self.max_rows = max(0, max_rows)
        self.idle_s = idle_s
        self._reporter = Reporter(0.5)
        self._lock = threading.Lock()
        self._warm: dict[tuple[str, str], _Warm] = {}
        self._sessions: dict[str, JobSession] = {}
        self._kills: set[str] = set()
        #: Jobs launched here whose statements are not all done.
        self._active: set[str] = set()
        self._idler: asyncio.Task[None] | None = None
        self._socket_dir: Path | None = None

    # -- the port -------------------------------------------------------------------

    async def start(self, events: EngineEvents) -> None:
        self._reporter.start(events)
        if self.idle_s > 0:
            self._idler = asyncio.create_task(self._stop_idle())

    async def launch(self, spec: LaunchSpec) -> SqlHandle:
        launch = spec.request
        if not isinstance(launch, SqlLaunch):
            raise LaunchFailed("not a SQL engine job")
        try:
            # Making a project's server may make its OS user, and a cold server takes
            # tens of seconds to start: both in a thread.
            warm = await asyncio.to_thread(self._get, launch.project_id, launch.cluster_id)
        except (ServerError, OSError, MrsError) as exc:
            raise LaunchFailed(f"the SQL engine cannot be made: {exc}") from exc
        warm.running += 1
        try:
            await asyncio.to_thread(self._ensure, warm)
        except (ServerError, OSError, MrsError) as exc:
            warm.running -= 1
            raise LaunchFailed(f"the SQL engine did not start: {exc}") from exc
        with self._lock:
            self._active.add(spec.job_id)
        handle = SqlHandle(spec.job_id, now_ms(), launch.project_id, launch.cluster_id,
                           len(launch.statements))
        self._reporter.started(handle)
        self._reporter.watch(handle, lambda: self._run(warm, handle, launch))
        return handle

    async def signal(self, handle: SqlHandle, *, force: bool) -> bool:
        """Interrupt the job's operations (a polite and a forced kill are the same); a
        job whose statements have not started yet is stopped before the first."""
        with self._lock:
            if handle.job_id not in self._active:
                return False
            self._kills.add(handle.job_id)
            session = self._sessions.get(handle.job_id)
        # The job's statement may be on its way to the engine, not registered there yet:
        # the interrupt is sent again until it met an operation or the job ended.
        deadline = time.monotonic() + INTERRUPT_RETRY_S
        while session is not None and not await asyncio.to_thread(self._interrupt, session):
            if not self._is_active(handle.job_id) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        return True

    def attach(self, job_id: str, run_dir: Path, kept: str | None = None) -> SqlHandle | None:
        if kept is None:
            return None  # its start was never recorded: no statement ran
        try:
            handle = SqlHandle.loads(kept)
        except ValueError as exc:
            raise LaunchFailed(f"its SQL session cannot be found again: {kept!r}") from exc
        self._reporter.watch(handle, lambda: asyncio.to_thread(self._left_over, handle))
        return handle

    async def close(self) -> None:
        if self._idler is not None:
            self._idler.cancel()
        await self._reporter.close()
        with self._lock:
            warm = list(self._warm.values())
            self._warm.clear()
        await asyncio.gather(*(asyncio.to_thread(self._stop, w) for w in warm))
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    # -- running a job ----------------------------------------------------------------

    async def _run(self, warm: _Warm, handle: SqlHandle, launch: SqlLaunch) -> Result:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(warm.pool, self._execute, warm, handle, launch)
        finally:
            warm.running -= 1
            warm.last_used = time.monotonic()
        if result.outcome.state is JobState.KILLED:
            # The kill is confirmed: the job's one report; it ends the watch running this.
            self._reporter.killed(handle.job_id, result.ended_ms)
            await asyncio.sleep(0)
        return result

    def _execute(self, warm: _Warm, handle: SqlHandle, launch: SqlLaunch) -> Result:
        job_id = handle.job_id
        total = len(launch.statements)
        truncated: list[int] = []
        session: JobSession | None = None
        index = 0
        try:
            session = JobSession(warm.target, warm.token, job_id)
            with self._lock:
                self._sessions[job_id] = session
            session.configure(launch.conf)
            for index, statement in enumerate(launch.statements):
                if self._kill_asked(job_id):
                    raise _Killed
                result = session.run(index, statement, self.max_rows,
                                     lambda: not self._kill_asked(job_id))
                if result is None:
                    raise _Killed
                self.results.save_sql_result(job_id, result)
                if result.truncated:
                    truncated.append(index)
        except _Killed:
            return _killed()
        except Exception as exc:
            if error_class(exc) == "OPERATION_CANCELED" and self._kill_asked(job_id):
                return _killed()
            why, engine_down = self._why(warm, exc, index, total, session is None)
            return _failed(why, JobState.FAILED if engine_down else JobState.FINISHED)
        finally:
            with self._lock:
                self._sessions.pop(job_id, None)
                self._kills.discard(job_id)
                self._active.discard(job_id)
            if session is not None:
                # Released in the background: the job's end need not wait for it.
                _RELEASE.submit(session.close)
        reason: str | None = None
        if truncated:
            reason = (f"results truncated to {self.max_rows} rows: statement "
                      + ", ".join(str(i) for i in truncated))
        return Result(Outcome(JobState.FINISHED, JobResult.SUCCEEDED, reason), now_ms())

    def _why(self, warm: _Warm, exc: BaseException, index: int, total: int,
             opening: bool) -> tuple[str, bool]:
        """Why the job failed, and whether the engine let it down (rather than its SQL)."""
        where = "opening its session" if opening else f"statement {index} of {total}"
        if unavailable(exc) or warm.server.running() is None:
            return f"the SQL engine ended while running {where}", True
        condition = error_class(exc)
        text = _first_line(str(exc))
        if condition is not None and condition not in text:
            text = f"[{condition}] {text}"
        return f"{where} failed: {text}", False

    def _kill_asked(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._kills

    def _is_active(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._active

    def _interrupt(self, session: JobSession) -> bool:
        """Interrupt the session's tagged operations; True if one was."""
        try:
            return bool(session.interrupt())
        except Exception:
            log.exception("job %s: interrupting it failed", session.job_id)
            return False

    def _left_over(self, handle: SqlHandle) -> Result:
        """A job found after a restart: done if all its statements were, else what it
        left running is interrupted and it ends without running them again."""
        done = self.results.sql_results_stored(handle.job_id)
        if done >= handle.statements:
            return Result(Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None), now_ms())
        server = self._servers(handle.project_id, handle.cluster_id)
        found = server.running()
        interrupted = False
        if found is not None:
            warm = self._get(handle.project_id, handle.cluster_id)
            try:
                self._ensure(warm)
                session = JobSession(warm.target, warm.token, handle.job_id)
                try:
                    interrupted = bool(session.interrupt())
                finally:
                    session.close()
            except Exception:
                log.exception("job %s: could not reach its SQL session", handle.job_id)
        if self.results.job(handle.job_id).kill_requested_ms is not None:
            return Result(Outcome(JobState.KILLED, JobResult.KILLED, "killed on request"),
                          now_ms())
        what = "was interrupted" if interrupted else "had stopped"
        return _failed(f"the service restarted while statement {done} of {handle.statements} "
                       f"ran; it {what}, and the job's statements are not run again",
                       JobState.FAILED)

    # -- the servers ----------------------------------------------------------------

    def _get(self, project_id: str, cluster_id: str) -> _Warm:
        key = (project_id, cluster_id)
        with self._lock:
            warm = self._warm.get(key)
            if warm is None:
                warm = self._warm[key] = _Warm(
                    self._servers(project_id, cluster_id),
                    ThreadPoolExecutor(self.slots, thread_name_prefix=f"sql-{cluster_id[:8]}"))
            return warm

    def _ensure(self, warm: _Warm) -> None:
        """Start the server if it is not running (again), and the bridge to it."""
        if warm.pid and warm.server.serves(warm.pid) and (
                warm.bridge is None or warm.bridge.alive()):
            return  # the usual case, without the lock and a probe of the port
        pid, port, token = warm.server.ensure_started()
        netns = warm.server.netns
        if warm.pid == pid and (warm.bridge is None or warm.bridge.alive()):
            return
        if warm.bridge is not None:
            warm.bridge.stop()
            warm.bridge = None
        if netns is None:
            warm.target = f"{HOST}:{port}"
        else:
            warm.bridge = Bridge(self._socket(warm.server), netns, HOST, port)
            warm.bridge.start()
            warm.target = warm.bridge.target
        warm.token, warm.pid = token, pid

    def _socket(self, server: ConnectServer) -> Path:
        """Where this service reaches a namespaced server: a unix socket in a directory
        of this process's own (0700, and short: socket paths are at most 107 bytes)."""
        with self._lock:
            if self._socket_dir is None:
                _sweep_socket_dirs()
                self._socket_dir = Path(tempfile.mkdtemp(prefix=f"{SOCKET_DIR}{os.getpid()}-"))
            folder = self._socket_dir
        name = hashlib.sha256(str(server.home).encode()).hexdigest()[:16]
        return folder / f"{name}.sock"

    def _stop(self, warm: _Warm) -> None:
        if warm.bridge is not None:
            warm.bridge.stop()
        warm.pool.shutdown(wait=False, cancel_futures=True)
        try:
            warm.server.stop()
        except ServerError:
            log.exception("the SQL engine %s did not stop", warm.server.home)

    async def _stop_idle(self) -> None:
        """Stop each engine that ran no job for ``idle_s``."""
        while True:
            await asyncio.sleep(max(0.5, min(self.idle_s / 4, 30.0)))
            now = time.monotonic()
            with self._lock:
                idle = [(k, w) for k, w in self._warm.items()
                        if w.running == 0 and now - w.last_used >= self.idle_s]
                for key, _ in idle:
                    del self._warm[key]
            for _, warm in idle:
                await asyncio.to_thread(self._stop, warm)


def _sweep_socket_dirs() -> None:
    """Remove the socket directories of services that died without removing them."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SOCKET_DIR}*-*"):
        pid = folder.name.removeprefix(SOCKET_DIR).split("-", 1)[0]
        if pid.isdigit() and not proc_alive(int(pid)) and folder.stat().st_uid == os.getuid():
            shutil.rmtree(folder, ignore_errors=True)


def _killed() -> Result:
    return Result(Outcome(JobState.KILLED, JobResult.KILLED, "killed on request"), now_ms())


def _failed(reason: str, state: JobState = JobState.FINISHED) -> Result:
    """A job that failed: FINISHED if its SQL did, FAILED if the engine or the service
    let it down."""
    return Result(Outcome(state, JobResult.FAILED, reason), now_ms())


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "(no message)"
    return line[:2000]

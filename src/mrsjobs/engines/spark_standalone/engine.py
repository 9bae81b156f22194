"""Jobs as cluster-mode drivers of a Spark standalone master: submitted through its
REST server, watched by polling the driver's state there, killed through it. The
driver runs on a worker and outlives the service; its id finds it again.

While a driver runs, its logs are copied from its worker into the job's run directory,
where its application's id is read (the master does not link drivers to apps). A kill
is confirmed when the master has the driver KILLED and the application ended.

A service can die between the master accepting a driver and the store recording its
handle. The run directory bridges that gap: ``driver.submitting`` is written before the
request goes out, ``driver.json`` (the handle) as soon as the master answered. A
restarted service finds the driver again from ``driver.json``; with only the first, the
driver may or may not run at the master, so the job is never submitted a second time:
it ends FAILED with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import httpx

from ...domain.clock import now_ms
from ...domain.clusters import ClusterEngine
from ...domain.jobs import JobResult, JobState, JobType, Outcome
from ..base import (
    Capabilities,
    EngineEvents,
    Handle,
    LaunchFailed,
    LaunchSpec,
    Result,
)
from ..local.detached import write_atomic
from ..reporting import Reporter
from .logs import DriverLogs
from .master import MasterUi
from .rest import (
    CreateRequest,
    DriverState,
    DriverStatus,
    SparkRest,
    SparkRestError,
    read_key,
)

log = logging.getLogger(__name__)

ENGINE = ClusterEngine.SPARK_STANDALONE
#: Threads for the engine's HTTP calls (each waits at most its timeout).
CALL_THREADS = 16
T = TypeVar("T")
#: In a job's run directory: a submission on its way, and the driver it made. Written
#: whole but not synced to disk: they bridge a death of the service, as the store's own
#: commits do (SQLite's WAL with ``synchronous=NORMAL``), not a crash of the host.
SUBMITTING, SUBMITTED = "driver.submitting", "driver.json"


@dataclass(frozen=True, slots=True)
class SparkLaunch:
    """What a standalone cluster's commands hand the engine: the request to create the
    driver, and the REST server to send it to."""

    engine: ClassVar[ClusterEngine] = ENGINE
    rest_url: str
    request: CreateRequest
    #: The master's web UI: its state, the workers' log pages, the apps' pages.
    web_url: str = ""
    #: The file holding the key that signs the REST server's tokens ("": none needed).
    rest_key_file: str = ""


@dataclass(frozen=True, slots=True)
class SparkDriverHandle(Handle):
    driver_id: str
    rest_url: str
    #: Kept in the handle's text: it tells, after a restart, which engine finds it.
    engine: str = ENGINE.value
    web_url: str = ""
    #: Where the driver's logs are copied to.
    run_dir: str = ""
    rest_key_file: str = ""

    @property
    def launcher_id(self) -> str:
        return self.driver_id


def _terminal_result(status: DriverStatus) -> Result:
    """A driver's end other than a kill we sent, as the job's outcome."""
    state = status.state
    at = now_ms()
    if state is DriverState.FINISHED:
        return Result(Outcome(JobState.FINISHED, JobResult.SUCCEEDED, None), at)
    if state is DriverState.KILLED:
        # Killed at the master, not (as far as this service knows) by a kill it sent.
        return Result(Outcome(JobState.KILLED, JobResult.KILLED,
                              f"the master reports driver {status.driver_id} KILLED"), at)
    reason = f"driver {status.driver_id} ended {state}"
    if status.message:
        reason += f": {status.message.strip()[:2000]}"
    return Result(Outcome(JobState.FINISHED, JobResult.FAILED, reason), at)


@dataclass
class _Watched:
    """What the engine learns of a running driver beyond its state."""

    logs: DriverLogs | None
    worker_url: str | None = None
    next_pull: float = 0.0
    reported_app: bool = False
    #: Set when a kill went out: the watch asks again at once, and then often.
    nudge: asyncio.Event | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text() or None
    except FileNotFoundError:
        return None


def app_page(web_url: str, app_id: str) -> str:
    return f"{web_url.rstrip('/')}/app/?appId={app_id}"


class SparkStandaloneEngine:
    """One engine for every standalone cluster: each job's handle names its master.

    ``poll_s``: how often a driver's state is asked for; ``log_pull_s``: how often its
    logs are copied while it runs; ``unreachable_timeout_s``: how long its master may
    go without answering (or without knowing the driver) before the job ends FAILED;
    ``app_end_timeout_s``: how long a killed driver's application may take to end
    before the kill is confirmed without it; ``kill_poll_s``: how often a killed
    driver and its application are asked for until both have ended;
    ``max_log_bytes``: per stream copy."""

    capabilities = Capabilities(frozenset({JobType.SPARK_SUBMIT}), confirms_kill=True,
                                live_logs=True, survives_restart=True)

    def __init__(self, *, poll_s: float = 0.05, log_pull_s: float = 1.0,
                 unreachable_timeout_s: float = 60.0, rest_timeout_s: float = 5.0,
                 retry_pause_s: float = 0.5, app_end_timeout_s: float = 10.0,
                 kill_poll_s: float = 0.01, max_log_bytes: int = 0) -> None:
        self.poll_s = poll_s
        self.kill_poll_s = min(kill_poll_s, poll_s)
        self.log_pull_s = log_pull_s
        self.unreachable_timeout_s = unreachable_timeout_s
        self.rest_timeout_s = rest_timeout_s
        self.app_end_timeout_s = app_end_timeout_s
        self.max_log_bytes = max_log_bytes
        self._reporter = Reporter(retry_pause_s)
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], SparkRest] = {}
        self._uis: dict[str, MasterUi] = {}
        self._http = httpx.Client(timeout=httpx.Timeout(rest_timeout_s), trust_env=False)
        #: Jobs a kill was sent to: their KILLED is a confirmed kill.
        self._kills_sent: set[str] = set()
        self._watched: dict[str, _Watched] = {}
        # Its own threads, so that closing waits for the calls under way before it
        # closes their clients (a call cut off would leave its connection open).
        self._pool = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="spark-standalone")

    async def _blocking(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` in one of the engine's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def _rest(self, rest_url: str, key_file: str = "") -> SparkRest:
        """The client of a REST server; one whose key cannot be read is, to its
        callers, a server that does not answer."""
        with self._lock:
            client = self._clients.get((rest_url, key_file))
            if client is None:
                try:
                    key = read_key(key_file) if key_file else None
                except ValueError as exc:
                    raise SparkRestError(str(exc), unreachable=True) from None
                client = SparkRest(rest_url, timeout=self.rest_timeout_s, key=key)
                self._clients[(rest_url, key_file)] = client
            return client

    def _ui(self, web_url: str) -> MasterUi:
        with self._lock:
            ui = self._uis.get(web_url)
            if ui is None:
                ui = MasterUi(web_url, timeout=self.rest_timeout_s)
                self._uis[web_url] = ui
            return ui

    # -- the port -------------------------------------------------------------------

    async def start(self, events: EngineEvents) -> None:
        self._reporter.start(events)

    async def launch(self, spec: LaunchSpec) -> SparkDriverHandle:
        launch = spec.request
        if not isinstance(launch, SparkLaunch):
            raise LaunchFailed("not a Spark standalone submission")
        handle = await self._blocking(self._submit, spec, launch)
        self._reporter.started(handle)
        self._watch(handle)
        return handle

    def _submit(self, spec: LaunchSpec, launch: SparkLaunch) -> SparkDriverHandle:
        """Create the driver, its records in the run directory around the request: one
        call in one thread, so that nothing waits for a turn between them."""
        marker = spec.run_dir / SUBMITTING
        try:
            write_atomic(marker, launch.rest_url)
            submission = self._rest(launch.rest_url, launch.rest_key_file).create(
                launch.request)
        except SparkRestError as exc:
            marker.unlink(missing_ok=True)  # refused: nothing runs at the master
            raise LaunchFailed(f"could not submit the driver: {exc.reason}") from exc
        except OSError as exc:
            raise LaunchFailed(f"could not record the submission: {exc}") from exc
        handle = SparkDriverHandle(spec.job_id, now_ms(), submission.driver_id,
                                   launch.rest_url, web_url=launch.web_url,
                                   run_dir=str(spec.run_dir),
                                   rest_key_file=launch.rest_key_file)
        try:
            write_atomic(spec.run_dir / SUBMITTED, handle.dumps())
        except OSError as exc:
            log.warning("job %s: could not record driver %s in its run directory: %s",
                        spec.job_id, handle.driver_id, exc)
        return handle

    async def signal(self, handle: SparkDriverHandle, *, force: bool) -> bool:
        # HTTP calls that may wait up to their timeout: off the supervisor's loop.
        delivered = await self._blocking(self._kill, handle)
        with self._lock:
            watched = self._watched.get(handle.job_id)
        if delivered and watched is not None and watched.nudge is not None:
            watched.nudge.set()
        return delivered

    def _kill(self, handle: SparkDriverHandle) -> bool:
        # Standalone has one way to stop a driver: a polite and a forced kill are the
        # same request (the forced one repeats it). Killing the application at the
        # master as well was measured to make the driver end later, not sooner: its
        # shutdown then waits out the worker's timeout.
        rest = self._rest(handle.rest_url, handle.rest_key_file)
        with self._lock:
            first = handle.job_id not in self._kills_sent
            self._kills_sent.add(handle.job_id)
        # Marked before it goes out: the watch may see KILLED before kill() returns.
        answer = rest.kill(handle.driver_id)
        if not answer.accepted and first:
            status = rest.status(handle.driver_id)
            if status.state is None or status.state.terminal:
                with self._lock:
                    self._kills_sent.discard(handle.job_id)
                return False  # it had ended (or is gone): its own end stands
        return True

    def attach(self, job_id: str, run_dir: Path,
               kept: str | None = None) -> SparkDriverHandle | None:
        if kept is None:
            kept = _read(run_dir / SUBMITTED)
        if kept is None:
            if (run_dir / SUBMITTING).exists():
                raise LaunchFailed("the service stopped while submitting its driver: it "
                                   "may run at the master, so it is not submitted again")
            return None  # nothing was sent to the master: it can be queued again
        try:
            handle = SparkDriverHandle.loads(kept)
        except ValueError as exc:
            raise LaunchFailed(f"its driver cannot be found again: {kept!r}") from exc
        if handle.job_id != job_id:
            raise LaunchFailed(f"its handle names another job: {kept!r}")
        self._watch(handle)
        return handle

    async def close(self) -> None:
        await self._reporter.close()
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        with self._lock:
            clients: list[SparkRest | MasterUi] = [*self._clients.values(), *self._uis.values()]
            self._clients.clear()
            self._uis.clear()
        for client in clients:
            client.close()
        self._http.close()

    # -- watching -------------------------------------------------------------------

    def _watch(self, handle: SparkDriverHandle) -> None:
        logs = (DriverLogs(handle.driver_id, Path(handle.run_dir), self.max_log_bytes)
                if handle.run_dir and handle.web_url else None)
        with self._lock:
            self._watched[handle.job_id] = _Watched(logs)
        self._reporter.watch(handle, lambda: self.wait(handle))

    async def wait(self, handle: SparkDriverHandle) -> Result:
        """Poll the master until the driver has ended, and say how. A master that does
        not answer, or does not know the driver, is asked again until
        ``unreachable_timeout_s`` has passed; the job then ends FAILED."""
        silent_since: float | None = None
        nudge = asyncio.Event()
        with self._lock:
            if (watched := self._watched.get(handle.job_id)) is not None:
                watched.nudge = nudge
        try:
            while True:
                problem: str | None = None
                try:
                    status = await self._blocking(self._status, handle)
                except SparkRestError as exc:
                    if not (exc.unreachable or (exc.status or 0) >= 500):
                        raise
                    problem = exc.reason
                else:
                    if status.state is None:
                        problem = f"the master does not know driver {handle.driver_id}"
                    elif status.state.terminal:
                        return await self._ended(handle, status)
                    else:
                        await self._copy_logs(handle, status, final=False)
                if problem is None:
                    silent_since = None
                else:
                    silent_since = silent_since or time.monotonic()
                    if time.monotonic() - silent_since >= self.unreachable_timeout_s:
                        return Result(Outcome(
                            JobState.FAILED, JobResult.FAILED,
                            f"{problem} (for {self.unreachable_timeout_s:g} s)"), now_ms())
                if nudge.is_set():
                    await asyncio.sleep(self.kill_poll_s)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(nudge.wait(), self.poll_s)
        finally:
            with self._lock:
                self._watched.pop(handle.job_id, None)

    def _status(self, handle: SparkDriverHandle) -> DriverStatus:
        return self._rest(handle.rest_url, handle.rest_key_file).status(handle.driver_id)

    async def _copy_logs(self, handle: SparkDriverHandle, status: DriverStatus, *,
                         final: bool) -> None:
        """Copy the driver's new log output, at most every ``log_pull_s`` while it
        runs and once more at its end; report its application once it is known. A
        worker that cannot be read costs this copy, never the job."""
        with self._lock:
            watched = self._watched.get(handle.job_id)
        if watched is None or watched.logs is None or status.worker_id is None:
            return
        now = time.monotonic()
        if not final and now < watched.next_pull:
            return
        watched.next_pull = now + self.log_pull_s
        try:
            await self._pull(handle, watched, status.worker_id)
        except (SparkRestError, OSError) as exc:
            log.warning("job %s: could not copy the logs of %s: %s", handle.job_id,
                        handle.driver_id, exc)
        app_id = watched.logs.app_id
        if app_id and not watched.reported_app:
            watched.reported_app = True
            self._reporter.tracked(handle.job_id, app_id, app_page(handle.web_url, app_id))

    async def _pull(self, handle: SparkDriverHandle, watched: _Watched,
                    worker_id: str) -> None:
        logs = watched.logs
        assert logs is not None
        if watched.worker_url is None:
            watched.worker_url = await self._blocking(self._worker_url, handle, worker_id)
        url = watched.worker_url
        await asyncio.gather(*(self._blocking(logs.pull_stream, self._http, url, stream)
                               for stream in logs.open_streams()))

    def _worker_url(self, handle: SparkDriverHandle, worker_id: str) -> str:
        worker = self._ui(handle.web_url).state().worker(worker_id)
        if worker is None or not worker.web_url:
            raise SparkRestError(f"the master does not list worker {worker_id}")
        return worker.web_url

    async def _ended(self, handle: SparkDriverHandle, status: DriverStatus) -> Result:
        with self._lock:
            ours = handle.job_id in self._kills_sent
            self._kills_sent.discard(handle.job_id)
            watched = self._watched.get(handle.job_id)
        # The logs in full before the end is told: a reader that follows the log stops
        # at the job's end.
        copied = self._copy_logs(handle, status, final=True)
        if status.state is not DriverState.KILLED or not ours:
            await copied
            return _terminal_result(status)
        # A kill we sent: confirmed once its application has ended too (its id was
        # read from the log before), while the last of the log is copied.
        app_id = watched.logs.app_id if watched and watched.logs else None
        await asyncio.gather(copied, self._app_ended(handle, app_id) if app_id
                             else asyncio.sleep(0))
        # A kill we sent, confirmed by the master: reported as such. The report
        # cancels the watch that runs this, so nothing else is reported; a caller
        # that waits without a watch gets the kill as the result.
        at = now_ms()
        self._reporter.killed(handle.job_id, at)
        await asyncio.sleep(0)
        return Result(Outcome(JobState.KILLED, JobResult.KILLED, "killed on request"), at)

    async def _app_ended(self, handle: SparkDriverHandle, app_id: str) -> None:
        """Wait until the master has the killed driver's application ended (its
        executors released), for at most ``app_end_timeout_s``."""
        ui = self._ui(handle.web_url)
        deadline = time.monotonic() + self.app_end_timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(SparkRestError):
                if not (await self._blocking(ui.state)).app_active(app_id):
                    return
            await asyncio.sleep(self.kill_poll_s)
        log.warning("job %s: application %s still active %g s after its driver was "
                    "killed", handle.job_id, app_id, self.app_end_timeout_s)

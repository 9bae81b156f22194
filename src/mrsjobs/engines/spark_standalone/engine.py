"""Jobs as cluster-mode drivers of a Spark standalone master: submitted through its
REST server, watched by polling the driver's state there, killed through it. The
driver runs on a worker and outlives the service; its id finds it again."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

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
    handle_fields,
)
from ..reporting import Reporter
from .rest import CreateRequest, DriverState, DriverStatus, SparkRest, SparkRestError

ENGINE = ClusterEngine.SPARK_STANDALONE


@dataclass(frozen=True, slots=True)
class SparkLaunch:
    """What a standalone cluster's commands hand the engine: the request to create the
    driver, and the REST server to send it to."""

    engine: ClassVar[ClusterEngine] = ENGINE
    rest_url: str
    request: CreateRequest


@dataclass(frozen=True, slots=True)
class SparkDriverHandle(Handle):
    driver_id: str
    rest_url: str
    #: Kept in the handle's text: it tells, after a restart, which engine finds it.
    engine: str = ENGINE.value

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


class SparkStandaloneEngine:
    """One engine for every standalone cluster: each job's handle names its master's
    REST server. ``unreachable_timeout_s`` is how long a driver's master may go without
    answering (or without knowing the driver) before the job ends FAILED."""

    capabilities = Capabilities(frozenset({JobType.SPARK_SUBMIT}), confirms_kill=True,
                                survives_restart=True)

    def __init__(self, *, poll_s: float = 0.05, unreachable_timeout_s: float = 60.0,
                 rest_timeout_s: float = 5.0, retry_pause_s: float = 0.5) -> None:
        self.poll_s = poll_s
        self.unreachable_timeout_s = unreachable_timeout_s
        self.rest_timeout_s = rest_timeout_s
        self._reporter = Reporter(retry_pause_s)
        self._lock = threading.Lock()
        self._clients: dict[str, SparkRest] = {}
        #: Jobs a kill was sent to: their KILLED is a confirmed kill.
        self._kills_sent: set[str] = set()

    def _rest(self, rest_url: str) -> SparkRest:
        with self._lock:
            client = self._clients.get(rest_url)
            if client is None:
                client = SparkRest(rest_url, timeout=self.rest_timeout_s)
                self._clients[rest_url] = client
            return client

    # -- the port -------------------------------------------------------------------

    async def start(self, events: EngineEvents) -> None:
        self._reporter.start(events)

    async def launch(self, spec: LaunchSpec) -> SparkDriverHandle:
        launch = spec.request
        if not isinstance(launch, SparkLaunch):
            raise LaunchFailed("not a Spark standalone submission")
        try:
            submission = await asyncio.to_thread(self._rest(launch.rest_url).create,
                                                 launch.request)
        except SparkRestError as exc:
            raise LaunchFailed(f"could not submit the driver: {exc.reason}") from exc
        handle = SparkDriverHandle(spec.job_id, now_ms(), submission.driver_id,
                                   launch.rest_url)
        self._reporter.started(handle)
        self._watch(handle)
        return handle

    async def signal(self, handle: SparkDriverHandle, *, force: bool) -> bool:
        # HTTP calls that may wait up to their timeout: off the supervisor's loop.
        return await asyncio.to_thread(self._kill, handle)

    def _kill(self, handle: SparkDriverHandle) -> bool:
        # Standalone has one way to stop a driver: a polite and a forced kill are the
        # same request (the forced one repeats it).
        rest = self._rest(handle.rest_url)
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
            return None  # no driver was recorded as submitted
        data = handle_fields(kept) or {}
        names = {f.name for f in fields(SparkDriverHandle)}
        try:
            handle = SparkDriverHandle(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise LaunchFailed(f"its driver cannot be found again: {kept!r}") from exc
        if handle.job_id != job_id:
            raise LaunchFailed(f"its handle names another job: {kept!r}")
        self._watch(handle)
        return handle

    async def close(self) -> None:
        await self._reporter.close()
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()

    # -- watching -------------------------------------------------------------------

    def _watch(self, handle: SparkDriverHandle) -> None:
        self._reporter.watch(handle, lambda: self.wait(handle))

    async def wait(self, handle: SparkDriverHandle) -> Result:
        """Poll the master until the driver has ended, and say how. A master that does
        not answer, or does not know the driver, is asked again until
        ``unreachable_timeout_s`` has passed; the job then ends FAILED."""
        rest = self._rest(handle.rest_url)
        silent_since: float | None = None
        while True:
            problem: str | None = None
            try:
                status = await asyncio.to_thread(rest.status, handle.driver_id)
            except SparkRestError as exc:
                if not (exc.unreachable or (exc.status or 0) >= 500):
                    raise
                problem = exc.reason
            else:
                if status.state is None:
                    problem = f"the master does not know driver {handle.driver_id}"
                elif status.state.terminal:
                    return await self._ended(handle, status)
            if problem is None:
                silent_since = None
            else:
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since >= self.unreachable_timeout_s:
                    return Result(Outcome(JobState.FAILED, JobResult.FAILED,
                                          f"{problem} (for {self.unreachable_timeout_s:g} s)"),
                                  now_ms())
            await asyncio.sleep(self.poll_s)

    async def _ended(self, handle: SparkDriverHandle, status: DriverStatus) -> Result:
        with self._lock:
            ours = handle.job_id in self._kills_sent
            self._kills_sent.discard(handle.job_id)
        if status.state is not DriverState.KILLED or not ours:
            return _terminal_result(status)
        # A kill we sent, confirmed by the master: reported as such. The report
        # cancels the watch that runs this, so nothing else is reported; a caller
        # that waits without a watch gets the kill as the result.
        at = now_ms()
        self._reporter.killed(handle.job_id, at)
        await asyncio.sleep(0)
        return Result(Outcome(JobState.KILLED, JobResult.KILLED, "killed on request"), at)

"""An engine's events as a test hears them: each job's one report, checked to be the
only one, and what the engine said of its application."""

from __future__ import annotations

import asyncio

from mrsjobs.domain.jobs import ExitStatus, JobResult
from mrsjobs.engines.base import Handle, Result

#: One report: its kind (ended, killed, unwatchable) and what came with it.
Report = tuple[str, object]


class Heard:
    """Every job's one report, as the engine made it (a second one fails the test)."""

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self.starts: list[str] = []
        self.apps: dict[str, tuple[str, str | None]] = {}
        self._ends: dict[str, asyncio.Future[Report]] = {}

    def _end(self, job_id: str) -> asyncio.Future[Report]:
        if job_id not in self._ends:
            self._ends[job_id] = asyncio.get_running_loop().create_future()
        return self._ends[job_id]

    async def end_of(self, job_id: str, timeout: float | None = None) -> Report:
        return await asyncio.wait_for(asyncio.shield(self._end(job_id)),
                                      self.timeout if timeout is None else timeout)

    def _report(self, job_id: str, kind: str, value: object) -> None:
        end = self._end(job_id)
        assert not end.done(), f"{job_id}: a second report {kind} after {end.result()}"
        end.set_result((kind, value))

    def started(self, handle: Handle) -> None:
        self.starts.append(handle.job_id)

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        assert job_id not in self.apps, f"{job_id}: its application reported twice"
        self.apps[job_id] = (app_id, tracking_url)

    def ended(self, job_id: str, end: ExitStatus | Result) -> None:
        self._report(job_id, "ended", end)

    def killed(self, job_id: str, at_ms: int) -> None:
        self._report(job_id, "killed", at_ms)

    def unwatchable(self, job_id: str, error: Exception) -> None:
        self._report(job_id, "unwatchable", error)


def outcome(report: Report) -> str:
    """How a report says the job ended: succeeded, failed or killed (by a signal, or
    as the engine confirmed)."""
    kind, value = report
    if kind == "killed":
        return "killed"
    if isinstance(value, ExitStatus):
        if value.succeeded:
            return "succeeded"
        return "killed" if value.signal is not None else "failed"
    assert isinstance(value, Result), report
    return {JobResult.SUCCEEDED: "succeeded", JobResult.KILLED: "killed"}.get(
        value.outcome.result, "failed")

"""Why a job is where it is, in one short line for people: the stored reason (a launch
or engine error, a lost instance, a signal), the exit code, and a kill's requester
and times. Built from the job's record alone."""

from __future__ import annotations

from datetime import UTC, datetime

from .jobs import Job, JobState


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC time to the millisecond."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def diagnostics(job: Job) -> str:
    """E.g. ``exit code 1``, ``terminated by signal 9``, ``killed on request; kill
    requested by alice at 2026-...Z, signalled at ...Z``; empty when there is nothing to
    say (a queued job, or one that succeeded)."""
    parts: list[str] = []
    if job.diagnostics:
        parts.append(job.diagnostics)
    code = f"exit code {job.exit_code}"
    # A success's exit code says nothing new while the job is FINISHED.
    if (job.exit_code is not None and code not in (job.diagnostics or "")
            and (job.exit_code != 0 or job.state is not JobState.FINISHED)):
        parts.append(code)
    if job.kill_requested_ms is not None:
        by = f" by {job.kill_requested_by}" if job.kill_requested_by else ""
        kill = f"kill requested{by} at {iso_ms(job.kill_requested_ms)}"
        if job.kill_signalled_ms is not None:
            kill += f", signalled at {iso_ms(job.kill_signalled_ms)}"
        parts.append(kill)
    return "; ".join(parts)

"""The engine port: launch a job, learn how it ended, signal it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..domain.jobs import ExitStatus


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """A ready-to-run job: what to execute and where its files go."""

    job_id: str
    argv: tuple[str, ...]
    run_dir: Path
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    #: A network namespace (a path under /run/netns) to start the job in.
    netns: str | None = None
    #: The job's first process is its sandbox, which ends when the job does: a
    #: polite kill goes to the job's other processes, so that they get their grace.
    sandboxed: bool = False


@dataclass(frozen=True, slots=True)
class Handle:
    """How an engine finds a launched job again, also after a service restart."""

    job_id: str
    run_dir: Path
    pid: int
    pgid: int
    shim_pid: int
    started_ms: int
    #: The shim's start time (clock ticks since boot); 0 if unknown.
    shim_start: int = 0
    sandboxed: bool = False

    @property
    def launcher_id(self) -> str:
        return f"pid_{self.pid}"


class LaunchFailed(Exception):
    """The job could not be started (missing program, bad working directory, ...)."""


class Engine(Protocol):
    async def launch(self, spec: LaunchSpec) -> Handle:
        """Start the job; raise :class:`LaunchFailed` if it cannot start."""
        ...

    async def wait(self, handle: Handle) -> ExitStatus:
        """Resolve once the job and everything it started have ended."""
        ...

    def signal(self, handle: Handle, *, force: bool) -> bool:
        """SIGTERM (or SIGKILL with ``force``) the job's process tree.

        True if a signal was delivered, False if nothing of the job was left.
        """
        ...

    def attach(self, job_id: str, run_dir: Path) -> Handle | None:
        """Find a job launched earlier (by this or a previous service) from its records.

        None if the job never started and never will (it is safe to launch it again);
        :class:`LaunchFailed` if it was handed over but could not start.
        """
        ...

    def poll(self, handle: Handle) -> ExitStatus | None:
        """The job's exit status if it has ended, from its durable records; None if it runs."""
        ...

    async def close(self) -> None: ...

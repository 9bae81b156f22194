"""What a supervisor is given: its settings, and the commands that turn a job into
something its engine runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..domain.jobs import Job
from ..engines.base import LaunchSpec


class JobCommands(Protocol):
    """Turns a job into something an engine can run, and collects what it left."""

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec: ...

    def may_block(self, job: Job) -> bool:
        """True if building the spec may take long (it then runs in a worker thread)."""
        ...

    def finished(self, job: Job, run_dir: Path) -> None:
        """Called once the job's final state is stored (to collect its outputs)."""
        ...


class ClusterRoom(Protocol):
    """How many more jobs a cluster's engine has room for, beside its cap on running
    jobs (a cluster master's free cores and memory, against what each job asks)."""

    def free(self, cluster_id: str, queued: Callable[[], Sequence[Job]]) -> int | None:
        """Room for how many of the cluster's next queued jobs (``queued()``, oldest
        first, as many as its cap lets run) now; None if the engine sets no limit
        (``queued`` is then not called). Must not wait on the engine: it is asked on
        the supervisor's loop."""
        ...

    def took(self, cluster_id: str, jobs: Sequence[Job]) -> None:
        """``jobs`` were just dispatched to the cluster."""
        ...

    def on_change(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from any thread) when the room may have grown."""
        ...


@dataclass(frozen=True)
class SupervisorConfig:
    owner: str
    runs_dir: Path
    max_running: int = 10
    kill_grace_s: float = 5.0
    kill_attempts: int = 3
    kill_confirm_s: float = 10.0
    poll_interval_s: float = 1.0
    host: str = "localhost"
    # Another instance on this host adopts our jobs once we are silent this long; on
    # other hosts, they are marked lost after the longer timeout.
    instance_timeout_s: float = 15.0
    lost_timeout_s: float = 300.0

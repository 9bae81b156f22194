"""The engine port: what the supervisor asks of an engine (start, launch, signal,
attach, close), what it hears back (:class:`EngineEvents`), and the handle that lets
it find a job again after a restart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from ..domain.jobs import ExitStatus, JobType, Outcome


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
    #: What an engine that runs jobs elsewhere submits instead of ``argv`` (a cluster
    #: master's request), built by that engine's commands; None for processes here.
    request: object | None = None
    #: A Spark driver's UI runs, proxied by the service under this path: the engine
    #: learns its port and application id from the driver's log (``engines.local.ui``).
    ui_base: str | None = None


@dataclass(frozen=True, slots=True)
class Handle:
    """A launched job as the supervisor sees it. Each engine's handle adds, behind
    this, what that engine needs to find the job again; the supervisor only passes it
    back, and keeps its text (:meth:`dumps`) in the store for after a restart."""

    job_id: str
    started_ms: int

    @property
    def launcher_id(self) -> str:
        """The engine's name for the job (the API's ``launcher_id``)."""
        return self.job_id

    def dumps(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, default=str)

    @classmethod
    def loads(cls, text: str) -> Self:
        """The handle :meth:`dumps` wrote (fields it does not know are ignored);
        ValueError if the text does not make one."""
        data = handle_fields(text) or {}
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise ValueError(str(exc)) from None


def handle_fields(text: str | None) -> dict[str, Any] | None:
    """The fields of a handle's text; None if there is none or it cannot be read (an
    engine then finds the job from its own records)."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine can do, declared so that its callers need not guess."""

    #: The job types it runs.
    job_types: frozenset[JobType]
    #: A kill is confirmed by the engine (``killed``), not only seen in the job's end.
    confirms_kill: bool = False
    #: A job's logs can be read while it runs.
    live_logs: bool = False
    #: Jobs outlive the service, and :meth:`Engine.attach` finds them again.
    survives_restart: bool = False


@dataclass(frozen=True, slots=True)
class EngineLane:
    """The jobs of a cluster that an engine of their own runs beside the cluster's (the
    warm SQL engine of a local cluster, one per cluster), and how many at once.

    A cluster dispatches in two lanes: these jobs against the engine's ``slots``, every
    other job against the cluster's ``max_running`` (and its room). Neither lane holds
    the other's slots: a SQL job waiting for a cold engine does not keep a Spark job
    queued, nor long Spark jobs an idle engine's SQL. The lane goes by job type alone,
    so that a claim can pick it in the database; the rare SQL job the engine cannot
    take as it is (it runs cold, with ``spark-sql``) still counts in this lane."""

    job_types: frozenset[JobType]
    slots: int

    def takes(self, job_type: JobType) -> bool:
        return job_type in self.job_types


@dataclass(frozen=True, slots=True)
class Result:
    """A job's end as an engine reports it that decides the outcome itself (a cluster
    master's final state), rather than an exit status for the supervisor to judge."""

    outcome: Outcome
    ended_ms: int
    exit_code: int | None = None


class LaunchFailed(Exception):
    """The job could not be started (missing program, bad working directory, ...)."""


class EngineEvents(Protocol):
    """What an engine reports of the jobs it launched or attached, on the loop it was
    started on. Each such job ends with exactly one of ``ended``, ``killed`` or
    ``unwatchable``."""

    def started(self, handle: Handle) -> None:
        """The job runs (for an engine that queues jobs, after ``launch`` returned)."""
        ...

    def tracked(self, job_id: str, app_id: str, tracking_url: str | None) -> None:
        """The running job's application is known: its id and its page."""
        ...

    def ended(self, job_id: str, end: ExitStatus | Result) -> None:
        """The job, and everything it started, has ended."""
        ...

    def killed(self, job_id: str, at_ms: int) -> None:
        """The engine confirmed that a kill ended the job."""
        ...

    def unwatchable(self, job_id: str, error: Exception) -> None:
        """The job's end cannot be learnt (``WATCH_RETRIES`` errors in a row); the
        engine has stopped watching it."""
        ...


H = TypeVar("H", bound=Handle)


class Engine(Protocol[H]):
    @property
    def capabilities(self) -> Capabilities: ...

    async def start(self, events: EngineEvents) -> None:
        """Get ready, and report to ``events`` (on the running loop) from now on."""
        ...

    async def launch(self, spec: LaunchSpec) -> H:
        """Start the job and watch it; raise :class:`LaunchFailed` if it cannot start."""
        ...

    async def signal(self, handle: H, *, force: bool) -> bool:
        """Ask the job to stop (SIGTERM), or make it (SIGKILL with ``force``).

        True if the request was delivered, False if nothing of the job was left.
        An engine whose request may wait (a remote master) makes it off the loop.
        """
        ...

    def attach(self, job_id: str, run_dir: Path, kept: str | None = None) -> H | None:
        """Find a job launched earlier (by this or a previous service) and watch it.

        ``kept`` is its handle's text as the store kept it, None if its start was
        never recorded: the engine then looks in its own records. None if the job
        never started and never will (it is safe to launch it again);
        :class:`LaunchFailed` if it was handed over but could not start. May wait;
        called from a worker thread.
        """
        ...

    async def close(self) -> None:
        """Stop watching and let go; the jobs that outlive the service keep running."""
        ...

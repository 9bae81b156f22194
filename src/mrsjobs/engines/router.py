"""One engine, and one set of job commands, over the engines of every cluster kind: the
supervisor drives a single engine, and each job goes to its cluster's.

A launch goes by its spec's request (an engine that runs jobs elsewhere names itself
there), a signal by its handle, an attach by the engine named in the handle's text;
anything that names none is the local engine's. An engine is named by a cluster kind
(:class:`ClusterEngine`) or by a name of its own (the SQL engine of local clusters).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ..domain.clusters import ClusterEngine
from ..domain.jobs import Job
from .base import (
    Capabilities,
    Engine,
    EngineEvents,
    EngineLane,
    Handle,
    LaunchFailed,
    LaunchSpec,
    handle_fields,
)


class Commands(Protocol):
    """What the supervisor's job commands are (its ``JobCommands``)."""

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec: ...

    def may_block(self, job: Job) -> bool: ...

    def finished(self, job: Job, run_dir: Path) -> None: ...


class EngineRouter:
    def __init__(self, engines: Mapping[str, Engine[Any]]) -> None:
        """``engines`` by name: a cluster kind's (:class:`ClusterEngine`), or that of an
        engine beside them (the SQL engine of local clusters)."""
        if ClusterEngine.LOCAL not in engines:
            raise ValueError("the local engine is required")
        self.engines = dict(engines)
        every = list(self.engines.values())
        self.capabilities = Capabilities(
            frozenset(t for e in every for t in e.capabilities.job_types),
            confirms_kill=all(e.capabilities.confirms_kill for e in every),
            live_logs=all(e.capabilities.live_logs for e in every),
            survives_restart=all(e.capabilities.survives_restart for e in every))

    def _engine(self, name: object) -> Engine[Any]:
        engine = self.engines.get(str(name))
        if engine is None:
            raise LaunchFailed(f"no {name} engine is configured")
        return engine

    async def start(self, events: EngineEvents) -> None:
        for engine in self.engines.values():
            await engine.start(events)

    async def launch(self, spec: LaunchSpec) -> Handle:
        name = getattr(spec.request, "engine", ClusterEngine.LOCAL)
        handle: Handle = await self._engine(name).launch(spec)
        return handle

    async def signal(self, handle: Handle, *, force: bool) -> bool:
        name = getattr(handle, "engine", ClusterEngine.LOCAL)
        delivered: bool = await self._engine(name).signal(handle, force=force)
        return delivered

    def attach(self, job_id: str, run_dir: Path, kept: str | None = None) -> Handle | None:
        name = (handle_fields(kept) or {}).get("engine", ClusterEngine.LOCAL)
        found: Handle | None = self._engine(name).attach(job_id, run_dir, kept)
        return found

    async def close(self) -> None:
        await asyncio.gather(*(e.close() for e in self.engines.values()))


class CommandsRouter:
    """Each job's commands by its cluster's engine (``engine_of`` a cluster id; a
    cluster's engine never changes, so it is asked once per cluster). A cluster kind
    in ``lanes`` sends some jobs to an engine beside its own (:class:`EngineLane`)."""

    def __init__(self, commands: Mapping[ClusterEngine, Commands],
                 engine_of: Callable[[str], ClusterEngine | None],
                 lanes: Mapping[ClusterEngine, EngineLane] | None = None) -> None:
        self.commands = dict(commands)
        self.lanes = dict(lanes or {})
        self._engine_of = engine_of
        self._known: dict[str, ClusterEngine] = {}
        self._lock = threading.Lock()

    def _kind(self, cluster_id: str) -> ClusterEngine:
        with self._lock:
            engine = self._known.get(cluster_id)
        if engine is None:
            engine = self._engine_of(cluster_id) or ClusterEngine.LOCAL
            with self._lock:
                self._known[cluster_id] = engine
        return engine

    def _for(self, job: Job) -> Commands:
        engine = self._kind(job.cluster_id)
        commands = self.commands.get(engine)
        if commands is None:
            raise LaunchFailed(f"no {engine} clusters are served here")
        return commands

    def engine_lane(self, cluster_id: str) -> EngineLane | None:
        """The cluster's jobs that an engine beside its own runs; None if none."""
        return self.lanes.get(self._kind(cluster_id))

    def launch_spec(self, job: Job, run_dir: Path) -> LaunchSpec:
        return self._for(job).launch_spec(job, run_dir)

    def may_block(self, job: Job) -> bool:
        return self._for(job).may_block(job)

    def finished(self, job: Job, run_dir: Path) -> None:
        self._for(job).finished(job, run_dir)

"""A running Spark job's UI, for the callers who may see the job: where it listens (as
the local engine recorded it, ``engines.local.ui``) and, when the job runs in its
project's network namespace, a bridge into that namespace to reach it.

A bridge is made on a job's first request, and closed when the job is no longer
running, when nobody has used it for ``idle_s``, and when the service stops.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..containment.bridge import Bridge
from ..domain.access import Identity
from ..domain.errors import (
    AccessDenied,
    ClusterNotFound,
    JobNotFound,
    SparkUiUnavailable,
    UiJobNotFound,
)
from ..domain.jobs import Job, JobState
from ..engines.local.ui import SparkUi
from .jobs import JobService

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class UiTarget:
    """How to reach a job's UI: ``origin`` (its address as the UI knows it), through the
    unix socket ``uds`` if there is one."""

    origin: str
    uds: str | None = None


@dataclass
class _Bridged:
    bridge: Bridge
    job_id: str
    project_id: str
    cluster_id: str
    used: float


class SparkUis:
    def __init__(self, jobs: JobService, runs_dir: Path, socket_dir: Path, *,
                 idle_s: float = 300.0, check_s: float = 1.0) -> None:
        self.jobs = jobs
        self.runs_dir = runs_dir
        self.socket_dir = socket_dir
        self.idle_s = idle_s
        self.check_s = check_s
        self._bridges: dict[str, _Bridged] = {}
        self._lock = threading.Lock()
        self._made = 0
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._closed = False

    def target(self, who: Identity, project_id: str, cluster_id: str,
               job_id: str) -> UiTarget:
        """Where the job's UI is; UiJobNotFound if the caller may not see the job (or
        there is none), SparkUiUnavailable unless it runs and its UI is up. Blocks."""
        try:
            job = self.jobs.show(who, project_id, cluster_id, job_id)
        except (AccessDenied, ClusterNotFound, JobNotFound):
            raise UiJobNotFound() from None
        if job.state is not JobState.RUNNING:
            raise SparkUiUnavailable(
                f"The operation is not supported: the job's Spark UI is served while the "
                f"job runs, and the job is {job.state.value}.")
        ui = SparkUi.load(self._run_dir(job))
        if ui is None:
            raise SparkUiUnavailable(
                "The operation is not supported: the job's Spark UI is not up (yet); only "
                "Spark jobs of local clusters have one, once their SparkContext started.")
        origin = f"http://{HOST}:{ui.port}"
        if ui.netns is None:
            return UiTarget(origin)
        try:
            bridge = self._bridge(job, ui)
        except OSError as exc:
            log.warning("job %s: no bridge to its Spark UI: %s", job.id, exc)
            raise SparkUiUnavailable("The operation is not supported: the job's Spark UI "
                                     "cannot be reached now.") from None
        return UiTarget(origin, str(bridge.socket_path))

    def close(self) -> None:
        """Close every bridge and stop looking after them."""
        with self._lock:
            self._closed = True
            gone = list(self._bridges.values())
            self._bridges.clear()
            sweeper, self._sweeper = self._sweeper, None
        self._stop.set()
        if sweeper is not None:
            sweeper.join(10)
        for item in gone:
            item.bridge.stop()

    def _run_dir(self, job: Job) -> Path:
        return (Path(job.run_root) if job.run_root else self.runs_dir) / job.id

    def _bridge(self, job: Job, ui: SparkUi) -> Bridge:
        assert ui.netns is not None
        with self._lock:
            if self._closed:
                raise SparkUiUnavailable("The operation is not supported: the service is "
                                         "stopping.")
            found = self._bridges.get(job.id)
            if found is not None and found.bridge.port == ui.port and found.bridge.alive():
                found.used = time.monotonic()
                return found.bridge
            stale = self._bridges.pop(job.id, None)
            self._made += 1
            self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            bridge = Bridge(self.socket_dir / f"{self._made}.sock", Path(ui.netns), HOST,
                            ui.port, name="Spark UI")
            # Started under the lock (it takes a moment): the sweeper only ever stops
            # bridges that run.
            bridge.start()
            self._bridges[job.id] = _Bridged(bridge, job.id, job.project_id, job.cluster_id,
                                             time.monotonic())
            if self._sweeper is None:
                self._sweeper = threading.Thread(target=self._sweep, daemon=True,
                                                 name="spark-ui-bridges")
                self._sweeper.start()
        if stale is not None:
            stale.bridge.stop()
        return bridge

    def _sweep(self) -> None:
        while not self._stop.wait(self.check_s):
            with self._lock:
                items = list(self._bridges.values())
            for item in items:
                if self._done_with(item):
                    with self._lock:
                        if self._bridges.get(item.job_id) is not item:
                            continue
                        del self._bridges[item.job_id]
                    item.bridge.stop()

    def _done_with(self, item: _Bridged) -> bool:
        if time.monotonic() - item.used > self.idle_s:
            return True
        try:
            job = self.jobs.store.job(item.job_id, project_id=item.project_id,
                                      cluster_id=item.cluster_id)
        except JobNotFound:
            return True
        except Exception:
            log.exception("job %s: could not look whether it still runs", item.job_id)
            return False
        return job.state is not JobState.RUNNING

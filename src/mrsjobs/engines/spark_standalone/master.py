"""The Spark standalone master's state as its web UI serves it (``/json/``): the
workers with their cores and memory, the applications and the cluster-mode drivers,
active and completed. It tells what the cluster can take, and confirms that a
killed driver and its application are really gone (a REST kill is only a request).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .rest import DEFAULT_TIMEOUT_S, DriverState, SparkRestError, driver_state

ALIVE = "ALIVE"
#: Application states after which the application holds no executors.
APP_ENDED = frozenset({"FINISHED", "FAILED", "KILLED"})


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    port: int
    web_url: str
    state: str
    cores: int
    cores_used: int
    memory_mb: int
    memory_used_mb: int

    @property
    def alive(self) -> bool:
        return self.state == ALIVE

    @property
    def cores_free(self) -> int:
        return self.cores - self.cores_used

    @property
    def memory_free_mb(self) -> int:
        return self.memory_mb - self.memory_used_mb


@dataclass(frozen=True)
class AppInfo:
    id: str
    name: str
    state: str
    cores: int
    memory_per_executor_mb: int
    user: str
    start_ms: int

    @property
    def ended(self) -> bool:
        return self.state in APP_ENDED


@dataclass(frozen=True)
class DriverInfo:
    id: str
    state: DriverState
    #: The worker's id; None before the driver is placed.
    worker: str | None
    cores: int
    memory_mb: int
    main_class: str
    start_ms: int


@dataclass(frozen=True)
class MasterState:
    url: str
    status: str
    workers: tuple[WorkerInfo, ...]
    active_apps: tuple[AppInfo, ...]
    completed_apps: tuple[AppInfo, ...]
    active_drivers: tuple[DriverInfo, ...]
    completed_drivers: tuple[DriverInfo, ...]

    @property
    def alive_workers(self) -> tuple[WorkerInfo, ...]:
        return tuple(w for w in self.workers if w.alive)

    @property
    def cores(self) -> int:
        return sum(w.cores for w in self.alive_workers)

    @property
    def cores_free(self) -> int:
        return sum(w.cores_free for w in self.alive_workers)

    @property
    def memory_mb(self) -> int:
        return sum(w.memory_mb for w in self.alive_workers)

    @property
    def memory_free_mb(self) -> int:
        return sum(w.memory_free_mb for w in self.alive_workers)

    def driver(self, driver_id: str) -> DriverInfo | None:
        """The driver, active or among those the master retains after their end."""
        return next((d for d in (*self.active_drivers, *self.completed_drivers)
                     if d.id == driver_id), None)

    def driver_active(self, driver_id: str) -> bool:
        return any(d.id == driver_id for d in self.active_drivers)

    def app(self, app_id: str) -> AppInfo | None:
        """The application, active or retained. The master does not link a driver to
        its application, and an app may rename itself: the driver's log names the id
        (``Connected to Spark cluster with app ID ...``)."""
        return next((a for a in (*self.active_apps, *self.completed_apps) if a.id == app_id),
                    None)

    def app_active(self, app_id: str) -> bool:
        return any(a.id == app_id and not a.ended for a in self.active_apps)

    def worker(self, worker_id: str) -> WorkerInfo | None:
        return next((w for w in self.workers if w.id == worker_id), None)


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) else int(str(value or 0))


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _worker(data: Mapping[str, Any]) -> WorkerInfo:
    return WorkerInfo(_str(data, "id"), _str(data, "host"), _int(data, "port"),
                      _str(data, "webuiaddress"), _str(data, "state"), _int(data, "cores"),
                      _int(data, "coresused"), _int(data, "memory"), _int(data, "memoryused"))


def _app(data: Mapping[str, Any]) -> AppInfo:
    return AppInfo(_str(data, "id"), _str(data, "name"), _str(data, "state"),
                   _int(data, "cores"), _int(data, "memoryperexecutor"), _str(data, "user"),
                   _int(data, "starttime"))


def _driver(data: Mapping[str, Any]) -> DriverInfo:
    worker = data.get("worker")
    return DriverInfo(_str(data, "id"), driver_state(data.get("state")),
                      None if worker in (None, "None") else str(worker), _int(data, "cores"),
                      _int(data, "memory"), _str(data, "mainclass"), _int(data, "starttime"))


def _list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SparkRestError(f"master state: {key} is not a list of objects")
    return value


def parse_state(data: Mapping[str, Any]) -> MasterState:
    try:
        return MasterState(
            _str(data, "url"), _str(data, "status"),
            tuple(map(_worker, _list(data, "workers"))),
            tuple(map(_app, _list(data, "activeapps"))),
            tuple(map(_app, _list(data, "completedapps"))),
            tuple(map(_driver, _list(data, "activedrivers"))),
            tuple(map(_driver, _list(data, "completeddrivers"))))
    except (TypeError, ValueError) as exc:
        raise SparkRestError(f"master state unreadable: {exc}") from exc


class MasterUi:
    """Reads one master's web UI, e.g. ``http://H:8080``. Thread-safe."""

    def __init__(self, web_url: str, *, timeout: float = DEFAULT_TIMEOUT_S,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.web_url = web_url.rstrip("/")
        self._http = httpx.Client(base_url=self.web_url, timeout=httpx.Timeout(timeout),
                                  transport=transport, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MasterUi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self) -> MasterState:
        try:
            answer = self._http.get("/json/")
        except httpx.TransportError as exc:
            raise SparkRestError(f"{self.web_url} unreachable: {exc!r}",
                                 unreachable=True) from exc
        if answer.status_code != 200:
            raise SparkRestError(f"GET /json/: HTTP {answer.status_code}",
                                 status=answer.status_code)
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise SparkRestError(f"GET /json/: not a JSON object: {answer.text[:200]!r}",
                                 status=answer.status_code)
        return parse_state(data)

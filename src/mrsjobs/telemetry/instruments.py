"""The service's Prometheus instruments, in one registry of this process.

Several instances may share one database: what is counted here is this process's
(latencies, errors, failed sign-ins); the jobs by state are the shared store's, and
the API adds them at scrape time (see :class:`StateCounts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from threading import Lock

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

#: From seconds to hours: jobs wait in queues, kills wait for a grace period.
_JOB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)

DISPATCH_SECONDS = Histogram(
    "mrsjobs_dispatch_latency_seconds",
    "From a job's submission to its start by the engine, for jobs this instance started.",
    registry=REGISTRY, buckets=_JOB_BUCKETS)
KILL_SECONDS = Histogram(
    "mrsjobs_kill_latency_seconds",
    "From a kill request to the engine's confirmation that the job is gone.",
    registry=REGISTRY, buckets=_JOB_BUCKETS)
ENGINE_ERRORS = Counter(
    "mrsjobs_engine_errors",
    "Engine failures: a job that could not be launched, watched or signalled.",
    ["kind"], registry=REGISTRY)
SIGNIN_FAILURES = Counter(
    "mrsjobs_signin_failures",
    "Failed sign-ins and refused credentials, by method (password, token, aksk).",
    ["method"], registry=REGISTRY)
STORE_SECONDS = Histogram(
    "mrsjobs_store_seconds",
    "Time of one database statement, by its kind (select, insert, update, delete).",
    ["statement"], registry=REGISTRY, buckets=_STORE_BUCKETS)

for _kind in ("launch", "watch", "signal"):
    ENGINE_ERRORS.labels(_kind)
for _method in ("password", "token", "aksk"):
    SIGNIN_FAILURES.labels(_method)

#: (project, cluster, state, jobs)
StateRow = tuple[str, str, str, int]


class StateCounts(Collector):
    """Jobs by project, cluster and state, and the queue depth of each cluster, read
    with ``read`` (the store's kept counts, not a scan of the jobs) at most once every
    ``ttl_s`` however often it is scraped."""

    def __init__(self, read: Callable[[], Iterable[StateRow]], queued: Sequence[str],
                 ttl_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.read = read
        self.queued = frozenset(queued)
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = Lock()
        self._rows: list[StateRow] = []
        self._read_at: float | None = None

    def rows(self) -> list[StateRow]:
        with self._lock:
            now = self.clock()
            if self._read_at is None or now - self._read_at >= self.ttl_s:
                self._rows = list(self.read())
                self._read_at = now
            return self._rows

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("mrsjobs_jobs", "Jobs in the store by state (all instances).",
                                 labels=["project", "cluster", "state"])
        queue = GaugeMetricFamily("mrsjobs_queue_depth",
                                  "Jobs of a cluster waiting to be launched (all instances).",
                                  labels=["project", "cluster"])
        depth: dict[tuple[str, str], int] = {}
        for project, cluster, state, n in self.rows():
            jobs.add_metric([project, cluster, state], n)
            key = (project, cluster)
            depth[key] = depth.get(key, 0) + (n if state in self.queued else 0)
        for (project, cluster), n in sorted(depth.items()):
            queue.add_metric([project, cluster], n)
        yield jobs
        yield queue


class Scrape:
    """What one scrape reads: this process's instruments and the store's counts."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        for collector in self.collectors:
            yield from collector.collect()

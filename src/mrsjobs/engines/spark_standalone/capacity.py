"""What a standalone cluster can take, from its master's state: a job whose driver no
worker could ever hold is refused at submit, and queued jobs are dispatched, oldest
first, only while a worker has room for the next one's driver (its own cores and
memory, as its arguments ask).

The master's state is read at most every ``ttl_s`` per cluster (sooner while it shows
no room: a reading may predate the end of a driver), in a worker thread, never on the
supervisor's loop: dispatch uses the last state read, less the drivers dispatched
since, and is woken when a new reading comes in.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ...domain.clusters import ClusterConfig, ClusterEngine
from ...domain.errors import InvalidParameter
from ...domain.jobs import Job, split_spark_options
from .master import MasterState, MasterUi
from .rest import SparkRestError

#: Spark's own defaults for a driver that does not say (spark.driver.cores/.memory).
DEFAULT_DRIVER_CORES = 1
DEFAULT_DRIVER_MEMORY_MB = 1024
_MEMORY = re.compile(r"^\s*(\d+)\s*([kmgtp]?)b?\s*$", re.IGNORECASE)
_UNIT_MB = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 ** 2, "p": 1024 ** 3}


def memory_mb(text: str) -> int:
    """A Spark memory size (``512m``, ``2g``; a bare number is MiB) in MiB;
    ValueError if it is not one."""
    found = _MEMORY.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a memory size (e.g. 512m, 2g)")
    number, unit = found.groups()
    return max(1, int(int(number) * _UNIT_MB[unit.lower()]))


@dataclass(frozen=True, slots=True)
class Demand:
    """What a job's driver takes of one worker."""

    cores: int = DEFAULT_DRIVER_CORES
    memory_mb: int = DEFAULT_DRIVER_MEMORY_MB


def driver_demand(arguments: Iterable[str], properties: Mapping[str, str]) -> Demand:
    """The driver's cores and memory as a job's spark-submit arguments and properties
    give them (the arguments win, as spark-submit has it); ValueError for a value
    that is not a number or a size."""
    given = dict(properties)
    options, _app = split_spark_options(list(arguments))
    for group in options:
        name, eq, inline = group[0].partition("=")
        value = inline if eq else (group[1] if len(group) > 1 else "")
        if name == "--driver-cores":
            given["spark.driver.cores"] = value
        elif name == "--driver-memory":
            given["spark.driver.memory"] = value
        elif name in ("--conf", "-c"):
            key, sep, val = value.partition("=")
            if sep and key.strip() in ("spark.driver.cores", "spark.driver.memory"):
                given[key.strip()] = val
    cores = given.get("spark.driver.cores")
    memory = given.get("spark.driver.memory")
    try:
        n = int(cores) if cores is not None else DEFAULT_DRIVER_CORES
    except ValueError:
        raise ValueError(f"spark.driver.cores {cores!r} is not a number") from None
    if n < 1:
        raise ValueError(f"spark.driver.cores {cores!r} must be at least 1")
    return Demand(n, memory_mb(memory) if memory is not None else DEFAULT_DRIVER_MEMORY_MB)


def never_fits(state: MasterState, demand: Demand) -> str | None:
    """Why no worker of the cluster could ever hold the driver; None if one could."""
    workers = state.alive_workers
    if not workers:
        return None  # none alive now: it may fit once they are back
    if any(w.cores >= demand.cores and w.memory_mb >= demand.memory_mb for w in workers):
        return None
    cores = max(w.cores for w in workers)
    memory = max(w.memory_mb for w in workers)
    return (f"the driver needs {demand.cores} core(s) and {demand.memory_mb} MB of one "
            f"worker; the cluster's largest worker has {cores} core(s) and {memory} MB")


def placed(state: MasterState, taken: Sequence[Demand], wanted: Sequence[Demand]) -> int:
    """How many of ``wanted``, in order, the alive workers could place now, after
    ``taken`` (placed first): each on the first worker with room for it, up to the
    first that none has (the ones after it wait their turn)."""
    room = [[w.cores_free, w.memory_free_mb] for w in state.alive_workers]

    def place(demand: Demand) -> bool:
        for free in room:
            if free[0] >= demand.cores and free[1] >= demand.memory_mb:
                free[0] -= demand.cores
                free[1] -= demand.memory_mb
                return True
        return False

    for demand in taken:
        place(demand)  # one that does not fit by this reading holds nothing in it
    count = 0
    for demand in wanted:
        if not place(demand):
            break
        count += 1
    return count


def job_demand(job: Job) -> Demand:
    """A queued job's driver (Spark's default size if its arguments do not parse: they
    were checked at submit)."""
    try:
        return driver_demand(job.arguments, job.properties)
    except ValueError:
        return Demand()


#: How old a reading of the master may be to tell whether a driver could ever fit.
SIZES_MAX_AGE_S = 300.0


@dataclass
class _Cached:
    state: MasterState | None = None
    read_at: float = float("-inf")
    #: Drivers dispatched since ``state`` was read: not in it yet.
    taken: list[Demand] = field(default_factory=list)
    reading: bool = False


class Capacity:
    """The last state read of each master (by web UI address)."""

    def __init__(self, *, ttl_s: float = 1.0, full_ttl_s: float = 0.05,
                 timeout_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        #: How old a reading that shows no room may be before it is read again.
        self.full_ttl_s = full_ttl_s
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._cached: dict[str, _Cached] = {}
        #: Called (from a worker thread) after each background reading.
        self.on_read: Callable[[], None] | None = None

    def state(self, web_url: str, max_age_s: float) -> MasterState | None:
        """The master's state as last read if that is younger than ``max_age_s``, else
        read now; None if it cannot be read. May wait on the master (not for the loop).
        It starts no reading in the background: a submit asks for the workers' sizes
        only, and a reading beside the submit's own call to the master slows both."""
        with self._lock:
            cached = self._cached.setdefault(web_url, _Cached())
            usable = cached.state is not None and time.monotonic() - cached.read_at < max_age_s
        if not usable:
            self._read(web_url)
        return cached.state

    def free_slots(self, web_url: str, wanted: Sequence[Demand]) -> int | None:
        """How many of the ``wanted`` drivers, in order, the workers have room for by
        the last state read, less what was dispatched since (a newer one is asked for
        in the background if it is old); None while none could be read."""
        with self._lock:
            cached = self._cached.setdefault(web_url, _Cached())
            room = (None if cached.state is None
                    else placed(cached.state, cached.taken, wanted))
            age = time.monotonic() - cached.read_at
            if (age >= (self.full_ttl_s if room == 0 else self.ttl_s)
                    and not cached.reading):
                cached.reading = True
                threading.Thread(target=self._read_and_tell, args=(web_url,), daemon=True,
                                 name="spark-capacity").start()
            return room

    def took(self, web_url: str, drivers: Sequence[Demand]) -> None:
        """``drivers`` were dispatched: they count until the next state shows them."""
        with self._lock:
            self._cached.setdefault(web_url, _Cached()).taken.extend(drivers)

    def _read_and_tell(self, web_url: str) -> None:
        self._read(web_url)
        if self.on_read is not None:
            self.on_read()

    def _read(self, web_url: str) -> None:
        try:
            with MasterUi(web_url, timeout=self.timeout_s) as ui:
                state: MasterState | None = ui.state()
        except SparkRestError:
            state = None
        with self._lock:
            cached = self._cached.setdefault(web_url, _Cached())
            cached.reading = False
            cached.read_at = time.monotonic()
            # A web UI that cannot be read limits nothing: the REST server, which
            # submits the drivers, says whether the master is there.
            cached.state = state
            cached.taken = []


class StandaloneRoom:
    """The room of each standalone cluster by id, for the supervisor; other clusters
    have no limit here. A cluster's engine and master never change, so each is looked
    up once (``config_of`` may read the store)."""

    def __init__(self, capacity: Capacity,
                 config_of: Callable[[str], ClusterConfig | None]) -> None:
        self.capacity = capacity
        self._config_of = config_of
        self._web_urls: dict[str, str | None] = {}

    def on_change(self, wake: Callable[[], None]) -> None:
        self.capacity.on_read = wake

    def _web_url(self, cluster_id: str) -> str | None:
        if cluster_id not in self._web_urls:
            config = self._config_of(cluster_id)
            self._web_urls[cluster_id] = (
                config.master_web_url
                if config and config.engine is ClusterEngine.SPARK_STANDALONE else None)
        return self._web_urls[cluster_id]

    def free(self, cluster_id: str, queued: Callable[[], Sequence[Job]]) -> int | None:
        web_url = self._web_url(cluster_id)
        if not web_url:
            return None
        return self.capacity.free_slots(web_url, [job_demand(j) for j in queued()])

    def took(self, cluster_id: str, jobs: Sequence[Job]) -> None:
        web_url = self._web_url(cluster_id)
        if web_url:
            self.capacity.took(web_url, [job_demand(j) for j in jobs])


def check_fits(capacity: Capacity, config: ClusterConfig, arguments: Iterable[str],
               properties: Mapping[str, str]) -> None:
    """InvalidParameter if the job's driver could never be placed on the cluster (by
    its master's state now; a master that cannot be read refuses nothing)."""
    try:
        demand = driver_demand(arguments, properties)
    except ValueError as exc:
        raise InvalidParameter("arguments", str(exc)) from None
    web_url = config.master_web_url
    # The workers' sizes, not what is free now: a reading of minutes ago will do, and a
    # submit does not wait on the master for it.
    state = capacity.state(web_url, SIZES_MAX_AGE_S) if web_url else None
    reason = never_fits(state, demand) if state is not None else None
    if reason is not None:
        raise InvalidParameter("arguments", f"the job can never run on this cluster: {reason}")

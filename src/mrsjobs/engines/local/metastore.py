"""A per-cluster Hive metastore daemon, so concurrent SQL jobs share one catalog.

Spark ships only embedded Derby, which lets a single JVM open a database. Two
``spark-sql`` jobs that each boot the cluster's ``metastore_db`` therefore
collide. Instead one long-lived JVM (``java/LoopbackMetastore.java``, run with
Java's single-file source launcher against Spark's own Hive 2.3 jars) owns the
Derby database and serves the metastore Thrift API on 127.0.0.1 only; every SQL
job of the cluster connects to it with ``hive.metastore.uris``.

Layout of ``MetastoreConfig.home``::

    metastore.lock      fcntl lock: one starter/stopper at a time, across processes
    metastore.pid       pid of the daemon (written by us)
    metastore.port      port it listens on (written by the daemon once it serves)
    metastore.heartbeat touched by every live service that uses the daemon
    metastore_db/       the Derby database
    warehouse/          managed tables
    logs/metastore.log  daemon stdout/stderr (appended)
    logs/derby.log      Derby's own log
    tmp/                Hive session scratch space of the SQL jobs

The daemon is detached: it outlives the service, so the SQL jobs that run on after a
restart (or a crash) keep their catalog. It ends itself once nobody needs it: no
client connection (every running SQL job holds one) and no heartbeat from a service
for ``MetastoreConfig.idle_s``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...containment.sandbox import Confinement
from ...containment.tenants import Tenant, connects
from .daemon import DaemonHome
from .detached import POLL_INTERVAL, Heartbeat, Process, read_int

if TYPE_CHECKING:
    from ...containment.host import Containment

HOST = "127.0.0.1"
JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "LoopbackMetastore.java"

#: Small heap; C1-only JIT starts (and compiles the source file) about twice as
#: fast, and the metastore is I/O bound; IPv4 stack so the socket is plain
#: 127.0.0.1 rather than the v4-mapped [::ffff:127.0.0.1].
DEFAULT_JAVA_OPTIONS: tuple[str, ...] = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.net.preferIPv4Stack=true",
)

_CONNECT_TIMEOUT = 1.0


class MetastoreError(Exception):
    """The metastore daemon could not be started or stopped."""


def _idle_setting() -> float:
    from ...settings import Settings

    return Settings().metastore_idle_s


@dataclass(frozen=True)
class MetastoreConfig:
    home: Path
    """The cluster's directory for metastore db, warehouse, logs, pid/port files."""
    spark_home: Path
    """Where Spark's ``jars/`` lives."""
    java: str = "java"
    start_timeout: float = 120.0
    stop_timeout: float = 20.0
    """How long SIGTERM gets (Derby shuts down cleanly) before SIGKILL."""
    java_options: tuple[str, ...] = DEFAULT_JAVA_OPTIONS
    idle_s: float = field(default_factory=_idle_setting)
    """The daemon ends itself after this long without a client and without a service's
    heartbeat (``MRSJOBS_METASTORE_IDLE_S``); 0: it runs until stopped."""
    warehouse: Path | None = None
    """Where managed tables live, if not in ``home``: a cluster whose executors run on
    other hosts keeps them in its files root, which every host sees."""


class Metastore:
    """Handle on the metastore daemon of one cluster home.

    Any number of ``Metastore`` objects, in any number of threads and processes,
    may point at the same home: they coordinate through files in it.

    With ``containment``, the daemon runs contained as the cluster's project
    (``tenant``): its user, its network namespace (so only that project's jobs reach
    it), a sandbox that sees only the runtime and this home.
    """

    def __init__(self, config: MetastoreConfig, containment: Containment | None = None,
                 tenant: Tenant | None = None) -> None:
        self.config = config
        self.containment = containment
        self.tenant = tenant
        self.home = config.home.resolve()
        self.daemon = DaemonHome(self.home, "metastore", self._marks, MetastoreError)
        self.port_file = self.home / "metastore.port"
        self.heartbeat_file = self.home / "metastore.heartbeat"
        self.warehouse = (config.warehouse or self.home / "warehouse").resolve()
        self.tmp = self.home / "tmp"

    # -- public API ----------------------------------------------------------

    def ensure_started(self) -> str:
        """Start the daemon unless a live one serves this home; return its thrift URI.

        Safe to call concurrently from threads and processes. The daemon is
        detached: it outlives the caller, and a later call (from any process)
        reuses it, or replaces it if it died.
        """
        self._make_home()
        # This service needs the daemon from now on, for as long as it lives.
        Heartbeat.start(self.heartbeat_file, self.config.idle_s)
        with self.daemon.locked():
            pid = self.daemon.find_pid()
            if pid is not None:
                with Process(pid) as proc:
                    if not proc.exited():
                        deadline = time.monotonic() + self.config.start_timeout
                        port = self._await_ready(proc, deadline)
                        if port is not None:
                            return _uri(port)
                        # Alive but not serving in time: hung, replace it.
                        self.daemon.terminate(proc, self.config.stop_timeout)
            return _uri(self._start())

    def job_dirs(self) -> list[Path]:
        """What a SQL job of this cluster writes: the warehouse and Hive's scratch space."""
        return [self.warehouse, self.tmp]

    def _make_home(self) -> None:
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in (self.warehouse, self.tmp, self.home / "logs"):
            folder.mkdir(mode=0o700, exist_ok=True)
        if self.tenant is not None:
            for path in (self.home, self.warehouse, self.tmp, self.home / "logs"):
                os.chown(path, self.tenant.uid, self.tenant.gid)

    def spark_conf(self) -> dict[str, str]:
        """``--conf`` entries a SQL job needs (starts the daemon if it is not running)."""
        uri = self.ensure_started()
        tmp = self.tmp
        return {
            "spark.sql.catalogImplementation": "hive",
            "spark.hadoop.hive.metastore.uris": uri,
            "spark.sql.warehouse.dir": str(self.warehouse),
            # Hive's session dirs default to /tmp (one "<uuid>_resources" dir per
            # job, never removed); keep them with the cluster instead. Hive
            # expands ${hive.session.id} itself.
            "spark.hadoop.hive.downloaded.resources.dir": f"{tmp}/${{hive.session.id}}_resources",
            "spark.hadoop.hive.exec.scratchdir": str(tmp / "scratch"),
            "spark.hadoop.hive.exec.local.scratchdir": str(tmp / "local"),
        }

    def stop(self) -> None:
        """Stop the daemon (SIGTERM its process group, SIGKILL after ``stop_timeout``).

        The port file stays: a restart tries the same port again."""
        Heartbeat.stop(self.heartbeat_file)
        self.daemon.stop(self.config.stop_timeout)

    def pid(self) -> int | None:
        """The daemon's pid if it is alive, else None."""
        return self.daemon.find_pid()

    # -- internals -------------------------------------------------------------

    def _command(self, port: int) -> list[str]:
        jars = self.config.spark_home / "jars"
        argv = [self.config.java, *self.config.java_options, "-cp", f"{jars}/*",
                str(JAVA_SOURCE), str(self.home), str(port), str(self.port_file),
                f"{max(0.0, self.config.idle_s):g}", str(self.warehouse)]
        if self.containment is None:
            return argv
        contained = self.containment.command(argv, Confinement(
            cwd=self.home, tenant=self.tenant, read=(JAVA_SOURCE.parent,),
            write=(self.home, self.warehouse), tmp=self.tmp, tied=False))
        return self.containment.in_netns(contained, self.tenant)

    def _accepts(self, port: int) -> bool:
        netns = self.tenant.netns_path if self.tenant is not None else None
        return connects(netns, HOST, port, _CONNECT_TIMEOUT)

    def _start(self) -> int:
        """Spawn a daemon (lock held) and wait until it serves; return its port."""
        for needed in (JAVA_SOURCE, self.config.spark_home / "jars"):
            if not needed.exists():
                raise MetastoreError(f"cannot start the metastore: {needed} is missing")
        wanted = read_int(self.port_file) or 0
        # A port file is only trusted once the new daemon rewrites it.
        self.port_file.unlink(missing_ok=True)
        pid, log_offset = self.daemon.launch(self._command(wanted), cwd=self.home,
                                             env=_daemon_env())
        deadline = time.monotonic() + self.config.start_timeout
        with Process(pid) as proc:
            port = self._await_ready(proc, deadline)
            if port is not None:
                return port
            if proc.exited():
                raise MetastoreError(f"metastore daemon exited while starting; log:\n"
                                     f"{self.daemon.log_tail(log_offset)}")
            self.daemon.terminate(proc, self.config.stop_timeout)
            raise MetastoreError(
                f"metastore daemon not ready within {self.config.start_timeout:g}s; "
                f"log:\n{self.daemon.log_tail(log_offset)}")

    def _await_ready(self, proc: Process, deadline: float) -> int | None:
        """The port once the daemon accepts TCP connections; None if it died or timed out."""
        while True:
            port = read_int(self.port_file)
            if port is not None and self._accepts(port):
                return port
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if proc.wait(min(POLL_INTERVAL, remaining)):
                return None

    def _marks(self, args: list[bytes]) -> bool:
        """A command line of this home's daemon (its sandbox's included)."""
        source = JAVA_SOURCE.name.encode()
        return any(a.endswith(source) for a in args) and str(self.home).encode() in args


def _uri(port: int) -> str:
    return f"thrift://{HOST}:{port}"


def _daemon_env() -> dict[str, str]:
    # Not the service's environment (its settings and secrets); Hive would also read a
    # hive-site.xml found through HIVE_CONF_DIR or HIVE_HOME.
    return {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ",
                                                           "JAVA_HOME")}

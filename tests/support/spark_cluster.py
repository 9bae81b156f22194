"""A Spark standalone cluster of three hosts on this machine: a master and two
workers from the ``pyspark`` package, each in its own network namespace on a private
bridge (:mod:`tests.support.netns`). The service (the root namespace) reaches the
master, and the master the workers, only over that bridge, never through loopback.

Every process of the cluster (daemons, drivers, executors, Python workers) carries
:data:`MARKER` in its environment, so that :meth:`SparkCluster.stop`, and a new
cluster after a run that crashed, find and end all of them. ``stop`` then removes
the network and raises if anything is left.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mrsjobs.engines.spark_standalone.master import MasterState, MasterUi
from mrsjobs.engines.spark_standalone.rest import SparkRest, SparkRestError, read_key
from tests.support.netns import Host, Network
from tests.support.procs import group_members, processes
from tests.support.waiting import Timeout, wait_for

PREFIX = "mrsjt"
SUBNET = "10.213.0.0/24"
MARKER = "MRSJT_SPARK_CLUSTER"
MASTER_PORT, WEBUI_PORT, REST_PORT, WORKER_WEBUI_PORT = 7077, 8080, 6066, 8081
#: Small daemon JVMs (the tests' apps are tiny), with the JIT left as operators run it:
#: the REST timings here are benchmark baselines.
DAEMON_MEMORY = "256m"
DAEMON_JAVA_OPTS = "-XX:+UseSerialGC"
STOP_GRACE_S = 5.0


class ClusterError(RuntimeError):
    """The cluster did not come up, or could not be removed completely."""


@dataclass
class Daemon:
    name: str
    host: Host
    proc: subprocess.Popen[bytes]
    log: Path


def marked(marker_value: str) -> list[int]:
    """Live processes whose environment carries ``MARKER=marker_value``."""
    needle = f"{MARKER}={marker_value}".encode()
    found = []
    for proc in processes():
        if not proc.live:
            continue
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if needle in environ:
            found.append(proc.pid)
    return found


def _kill_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class SparkCluster:
    """``start()`` builds the network, starts the daemons and waits until the REST
    server is ready and every worker is ALIVE; ``stop()`` undoes all of it.

    ``secured``: the REST server requires calls signed with a key (Spark's JWSFilter),
    kept in :attr:`rest_key_file` for a service to be given."""

    def __init__(self, root: Path, spark_home: Path, *, prefix: str = PREFIX,
                 subnet: str = SUBNET, workers: int = 2, worker_cores: int = 2,
                 worker_memory: str = "1g", python: str = sys.executable,
                 start_timeout: float = 120.0, secured: bool = False) -> None:
        self.root = root
        self.rest_key_file: str | None = None
        if secured:
            root.mkdir(parents=True, exist_ok=True)
            key_file = root / "rest.key"
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(32))
            self.rest_key_file = str(key_file)
        self.spark_home = spark_home
        self.prefix = prefix
        self.network_subnet = subnet
        self.network = Network(prefix, subnet, ["master", *(f"w{i + 1}" for i in range(workers))])
        self.worker_cores = worker_cores
        self.worker_memory = worker_memory
        self.python = python
        self.start_timeout = start_timeout
        self.daemons: list[Daemon] = []

    # -- where things are ---------------------------------------------------------------

    @property
    def master(self) -> Host:
        return self.network.hosts["master"]

    @property
    def workers(self) -> list[Host]:
        return [h for name, h in self.network.hosts.items() if name != "master"]

    @property
    def master_url(self) -> str:
        return f"spark://{self.master.address}:{MASTER_PORT}"

    @property
    def link_addresses(self) -> str:
        """The block of the cluster's network a service gives its projects' drivers."""
        return f"{ipaddress.ip_network(self.network_subnet).network_address + 192}/26"

    @property
    def rest_url(self) -> str:
        return f"http://{self.master.address}:{REST_PORT}"

    @property
    def web_url(self) -> str:
        return f"http://{self.master.address}:{WEBUI_PORT}"

    def work_dir(self, worker: Host) -> Path:
        """Where ``worker`` runs drivers (``<driver id>/stdout``) and executors."""
        return self.root / worker.netns / "work"

    def worker_at(self, address: str) -> Host:
        return next(h for h in self.workers if h.address == address)

    def rest(self) -> SparkRest:
        """A client of the REST server, signing its calls if it must."""
        key = read_key(self.rest_key_file) if self.rest_key_file else None
        return SparkRest(self.rest_url, key=key)

    def ui(self) -> MasterUi:
        return MasterUi(self.web_url)

    # -- lifetime -----------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.network.acquire()  # before the sweep: it must not end another run's
            self._sweep()
            self.network.create()
            self._spawn("master", self.master, "org.apache.spark.deploy.master.Master",
                        "--host", self.master.address, "--port", str(MASTER_PORT),
                        "--webui-port", str(WEBUI_PORT),
                        "--properties-file", str(self._master_properties()))
            for worker in self.workers:
                self.work_dir(worker).mkdir(parents=True, exist_ok=True)
                self._spawn(worker.netns, worker, "org.apache.spark.deploy.worker.Worker",
                            self.master_url, "--host", worker.address,
                            "--webui-port", str(WORKER_WEBUI_PORT),
                            "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                            "--work-dir", str(self.work_dir(worker)))
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """End every process of the cluster (SIGTERM to the daemons' groups, SIGKILL
        after a grace), remove the network; raise if anything is left."""
        groups = [d.proc.pid for d in self.daemons if d.proc.poll() is None]
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(Timeout):
            wait_for(lambda: not any(group_members(g) for g in groups), timeout=STOP_GRACE_S,
                     interval=0.05, message="daemons stopped")
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        try:
            self._sweep()
            for daemon in self.daemons:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    daemon.proc.wait(timeout=STOP_GRACE_S)
            self.daemons.clear()
            left = self.leftovers()
        finally:
            self.network.release()
        if left:
            raise ClusterError(f"spark cluster {self.prefix} left behind: {left}")

    def leftovers(self) -> list[str]:
        """Namespaces, links and processes of this cluster still there."""
        return (self.network.leftovers()
                + [f"pid {p} marked {self.prefix}" for p in marked(self.prefix)])

    def _sweep(self) -> None:
        """SIGKILL every marked process (also those of an earlier, crashed run) and
        remove the network, keeping its lock."""
        def none_left() -> bool:
            found = marked(self.prefix)
            _kill_all(found, signal.SIGKILL)
            return not found

        with contextlib.suppress(Timeout):
            wait_for(none_left, timeout=STOP_GRACE_S, interval=0.05,
                     message="marked processes gone")
        self.network.destroy(release=False)

    # -- daemons ------------------------------------------------------------------------

    def _master_properties(self) -> Path:
        path = self.root / self.master.netns / "master.properties"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["spark.master.rest.enabled true",
                 f"spark.master.rest.host {self.master.address}",
                 f"spark.master.rest.port {REST_PORT}"]
        if self.rest_key_file:
            lines += ["spark.master.rest.filters org.apache.spark.ui.JWSFilter",
                      "spark.org.apache.spark.ui.JWSFilter.param.secretKey "
                      + Path(self.rest_key_file).read_text()]
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    def _env(self, host: Host) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SPARK_", "PYSPARK_"))}
        scratch = self.root / host.netns / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        conf = self.root / "conf"  # empty: no stray spark-defaults from the host
        conf.mkdir(exist_ok=True)
        env.update({
            MARKER: self.prefix,
            "PATH": f"{Path(self.python).parent}:{env.get('PATH', '/usr/bin:/bin')}",
            "SPARK_HOME": str(self.spark_home),
            "SPARK_CONF_DIR": str(conf),
            # Bind to the namespace's address (Spark otherwise picks the host's outside
            # interface, or listens on all of them).
            "SPARK_LOCAL_IP": host.address,
            "SPARK_LOCAL_HOSTNAME": host.address,
            "SPARK_LOCAL_DIRS": str(scratch),
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            "SPARK_DAEMON_JAVA_OPTS": DAEMON_JAVA_OPTS,
            "PYSPARK_PYTHON": self.python,
            "PYSPARK_DRIVER_PYTHON": self.python,
        })
        return env

    def _spawn(self, name: str, host: Host, cls: str, *args: str) -> None:
        log = self.root / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                host.argv(str(self.spark_home / "bin" / "spark-class"), cls, *args),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self._env(host), cwd=self.root, start_new_session=True)
        self.daemons.append(Daemon(name, host, proc, log))

    def _wait_ready(self) -> None:
        rest, ui = self.rest(), self.ui()

        def ready() -> MasterState | None:
            for daemon in self.daemons:
                if daemon.proc.poll() is not None:
                    raise ClusterError(f"{daemon.name} exited with {daemon.proc.returncode}\n"
                                       + self.log_tails())
            try:
                if not rest.readyz().ready:
                    return None
                state = ui.state()
            except SparkRestError:
                return None
            return state if len(state.alive_workers) == len(self.workers) else None

        try:
            wait_for(ready, timeout=self.start_timeout, interval=0.2,
                     message=f"REST ready and {len(self.workers)} workers ALIVE")
        except Timeout as exc:
            raise ClusterError(f"{exc}\n{self.log_tails()}") from None
        finally:
            rest.close()
            ui.close()

    def log_tails(self, lines: int = 25) -> str:
        parts = []
        for daemon in self.daemons:
            try:
                tail = daemon.log.read_text(errors="replace").splitlines()[-lines:]
            except OSError as exc:
                tail = [repr(exc)]
            parts.append(f"--- {daemon.name} ({daemon.log}) ---\n" + "\n".join(tail))
        return "\n".join(parts)

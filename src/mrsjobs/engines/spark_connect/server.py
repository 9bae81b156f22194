"""A project's warm SQL engine for one cluster: a Spark Connect server (a local master),
detached, contained as the project's (its user, its network namespace, a sandbox that
sees the runtime, the cluster's warehouse and its own work directory), listening on
127.0.0.1 of that namespace only and answering only calls that carry its token.

Layout of ``ServerConfig.home`` (the service's alone, mode 0700)::

    server.lock   fcntl lock: one starter/stopper at a time, across processes
    server.pid    pid of the server's outermost process
    server.port   the port it listens on inside the project's namespace
    server.token  the token its clients must send (0600)
    logs/server.log
    work/         the server's working directory and /tmp (the project's user owns it)

The server outlives a crash of the service, so that a restarted service can find the
operations a job left running and interrupt them; a service that stops stops it.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...containment.host import Containment
from ...containment.sandbox import Confinement
from ...containment.tenants import Tenant, connects, in_netns
from ..local.daemon import DaemonHome
from ..local.detached import POLL_INTERVAL, Heartbeat, Process, read_int, write_atomic

HOST = "127.0.0.1"
MAIN_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
#: Marks the server's command line with its home, to find it again in /proc.
HOME_CONF = "spark.mrsjobs.sqlEngine.home"


class ServerError(Exception):
    """The SQL engine could not be started."""


@dataclass(frozen=True)
class ServerConfig:
    home: Path
    spark_submit: str
    #: Spark's master inside the server (its executors): ``local[N]``, or a standalone
    #: cluster's ``spark://HOST:PORT`` (its executors on the workers).
    master: str = "local[2]"
    driver_memory: str = "1g"
    java_options: str = "-XX:+UseSerialGC"
    start_timeout: float = 180.0
    stop_timeout: float = 10.0
    #: The server ends itself once no service has beaten its heartbeat for this long
    #: (a service that crashed and never came back); 0: it runs until stopped.
    idle_s: float = 0.0
    #: The cluster's catalog (its metastore's conf) and what else the server is given.
    conf: Mapping[str, str] = field(default_factory=dict)
    #: Read-only and writable trees the server needs beyond the runtime.
    read: tuple[Path, ...] = ()
    write: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How this service reaches a running server."""

    #: A gRPC target: ``unix:/path`` (namespaced) or ``127.0.0.1:port``.
    target: str
    token: str
    pid: int


class ConnectServer:
    """Handle on the Connect server of one home; any number of handles, in any
    threads and processes, coordinate through the files in it."""

    def __init__(self, config: ServerConfig, containment: Containment | None = None,
                 tenant: Tenant | None = None,
                 conf_of: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.config = config
        self.containment = containment
        self.tenant = tenant
        #: Called (under the lock) just before a start: the conf that needs other
        #: daemons running (the cluster's metastore).
        self._conf_of = conf_of or dict
        self.home = config.home.resolve()
        self.daemon = DaemonHome(self.home, "server", self._marks, ServerError)
        self.work = self.home / "work"
        self.port_file = self.home / "server.port"
        self.token_file = self.home / "server.token"
        self._local = threading.Lock()

    @property
    def netns(self) -> Path | None:
        return self.tenant.netns_path if self.tenant is not None else None

    def ensure_started(self) -> tuple[int, int, str]:
        """The live server's (pid, port, token), started if none serves this home."""
        self._make_home()
        # This service needs the server from now on, for as long as it lives.
        Heartbeat.start(self.daemon.heartbeat_file, self.config.idle_s)
        with self._local, self.daemon.locked():
            pid = self.daemon.find_pid()
            port = read_int(self.port_file)
            token = self._token()
            if pid is not None and port is not None and token is not None:
                with Process(pid) as proc:
                    ready = self._await_ready(proc, port, time.monotonic()
                                              + self.config.start_timeout)
                    if ready:
                        return pid, port, token
                    self.daemon.terminate(proc, self.config.stop_timeout)
            return self._start()

    def running(self) -> tuple[int, int, str] | None:
        """The live server's (pid, port, token), None if there is none."""
        pid = self.daemon.find_pid()
        port = read_int(self.port_file)
        token = self._token()
        if pid is None or port is None or token is None:
            return None
        return pid, port, token

    def serves(self, pid: int) -> bool:
        """Whether ``pid`` is this home's server, alive."""
        return self.daemon.is_ours(pid)

    def stop(self) -> None:
        """Stop the server (SIGTERM its process group, SIGKILL after ``stop_timeout``)."""
        Heartbeat.stop(self.daemon.heartbeat_file)
        with self._local:
            self.daemon.stop(self.config.stop_timeout)

    # -- internals ---------------------------------------------------------------

    def _make_home(self) -> None:
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.home / "logs").mkdir(mode=0o700, exist_ok=True)
        self.work.mkdir(mode=0o700, exist_ok=True)
        if self.tenant is not None:
            os.chown(self.work, self.tenant.uid, self.tenant.gid)

    def _token(self) -> str | None:
        try:
            return self.token_file.read_text().strip() or None
        except OSError:
            return None

    def _command(self, port: int) -> list[str]:
        c = self.config
        conf = {
            **c.conf, "spark.driver.host": HOST, "spark.driver.bindAddress": HOST,
            # A cluster's own (its metastore; where its executors reach the driver).
            **self._conf_of(),
            "spark.connect.grpc.binding.address": HOST,
            "spark.connect.grpc.binding.port": str(port),
            "spark.ui.enabled": "false",
            "spark.driver.memory": c.driver_memory,
            "spark.driver.extraJavaOptions": c.java_options,
            HOME_CONF: str(self.home),
        }
        argv = [c.spark_submit, "--class", MAIN_CLASS, "--master", c.master,
                "--name", f"mrsjobs-sql-{self.home.parent.name}"]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        argv.append("spark-internal")
        if self.containment is None:
            return argv
        contained = self.containment.command(argv, Confinement(
            cwd=self.work, tenant=self.tenant, read=c.read, write=(self.work, *c.write),
            tmp=self.work, tied=False))
        return self.containment.in_netns(contained, self.tenant)

    def _start(self) -> tuple[int, int, str]:
        port = free_port(self.netns)
        token = secrets.token_urlsafe(32)
        # The token never appears on a command line: the server reads it from its
        # environment, which only its own user (in its own PID namespace) can see.
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        write_atomic(self.port_file, f"{port}\n")
        env = {**self.config.env, "SPARK_CONNECT_AUTHENTICATE_TOKEN": token,
               "HOME": str(self.work), "TMPDIR": "/tmp"}
        pid, offset = self.daemon.launch(self._command(port), cwd=self.work, env=env,
                                         idle_s=self.config.idle_s)
        with Process(pid) as proc:
            if self._await_ready(proc, port, time.monotonic() + self.config.start_timeout):
                return pid, port, token
            if proc.exited():
                raise ServerError(f"the SQL engine exited while starting; log:\n"
                                  f"{self.daemon.log_tail(offset)}")
            self.daemon.terminate(proc, self.config.stop_timeout)
            raise ServerError(f"the SQL engine was not ready within "
                              f"{self.config.start_timeout:g} s; log:\n"
                              f"{self.daemon.log_tail(offset)}")

    def _await_ready(self, proc: Process, port: int, deadline: float) -> bool:
        while True:
            if connects(self.netns, HOST, port, 1.0):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.wait(min(POLL_INTERVAL * 5, remaining)):
                return False

    def _marks(self, args: list[bytes]) -> bool:
        return f"{HOME_CONF}={self.home}".encode() in args and MAIN_CLASS.encode() in args


def free_port(netns: Path | None) -> int:
    """A port free on 127.0.0.1 of ``netns`` (the host's if None)."""
    def pick() -> int:
        with socket.socket() as s:
            s.bind((HOST, 0))
            return int(s.getsockname()[1])

    return in_netns(netns, pick)

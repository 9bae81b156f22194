"""Each project's own OS user and network namespace: what keeps one project's jobs
away from another project's and from the service.

A project's jobs (and its clusters' metastores) run as an unprivileged user of
that project, ``mrsj-<hash>``, inside a network namespace of that project that has
only a loopback interface: they reach each other and their own project's daemons,
and nothing else on this host (not the service's database, not another project's
metastore, not the service's API). Creating both needs root; the service creates
them on first use and keeps them (jobs outlive a service restart).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import pwd
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

USER_PREFIX = "mrsj-"
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class TenancyError(Exception):
    """A project's user or network namespace could not be made."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """Who a project's jobs run as, and in which network namespace (None: the host's)."""

    project_id: str
    user: str
    uid: int
    gid: int
    netns: str | None = None

    @property
    def netns_path(self) -> Path | None:
        return NETNS_DIR / self.netns if self.netns else None


def tenant_name(project_id: str) -> str:
    """A short, stable OS name for a project (user and namespace): ids are longer
    than user names may be, and a hash shows nothing of the id."""
    return USER_PREFIX + hashlib.sha256(project_id.encode()).hexdigest()[:16]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


class Tenants:
    """Finds, and on first use creates, each project's user and namespace (as root).

    Several services on one host share them: creation tolerates a concurrent one.
    """

    def __init__(self) -> None:
        self._known: dict[str, Tenant] = {}
        self._lock = threading.Lock()

    def known(self, project_id: str) -> bool:
        return project_id in self._known

    def get(self, project_id: str) -> Tenant:
        found = self._known.get(project_id)
        # Another service on this host removes a namespace nothing runs in when it
        # stops: one this service knew is made again before it is used.
        if found is not None and found.netns_path is not None and found.netns_path.exists():
            return found
        with self._lock:
            found = self._known.get(project_id)
            if found is None or found.netns_path is None or not found.netns_path.exists():
                found = self._known[project_id] = self._make(project_id)
            return found

    def _make(self, project_id: str) -> Tenant:
        name = tenant_name(project_id)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            done = _run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", "--comment",
                        "mrsjobs project", name)
            # 9: made meanwhile by another instance.
            if done.returncode not in (0, 9):
                raise TenancyError(f"useradd {name}: {done.stderr.strip()}") from None
            entry = pwd.getpwnam(name)
        if not (NETNS_DIR / name).exists():
            done = _run("ip", "netns", "add", name)
            if done.returncode != 0 and not (NETNS_DIR / name).exists():
                raise TenancyError(f"ip netns add {name}: {done.stderr.strip()}")
        # Idempotent, and a namespace made by a crashed start may still have it down.
        done = _run("ip", "-n", name, "link", "set", "lo", "up")
        if done.returncode != 0:
            raise TenancyError(f"ip -n {name} link set lo up: {done.stderr.strip()}")
        return Tenant(project_id, name, entry.pw_uid, entry.pw_gid, name)

    def release_idle(self) -> None:
        """Remove the namespaces of this service's projects that nothing runs in any more
        (a job or metastore still running keeps its namespace; a restart finds it)."""
        with self._lock:
            for project_id, tenant in list(self._known.items()):
                done = _run("ip", "netns", "pids", tenant.user)
                if done.returncode == 0 and not done.stdout.strip():
                    _run("ip", "netns", "delete", tenant.user)
                    del self._known[project_id]

    def remove(self, project_id: str) -> None:
        """Remove a project's namespace and user (its processes must be gone)."""
        name = tenant_name(project_id)
        with self._lock:
            self._known.pop(project_id, None)
            if (NETNS_DIR / name).exists():
                _run("ip", "netns", "delete", name)
            _run("userdel", name)


def in_netns(netns: Path | None, fn: Callable[[], T]) -> T:
    """``fn()`` run in ``netns`` (here if None): the sockets it makes belong there.

    A thread's network namespace is its own (setns affects the calling thread only),
    so a short-lived thread enters it and the service's other threads stay put.
    """
    if netns is None:
        return fn()
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            enter_netns(netns)
            result.append(fn())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=run, name="netns-call", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def enter_netns(netns: Path) -> None:
    """Move the calling thread into ``netns`` (OSError if it cannot)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def connects(netns: Path | None, host: str, port: int, timeout: float = 1.0) -> bool:
    """True if ``host:port`` accepts a TCP connection as seen from ``netns``."""
    try:
        return in_netns(netns, lambda: _connects(host, port, timeout))
    except OSError:
        return False


def _connects(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False

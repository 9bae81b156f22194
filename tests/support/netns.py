"""A private network of hosts on this machine: a bridge in the root network namespace
and one network namespace per host, each joined to the bridge by a veth pair.

Everything is named with one prefix, so that :meth:`Network.destroy` (and a new
network made with the same prefix, after a run that crashed) finds and removes every
piece: the processes inside the namespaces, the veths, the namespaces, the bridge.
A lock on the prefix, held from :meth:`Network.acquire` to the end of ``destroy``,
keeps two runs on one machine from removing each other's network; the kernel drops
it when its holder dies, so what is left then is a crashed run's.
Needs root and Debian's iproute2.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import wait_for

NETNS_DIR = Path("/run/netns")
LOCK_DIR = Path("/run/lock")
IP_TIMEOUT_S = 15
#: How long to wait for another run that holds the network's names.
LOCK_TIMEOUT_S = 900


class NetworkError(RuntimeError):
    """An ``ip`` command failed, or a network could not be removed completely."""


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip args``; its stdout."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S,
                          check=False)
    if check and done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Host:
    """One namespace of the network: its name and its address on the bridge."""

    netns: str
    address: str
    veth: str  # the root-namespace end of its veth pair

    def argv(self, *argv: str) -> list[str]:
        """A command line that runs ``argv`` inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def pids(self) -> list[int]:
        """Processes inside this host's namespace."""
        out = ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in out.split() if p.isdigit()]


class Network:
    """``prefix-br0`` at ``subnet``'s first address, and one host per name at the
    next addresses. Interface names stay within Linux's 15 characters."""

    def __init__(self, prefix: str, subnet: str, names: list[str]) -> None:
        if len(prefix) > 8:
            raise ValueError(f"prefix {prefix!r} is longer than 8 characters")
        net = ipaddress.ip_network(subnet)
        addresses = [str(a) for a in net.hosts()]
        self.prefix = prefix
        self.prefixlen = net.prefixlen
        self.bridge = f"{prefix}-br0"
        self.gateway = addresses[0]
        self.hosts = {name: Host(f"{prefix}-{name}", addresses[i + 1], f"{prefix}-v{i}")
                      for i, name in enumerate(names)}
        self._lock: int | None = None

    def acquire(self, timeout: float = LOCK_TIMEOUT_S) -> None:
        """Hold the prefix's lock (waiting for another run that holds it)."""
        if self._lock is not None:
            return
        fd = os.open(LOCK_DIR / f"mrsjobs-net-{self.prefix}.lock",
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

        def locked() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            wait_for(locked, timeout=timeout, interval=0.2,
                     message=f"network {self.prefix} released by another run")
        except BaseException:
            os.close(fd)
            raise
        self._lock = fd

    def release(self) -> None:
        """Let go of the lock without removing anything (as a crashed run does)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def create(self) -> None:
        """Make the network, after removing what an earlier run left; on failure,
        remove what was made."""
        self.acquire()
        self.destroy(release=False)
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/{self.prefixlen}", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for host in self.hosts.values():
                ip("netns", "add", host.netns)
                ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                   "netns", host.netns)
                ip("link", "set", host.veth, "master", self.bridge, "up")
                ip("-n", host.netns, "addr", "add", f"{host.address}/{self.prefixlen}",
                   "dev", "eth0")
                ip("-n", host.netns, "link", "set", "eth0", "up")
                ip("-n", host.netns, "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise

    def namespaces(self) -> list[str]:
        """Namespaces with this network's prefix, whoever made them."""
        out = ip("netns", "list", check=False)
        return [line.split()[0] for line in out.splitlines()
                if line.split() and line.split()[0].startswith(f"{self.prefix}-")]

    def links(self) -> list[str]:
        """Root-namespace interfaces with this network's prefix."""
        out = ip("-o", "link", "show", check=False)
        names = [line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines()
                 if line.count(":") >= 2]
        return [n for n in names if n.startswith(f"{self.prefix}-")]

    def leftovers(self) -> list[str]:
        """What is left of the network: its namespaces, links and processes inside."""
        left = [f"netns {n}" for n in self.namespaces()] + [f"link {n}" for n in self.links()]
        for name in self.namespaces():
            out = ip("netns", "pids", name, check=False)
            left += [f"pid {p} in {name}" for p in out.split()]
        return left

    def destroy(self, timeout: float = 15.0, *, release: bool = True) -> None:
        """SIGKILL whatever runs in the namespaces, then remove veths, namespaces and
        the bridge; raise if anything is still there after ``timeout`` s. Then let
        go of the lock, unless ``release`` is False."""
        self.acquire()
        try:
            self._remove(timeout)
        finally:
            if release:
                self.release()

    def _remove(self, timeout: float) -> None:
        for name in self.namespaces():
            pids = ip("netns", "pids", name, check=False).split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + timeout
        # Processes still exiting keep their namespace busy: give them a moment.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not any(ip("netns", "pids", n, check=False).split()
                                     for n in self.namespaces()),
                     timeout=timeout / 2, interval=0.02, message="namespaces empty")
        for link in self.links():
            if link != self.bridge:
                ip("link", "delete", link, check=False)
        for name in self.namespaces():
            ip("netns", "delete", name, check=False)
        if self.bridge in self.links():
            ip("link", "delete", self.bridge, check=False)
        # A namespace's veth end goes away asynchronously after the namespace does.
        try:
            wait_for(lambda: not self.leftovers(), timeout=max(deadline - time.monotonic(), 1),
                     message=f"network {self.prefix} removed")
        except AssertionError as exc:
            raise NetworkError(f"left behind: {self.leftovers()}") from exc

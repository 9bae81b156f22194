"""Process trees through ``/proc``: what runs in a directory or a process group, and
the sweep that kills whatever a test or a benchmark left behind.

A multi-threaded process (a JVM) whose leader thread has exited reads ``Z`` while its
other threads are still tearing down; it is reported as ``z`` until only the zombie
leader is left, so that ``Z`` and ``X`` mean really gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

from mrsjobs.engines.local.shim import proc_stat


def process_state(pid: int | str) -> tuple[str, int] | None:
    """(state, process group) of a process, or None if it is gone."""
    try:
        fields = proc_stat(pid)
        state, pgid = fields[0], int(fields[2])
    except (OSError, ValueError, IndexError):
        return None
    if state == "Z":
        with contextlib.suppress(OSError):
            if len(os.listdir(f"/proc/{pid}/task")) > 1:
                state = "z"
    return state, pgid


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    state: str
    cwd: str
    cmdline: bytes

    @property
    def live(self) -> bool:
        """Not gone: running, or a leader whose other threads are still tearing down."""
        return self.state not in "ZX"

    @property
    def running(self) -> bool:
        """Live and not on its way out."""
        return self.state not in "zZX"

    def works_in(self, directory: str) -> bool:
        return self.cwd == directory or self.cwd.startswith(directory + "/")

    def mentions(self, marker: str) -> bool:
        """Working under directory ``marker`` or naming it on the command line."""
        return self.works_in(marker) or marker.encode() in self.cmdline


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def processes() -> list[Proc]:
    """Every process on the host but this one."""
    out: list[Proc] = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        found = process_state(entry.name)
        if found is None:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            cwd = ""
        cmdline = _read(f"/proc/{entry.name}/cmdline")
        out.append(Proc(int(entry.name), found[1], found[0], cwd, cmdline))
    return out


def processes_with(marker: str) -> list[int]:
    """Running processes whose working directory is under ``marker`` or whose command
    line mentions it."""
    return [p.pid for p in processes() if p.running and p.mentions(marker)]


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group."""
    return [int(entry.name) for entry in os.scandir("/proc")
            if entry.name.isdigit() and (found := process_state(entry.name)) is not None
            and found[1] == pgid and found[0] not in "ZX"]


def pids_gone(pids: Iterable[int], pgid: int) -> bool:
    """Cheap check: none of ``pids`` is alive in group ``pgid`` (pid reuse tolerated)."""
    for pid in pids:
        found = process_state(pid)
        if found is not None and found[1] == pgid and found[0] not in "ZX":
            return False
    return True


def tree_left(pgid: int, under: str) -> list[int]:
    """Live processes still in group ``pgid`` or working under directory ``under``."""
    return [p.pid for p in processes() if p.live and (p.pgid == pgid or p.works_in(under))]


def kill_leftovers(marker: str, timeout: float = 15.0) -> int:
    """SIGKILL every live process that mentions ``marker`` until none is left; the
    count killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p.pid for p in processes() if p.live and p.mentions(marker)]
        for pid in killed:  # reap those that are our own children
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.05)
    return len(killed)

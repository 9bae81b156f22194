"""A detached daemon: a process that is not our child and outlives us. Waiting for it
(pidfd where available), finding it in /proc, stopping it together with what it left
running, and the small files it is coordinated through (pid and port files, a
heartbeat)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from .shim import proc_stat

POLL_INTERVAL = 0.1
_KILL_WAIT = 10.0


class Process:
    """Waits for a process that need not be our child (pidfd where available)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd: int | None = None
        self._gone = False
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._gone = True
        except (OSError, AttributeError):
            self._fd = None  # no pidfd (old kernel): poll /proc instead

    def __enter__(self) -> Process:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def exited(self) -> bool:
        return self.wait(0)

    def wait(self, timeout: float) -> bool:
        """True once the process has exited (zombies count), waiting up to ``timeout``."""
        if self._gone:
            return True
        if self._fd is not None:
            poller = select.poll()
            poller.register(self._fd, select.POLLIN)
            self._gone = bool(poller.poll(max(0, int(timeout * 1000))))
            return self._gone
        deadline = time.monotonic() + timeout
        while proc_alive(self.pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
        self._gone = True
        return True


def proc_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        return proc_stat(pid)[0] not in "ZX"
    except (OSError, ValueError, IndexError):
        return False


def pids_where(wanted: Callable[[int], bool]) -> Iterator[int]:
    """The pids in /proc for which ``wanted`` holds, in the order /proc lists them."""
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit() and wanted(int(entry.name)):
                yield int(entry.name)


def stop_group(proc: Process, stop_timeout: float, left: Callable[[], list[int]]) -> bool:
    """SIGTERM the process group of ``proc``, SIGKILL after ``stop_timeout``; done once
    ``proc`` has exited and ``left()`` finds none of the daemon's processes any more.
    False if something survived SIGKILL."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return True
    # Never signal our own group (only possible if a pid file is bogus).
    own = pgid == os.getpgrp()
    for sig, wait in ((signal.SIGTERM, stop_timeout), (signal.SIGKILL, _KILL_WAIT)):
        with contextlib.suppress(ProcessLookupError):
            if own:
                os.kill(proc.pid, sig)
            else:
                os.killpg(pgid, sig)
        # The process we started may end first (a sandbox's outer process) while
        # the daemon inside still shuts down: done once none of it is left.
        deadline = time.monotonic() + wait
        if proc.wait(wait) and _wait_gone(left, deadline, sig):
            return True
    return False


def _wait_gone(left: Callable[[], list[int]], deadline: float, sig: int) -> bool:
    """Wait until ``left()`` is empty (signalling any process that left the group with
    ``sig``); False if some still run at ``deadline``."""
    signalled: set[int] = set()
    while running := left():
        for pid in set(running) - signalled:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
            signalled.add(pid)
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL / 2)
    return True


def spawn(command: Sequence[str], log: IO[bytes], *, cwd: Path, env: Mapping[str, str],
          name: str) -> int:
    """Run ``command`` detached and return its pid (OSError if it could not start).

    A throw-away ``sh`` in a new session starts it in the background and exits, so
    the daemon is not our child: it outlives us, is never left a zombie here, and
    Popen never warns that it is still running. The daemon keeps the session and
    process group, so it can be stopped as a group.
    """
    launcher = subprocess.Popen(
        ["/bin/sh", "-c", '"$@" >&2 & echo $!', name, *command],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
        cwd=cwd, env=dict(env), start_new_session=True)
    try:
        out, _ = launcher.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.wait()
        raise OSError(f"the {name} shell hung") from None
    if launcher.returncode != 0 or not out.strip().isdigit():
        raise OSError(f"could not launch {list(command)}")
    return int(out)


class Heartbeat:
    """Touches a daemon's heartbeat file while this process lives (one thread per
    file and process): the daemon does not idle out while a service needs it."""

    _running: dict[Path, threading.Event] = {}
    _lock = threading.Lock()

    @classmethod
    def start(cls, path: Path, idle_s: float) -> None:
        touch(path)
        if idle_s <= 0:
            return
        with cls._lock:
            if path in cls._running:
                return
            stop = cls._running[path] = threading.Event()
        every = max(0.05, min(idle_s / 4, 10.0))
        threading.Thread(target=cls._beat, args=(path, stop, every), daemon=True,
                         name=f"heartbeat {path.name}").start()

    @classmethod
    def stop(cls, path: Path) -> None:
        with cls._lock:
            stop = cls._running.pop(path, None)
        if stop is not None:
            stop.set()

    @staticmethod
    def _beat(path: Path, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            touch(path)


def touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # the home may be gone (project deleted)
        path.touch()


def read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

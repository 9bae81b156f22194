"""The files a detached daemon of this service is coordinated through, in a home of its
own, and how it is launched, found again and stopped from any process.

A home holds ``<name>.lock`` (one starter or stopper at a time, across threads and
processes), ``<name>.pid`` (the daemon's outermost process), ``logs/<name>.log`` (its
output, appended) and, for a daemon under a watchdog (watchdog.py), ``<name>.heartbeat``.
The daemon is recognised in /proc by its command line, which guards against a recycled
pid and finds a daemon whose starter died before writing the pid file.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from .detached import Process, pids_where, proc_alive, read_int, spawn, stop_group, write_atomic

_LOG_TAIL_CHARS = 4000
WATCHDOG = Path(__file__).resolve().parent / "watchdog.py"


class DaemonHome:
    """One daemon's home: ``marks(args)`` says whether a command line is this daemon's."""

    def __init__(self, home: Path, name: str, marks: Callable[[list[bytes]], bool],
                 failure: type[Exception]) -> None:
        self.home = home
        self.name = name
        self._marks = marks
        #: What is raised when the daemon cannot be launched or stopped.
        self._failure = failure
        self.lock_file = home / f"{name}.lock"
        self.pid_file = home / f"{name}.pid"
        self.log_file = home / "logs" / f"{name}.log"
        self.heartbeat_file = home / f"{name}.heartbeat"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        # flock locks belong to the open file description, so a separate open()
        # per call excludes other threads of this process as well as others.
        with open(self.lock_file, "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def find_pid(self) -> int | None:
        """The live daemon: the pid file's, or found in /proc (and recorded)."""
        pid = read_int(self.pid_file)
        if pid is not None and self.is_ours(pid):
            return pid
        for found in pids_where(self.is_ours):
            write_atomic(self.pid_file, f"{found}\n")
            return found
        return None

    def is_ours(self, pid: int) -> bool:
        """A live (non-zombie) process running this home's daemon."""
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return self._marks(args) and proc_alive(pid)

    def processes(self) -> list[int]:
        """Every live process of the daemon (a sandbox around it included)."""
        return list(pids_where(self.is_ours))

    def launch(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str],
               idle_s: float = 0.0) -> tuple[int, int]:
        """Start the daemon detached, its output appended to the log; (pid, log offset).

        With ``idle_s``, the daemon runs under a watchdog that ends it once no service
        has touched :attr:`heartbeat_file` for that long (:class:`Heartbeat` touches it
        while a service lives). The caller holds the lock; the pid file is written once
        the process exists.
        """
        if idle_s > 0:
            command = [sys.executable, str(WATCHDOG), "--heartbeat", str(self.heartbeat_file),
                       "--idle", f"{idle_s:g}", "--", *command]
        self.pid_file.unlink(missing_ok=True)
        self.log_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n"
                      .encode())
            log.flush()
            offset = log.tell()
            try:
                pid = spawn(command, log, cwd=cwd, env=env, name=f"{self.name}-launcher")
            except OSError as exc:
                raise self._failure(f"could not launch the {self.name}: {exc}") from exc
        write_atomic(self.pid_file, f"{pid}\n")
        return pid, offset

    def terminate(self, proc: Process, stop_timeout: float) -> None:
        """SIGTERM the daemon's group, SIGKILL after ``stop_timeout``; done once none of
        its processes is left (a sandbox's outer process may end before the daemon)."""
        if not stop_group(proc, stop_timeout, self.processes):
            raise self._failure(f"the {self.name} {proc.pid} survived SIGKILL")

    def stop(self, stop_timeout: float) -> None:
        """Stop the daemon if it runs; the lock is taken here."""
        if not self.home.is_dir():
            return
        with self.locked():
            pid = self.find_pid()
            if pid is not None:
                with Process(pid) as proc:
                    self.terminate(proc, stop_timeout)
            self.pid_file.unlink(missing_ok=True)

    def log_tail(self, offset: int) -> str:
        """What the daemon wrote since ``offset`` (its last characters)."""
        try:
            with open(self.log_file, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError as exc:
            return f"(no log: {exc})"

"""The zygote and the per-job shim. Standard library only: it runs as
``python -I -S shim.py``, apart from the service, so that jobs outlive a service crash.

The zygote reads one JSON launch request per line on stdin and forks a shim for
each (forking a small, single-threaded process costs far less than starting a
new interpreter per job). Each shim:

* starts a new session and makes itself a child subreaper, so every descendant
  of the job is reparented to it and reaped at once;
* takes the launch's claim file (``claim-<nonce>``, created exclusively) before it
  starts anything: a restarted service that gave up waiting for this launch takes
  the same file first, and then this shim starts nothing, so a job never runs twice;
* starts the job in a process group of its own, stdout/stderr to the run directory:
  straight to the files, or, with ``max_log_bytes``, through pipes that the shim
  drains into the files itself, keeping the head and the tail of each stream (see
  :class:`CappedLog`);
* records ``pid.json`` (shim pid and start time, job pid, process group) and, once the job has
  ended and its leftover processes are gone, ``exit.json``; both are written by
  rename, so a reader never sees half a file;
* reports ``started``/``launch_failed``/``exited`` as JSON lines on the stdout it
  shares with the zygote (single writes below PIPE_BUF do not interleave).

The zygote exits when its stdin closes; running shims are not affected.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
# Big pipes and big reads: a chatty job rarely finds its pipe full, and the shim
# needs few system calls per megabyte.
PIPE_BYTES = 1 << 20
# After the job and its leftovers are gone, how long to wait for the logs' EOF (a
# descendant that escaped the sweep could hold a pipe open for ever).
DRAIN_S = 10.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def write_json(path: str, data: Mapping[str, object]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def report(event: Mapping[str, object]) -> None:
    # The service may be gone (crash, restart): the files are the durable record.
    with contextlib.suppress(OSError):
        os.write(1, (json.dumps(event) + "\n").encode())


def children() -> list[int]:
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    return pids


def sweep(pgid: int) -> None:
    """Kill and reap whatever the job left behind: its group and any orphan we adopted."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        for pid in children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _ignore(_signum: int, _frame: object) -> None:
    pass


def proc_stat(pid: int | str = "self") -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: [0] is the state,
    [2] the process group, [19] the start time in clock ticks since boot.

    OSError if the process is gone; ValueError or IndexError (or too few fields) if
    the record was cut short while the process exited.
    """
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2:].split()


def start_time() -> int:
    """This process's start time in clock ticks since boot: with the pid, it names
    the process for good (a pid alone may be reused after the shim is gone)."""
    return int(proc_stat()[19])


def take_claim(run_dir: str, nonce: str, who: str) -> bool:
    """Create the launch's claim file; False if someone else already holds it."""
    try:
        fd = os.open(os.path.join(run_dir, f"claim-{nonce}"),
                     os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.write(fd, who.encode())
    os.close(fd)
    return True


def tail_parts(path: str) -> list[tuple[int, str]]:
    """The tail part files of the log at ``path`` (``<path>.part<k>``), oldest first."""
    folder, base = os.path.split(path)
    prefix = base + ".part"
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    parts = [(int(n[len(prefix):]), os.path.join(folder, n)) for n in names
             if n.startswith(prefix) and n[len(prefix):].isdigit()]
    return sorted(parts)


def dropped_marker(name: str, dropped: int, head: int, tail: int, ends_line: bool) -> bytes:
    return ((b"" if ends_line else b"\n")
            + (f"[mrsjobs: {dropped} bytes of {name} dropped here; the first {head} and "
               f"the last {tail} bytes are kept]\n").encode())


class CappedLog:
    """One stream's log, bounded by ``cap``: its first ``cap // 2`` bytes, one marker
    line saying how much was dropped, and its last ``cap - cap // 2`` bytes.

    The head goes to the log file itself. The rest goes to part files of the tail's
    size, ``<log>.part0``, ``.part1``, ...: when one is full the next is started and
    the one before it removed, so the last ``tail`` bytes are always on disk (to read
    while the job runs, and kept if the shim dies) and the shim holds no output in
    memory. Disk use stays below ``head + 2 * tail``. :meth:`close` finishes the log
    as head, marker, tail. Write errors (a full disk) are remembered, never raised:
    the pipe must keep draining.
    """

    def __init__(self, path: str, name: str, cap: int) -> None:
        self.path = path
        self.name = name
        self.head = cap // 2
        self.tail = cap - self.head
        self.total = 0
        self.head_ends_line = True
        self.failed = False
        # A relaunch appends to what an earlier attempt wrote; its parts, if any,
        # were never finished, and would read as this attempt's tail.
        for _, stale in tail_parts(path):
            with contextlib.suppress(OSError):
                os.remove(stale)
        self.file = self._open(path, "ab")
        self.part = -1
        self.part_bytes = self.tail  # full: the first byte past the head opens part 0

    def write(self, data: bytes) -> None:
        before, self.total = self.total, self.total + len(data)
        if before < self.head:
            self._file_write(data[:self.head - before])
            if self.total >= self.head:
                self.head_ends_line = data[self.head - before - 1:self.head - before] == b"\n"
            data = data[self.head - before:]
        while data:
            if self.part_bytes == self.tail:
                self._next_part()
            room = self.tail - self.part_bytes
            self._file_write(data[:room])
            self.part_bytes += min(room, len(data))
            data = data[room:]

    def close(self) -> None:
        self._close_file()
        if self.part < 0:
            return
        older = "" if self.part == 0 else self._part_path(self.part - 1)
        newest = self._part_path(self.part)
        if not self.failed:
            try:
                tail = self._read(older)[self.part_bytes:] + self._read(newest)
                dropped = self.total - self.head - len(tail)
                marker = (b"" if dropped == 0 else dropped_marker(
                    self.name, dropped, self.head, self.tail, self.head_ends_line))
                with open(self.path, "ab") as f:
                    f.write(marker + tail)
            except OSError:
                self.failed = True
        # A log that could not be finished keeps its parts: read_log still shows them.
        if not self.failed:
            for path in (older, newest):
                with contextlib.suppress(OSError):
                    if path:
                        os.remove(path)

    def _next_part(self) -> None:
        if self.part >= 1:
            with contextlib.suppress(OSError):
                os.remove(self._part_path(self.part - 1))
        self._close_file()
        self.part += 1
        self.part_bytes = 0
        self.file = self._open(self._part_path(self.part), "wb")

    def _part_path(self, k: int) -> str:
        return f"{self.path}.part{k}"

    def _open(self, path: str, mode: str) -> io.FileIO | None:
        try:
            return io.FileIO(path, mode)
        except OSError:
            self.failed = True
            return None

    def _close_file(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None

    def _read(self, path: str) -> bytes:
        if not path:
            return b""
        with open(path, "rb") as f:
            return f.read()

    def _file_write(self, data: bytes) -> None:
        if self.failed or self.file is None:
            return
        try:
            self.file.write(data)
        except OSError:
            self.failed = True


def read_log(path: str) -> bytes | None:
    """A job log as it stands: finished, or head and tail parts while the job runs
    (or if its shim died). None if there is none."""
    parts = tail_parts(path)
    try:
        with open(path, "rb") as f:
            head = f.read()
    except FileNotFoundError:
        if not parts:
            return None
        head = b""
    tail = b""
    full = 0
    for _, part in parts:
        try:
            with open(part, "rb") as f:
                data = f.read()
        except FileNotFoundError:  # the shim moved on to a newer part meanwhile
            continue
        full = full or len(data)
        tail += data
    first = parts[0][0] if parts else 0
    if first == 0:
        return head + tail
    # Parts 0 .. first-1 were full (the oldest one left is too) and are gone.
    name = os.path.basename(path).split(".")[0]
    return head + (b"" if head.endswith(b"\n") else b"\n") + (
        f"[mrsjobs: {first * full} bytes of {name} dropped here so far; the job is "
        f"still writing]\n").encode() + tail


def pump(fd: int, log: CappedLog) -> None:
    """Drain a job's pipe into its log until EOF, whatever the log does."""
    try:
        while data := os.read(fd, PIPE_BYTES):
            log.write(data)
    finally:
        os.close(fd)
        log.close()


def capped_pipes(run_dir: str, cap: int) -> tuple[list[int], list[threading.Thread]]:
    """Write ends for the job's stdout and stderr, and the threads that drain them."""
    ends: list[int] = []
    pumps: list[threading.Thread] = []
    for name in ("stdout", "stderr"):
        r, w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        ends.append(w)
        log = CappedLog(os.path.join(run_dir, f"{name}.log"), name, cap)
        pumps.append(threading.Thread(target=pump, args=(r, log), name=name, daemon=True))
    return ends, pumps


def run_shim(req: dict[str, Any], libc: ctypes.CDLL) -> None:
    job = str(req["job"])
    run_dir = str(req["run_dir"])
    os.setsid()
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # A kill is aimed at the job's process group, never at the shim, which must
    # survive to record the outcome. A no-op handler, not SIG_IGN: an ignored
    # signal would stay ignored in the job across exec, a handler is reset.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _ignore)
    os.makedirs(run_dir, exist_ok=True)
    if not take_claim(run_dir, str(req["nonce"]), "shim"):
        return  # the service gave this launch up and queued the job again
    argv = [str(a) for a in req["argv"]]
    env = {str(k): str(v) for k, v in req["env"].items()}
    cap = int(req.get("max_log_bytes") or 0)
    pumps: list[threading.Thread] = []
    try:
        if req.get("netns"):
            enter_netns(libc, str(req["netns"]))
        if cap > 0:
            (out_w, err_w), pumps = capped_pipes(run_dir, cap)
            try:
                proc = popen(req, argv, env, out_w, err_w)
            finally:
                os.close(out_w)
                os.close(err_w)
                # Started either way: on a failed launch they see EOF at once.
                for t in pumps:
                    t.start()
        else:
            with open(os.path.join(run_dir, "stdout.log"), "ab") as out, \
                    open(os.path.join(run_dir, "stderr.log"), "ab") as err:
                proc = popen(req, argv, env, out.fileno(), err.fileno())
    except OSError as exc:
        for t in pumps:
            t.join(DRAIN_S)
        write_json(os.path.join(run_dir, "launch_failed.json"), {"error": str(exc)})
        report({"event": "launch_failed", "job": job, "error": str(exc)})
        return
    record = {"shim_pid": os.getpid(), "shim_start": start_time(), "pid": proc.pid,
              "pgid": proc.pid, "started_ms": now_ms(), "sandboxed": bool(req.get("sandboxed"))}
    write_json(os.path.join(run_dir, "pid.json"), record)
    report({"event": "started", "job": job, **record})
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == proc.pid:
            break
    ended = now_ms()
    sweep(proc.pid)
    # The logs are complete (head, marker, tail) before exit.json says the job ended.
    for t in pumps:
        t.join(DRAIN_S)
    code = os.waitstatus_to_exitcode(status)
    result = {"exit_code": code if code >= 0 else None,
              "signal": -code if code < 0 else None, "ended_ms": ended}
    write_json(os.path.join(run_dir, "exit.json"), result)
    report({"event": "exited", "job": job, **result})


def popen(req: dict[str, Any], argv: list[str], env: dict[str, str], out: int,
          err: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=str(req["cwd"]), env=env, stdin=subprocess.DEVNULL,
        stdout=out, stderr=err, process_group=0, close_fds=True, restore_signals=True,
    )


def enter_netns(libc: ctypes.CDLL, path: str) -> None:
    """Move this shim into the network namespace at ``path``, so that the job it starts
    is there too. The shim serves one job and talks to the zygote over a pipe only;
    doing it here, not between fork and exec, keeps the job's start on the fast path."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"cannot enter the network namespace {path}")
    finally:
        os.close(fd)


def main() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    # The zygote never waits for its shims: let the kernel reap them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in sys.stdin.buffer:
        req = json.loads(line)
        if os.fork() == 0:
            try:
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.close(devnull)
                run_shim(req, libc)
            finally:
                os._exit(0)


if __name__ == "__main__":
    main()

"""The launcher zygote and the per-job shim. Standard library only: it runs as
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
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
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


def start_time() -> int:
    """This process's start time in clock ticks since boot: with the pid, it names
    the process for good (a pid alone may be reused after the shim is gone)."""
    with open("/proc/self/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2:].split()[19])


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


class CappedLog:
    """One stream's log file, bounded: the first ``cap // 2`` bytes and the last
    ``cap - cap // 2``, with one marker line in between saying how much was dropped.

    Bytes go to the file as they come until the cap; past it, the tail is kept in
    memory (a ring of read chunks) and the file is finished on :meth:`close`. Write
    errors (a full disk) are remembered, never raised: the pipe must keep draining.
    """

    def __init__(self, path: str, name: str, cap: int) -> None:
        self.name = name
        self.file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self.base = self.file.tell()
        self.cap = cap
        self.head = cap // 2
        self.tail = cap - self.head
        self.total = 0
        self.ring: deque[bytes] = deque()
        self.ring_bytes = 0
        self.head_ends_line = True
        self.failed = False

    def write(self, data: bytes) -> None:
        before, self.total = self.total, self.total + len(data)
        if before < self.cap:
            self._file_write(data[:self.cap - before])
        if before < self.head <= self.total:
            self.head_ends_line = data[self.head - before - 1:self.head - before] == b"\n"
        past_head = data[max(0, self.head - before):]
        if past_head:
            self.ring.append(past_head)
            self.ring_bytes += len(past_head)
            while len(self.ring) > 1 and self.ring_bytes - len(self.ring[0]) >= self.tail:
                self.ring_bytes -= len(self.ring.popleft())

    def close(self) -> None:
        if self.total > self.cap and not self.failed:
            dropped = self.total - self.head - self.tail
            tail = b"".join(self.ring)[-self.tail:]
            marker = (f"[mrsjobs: {dropped} bytes of {self.name} dropped here; the first "
                      f"{self.head} and the last {self.tail} bytes are kept]\n").encode()
            try:
                self.file.truncate(self.base + self.head)
            except OSError:
                self.failed = True
            else:
                self._file_write((b"" if self.head_ends_line else b"\n") + marker + tail)
        self.ring.clear()
        self.file.close()

    def _file_write(self, data: bytes) -> None:
        if self.failed:
            return
        try:
            self.file.write(data)
        except OSError:
            self.failed = True


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
              "pgid": proc.pid, "started_ms": now_ms()}
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

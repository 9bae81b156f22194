"""The launcher zygote and the per-job shim. Standard library only: it runs as
``python -I -S shim.py``, apart from the service, so that jobs outlive a service crash.

The zygote reads one JSON launch request per line on stdin and forks a shim for
each (forking a small, single-threaded process costs far less than starting a
new interpreter per job). Each shim:

* starts a new session and makes itself a child subreaper, so every descendant
  of the job is reparented to it and reaped at once;
* starts the job in a process group of its own, stdout/stderr to the run directory;
* takes the launch's claim file (``claim-<nonce>``, created exclusively) before it
  starts anything: a restarted service that gave up waiting for this launch takes
  the same file first, and then this shim starts nothing, so a job never runs twice;
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
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

PR_SET_CHILD_SUBREAPER = 36


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
    try:
        with open(os.path.join(run_dir, "stdout.log"), "ab") as out, \
                open(os.path.join(run_dir, "stderr.log"), "ab") as err:
            proc = subprocess.Popen(
                argv, cwd=str(req["cwd"]), env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, process_group=0, close_fds=True,
                restore_signals=True,
            )
    except OSError as exc:
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
    code = os.waitstatus_to_exitcode(status)
    result = {"exit_code": code if code >= 0 else None,
              "signal": -code if code < 0 else None, "ended_ms": ended}
    write_json(os.path.join(run_dir, "exit.json"), result)
    report({"event": "exited", "job": job, **result})


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

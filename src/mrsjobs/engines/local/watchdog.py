"""Runs a detached daemon and ends it once no service has touched its heartbeat file for
``--idle`` seconds: a daemon that outlives a crash of its service (so that a restarted
service finds it again) must not outlive the service for good.

    python watchdog.py --heartbeat FILE --idle SECONDS -- COMMAND...

The watchdog is the daemon's parent in the same process group (stopping the group stops
both) and exits with the daemon's exit status. It runs as a file, with the standard
library alone, so that it needs nothing of the service's environment.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

_KILL_AFTER_S = 15.0
_PR_SET_PDEATHSIG = 1


def stale_for(heartbeat: str) -> float:
    """Seconds since the heartbeat was last touched (since the epoch if never)."""
    try:
        return time.time() - os.stat(heartbeat).st_mtime
    except OSError:
        return time.time()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (a sandbox may have put them in a session of
    their own, out of our process group)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def signal_all(pid: int, sig: int) -> None:
    for found in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(found, sig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heartbeat", required=True)
    parser.add_argument("--idle", type=float, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    # The daemon dies with the watchdog (a SIGKILL of the watchdog alone included).
    child = subprocess.Popen(args.command, preexec_fn=_die_with_parent)
    # A stop of the group reaches the daemon directly; the watchdog only waits it out.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    every = max(0.05, min(args.idle / 4, 10.0))
    ending_since: float | None = None
    while True:
        try:
            return _status(child.wait(every))
        except subprocess.TimeoutExpired:
            pass
        if ending_since is None and stale_for(args.heartbeat) > args.idle:
            print(f"watchdog: no heartbeat for {args.idle:g} s, stopping the daemon",
                  file=sys.stderr, flush=True)
            signal_all(os.getpid(), signal.SIGTERM)
            ending_since = time.monotonic()
        elif ending_since is not None and time.monotonic() - ending_since > _KILL_AFTER_S:
            signal_all(os.getpid(), signal.SIGKILL)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())

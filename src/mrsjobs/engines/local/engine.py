"""Runs jobs as process trees on this host, through the detached shim in ``shim.py``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...domain.jobs import ExitStatus, JobType
from ..base import Capabilities, EngineEvents, Handle, LaunchFailed, LaunchSpec, handle_fields
from ..reporting import Reporter
from .shim import proc_stat, take_claim
from .ui import SparkUi, find_ui, forget_ui, log_size

log = logging.getLogger(__name__)

SHIM = Path(__file__).with_name("shim.py")
# How long a restarted service waits for a launch that an earlier one handed over.
ATTACH_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class ProcessHandle(Handle):
    """A job's process tree: the shim that leads it, and where its records are."""

    run_dir: Path
    pid: int
    pgid: int
    shim_pid: int
    #: The shim's start time (clock ticks since boot); 0 if unknown.
    shim_start: int = 0
    sandboxed: bool = False
    #: The path the service proxies the driver's UI under ("": no UI), the job's
    #: network namespace, and where its stderr stood at launch (see ``.ui``).
    ui_base: str = ""
    netns: str = ""
    ui_log_offset: int = 0

    @property
    def launcher_id(self) -> str:
        return f"pid_{self.pid}"

    @classmethod
    def of_record(cls, job_id: str, rec: dict[str, Any], run_dir: Path) -> ProcessHandle:
        """The handle from a shim's record (``pid.json``, its ``started`` event, or the
        text the store kept)."""
        return cls(job_id, rec["started_ms"], run_dir, rec["pid"], rec["pgid"],
                   rec["shim_pid"], rec.get("shim_start", 0), rec.get("sandboxed", False),
                   rec.get("ui_base") or "", rec.get("netns") or "",
                   rec.get("ui_log_offset", 0))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def process_alive(pid: int, start: int = 0) -> bool:
    """True if ``pid`` exists, is not a zombie (a zombie has already ended) and, when
    ``start`` is known, is the process that started then (not a reused pid)."""
    try:
        tail = proc_stat(pid)
        return tail[0] not in "ZX" and (start == 0 or int(tail[19]) == start)
    except (FileNotFoundError, ProcessLookupError):
        return False  # gone, or going: a process being reaped answers ESRCH
    except (ValueError, IndexError):
        return False  # a record cut short while the process exits
    except OSError:
        # Anything else says nothing about the process: ask the kernel plainly.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True


def group_members(pgid: int) -> list[int]:
    """The live (non-zombie) processes of the process group."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            tail = proc_stat(entry.name)
            if int(tail[2]) == pgid and tail[0] not in "ZX":
                members.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # gone (or going) while we looked
    return members


def group_alive(pgid: int) -> bool:
    """True if any live (non-zombie) process is still in the process group."""
    return bool(group_members(pgid))


def _claimed_by(run_dir: Path, nonce: str) -> str | None:
    """Who holds the launch's claim ("shim" or "abandoned"), if anyone."""
    try:
        return (run_dir / f"claim-{nonce}").read_text()
    except OSError:
        return None


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


class ProcessEngine:
    """Each job runs under its own shim, forked by one long-lived zygote process.

    Start and end are reported on the zygote's stdout for speed, and recorded in
    the job's run directory for durability; :meth:`wait` falls back to the files
    when the pipe is gone (a shim started by an earlier service).
    """

    capabilities = Capabilities(frozenset(JobType), live_logs=True, survives_restart=True)

    def __init__(self, python: str = sys.executable, poll_interval_s: float = 1.0,
                 attach_wait_s: float = ATTACH_WAIT_S, max_log_bytes: int = 0) -> None:
        self.python = python
        self.poll_interval_s = poll_interval_s
        self.attach_wait_s = attach_wait_s
        # Per stream; 0 lets the job write its log files directly, without a bound.
        self.max_log_bytes = max_log_bytes
        self._zygote: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = b""
        self._launching: dict[str, asyncio.Future[ProcessHandle]] = {}
        self._waiting: dict[str, asyncio.Future[ExitStatus]] = {}
        self._exited: dict[str, ExitStatus] = {}
        self._reporter = Reporter(poll_interval_s)

    # -- the zygote -----------------------------------------------------------------

    def _ensure_zygote(self) -> subprocess.Popen[bytes]:
        if self._zygote is not None and self._zygote.poll() is None:
            return self._zygote
        self._loop = asyncio.get_running_loop()
        if self._zygote is not None and self._zygote.stdout is not None:
            self._loop.remove_reader(self._zygote.stdout.fileno())
        zygote = subprocess.Popen(
            [self.python, "-I", "-S", str(SHIM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        assert zygote.stdout is not None
        os.set_blocking(zygote.stdout.fileno(), False)
        self._loop.add_reader(zygote.stdout.fileno(), self._on_readable, zygote)
        self._zygote = zygote
        self._buffer = b""
        return zygote

    def _on_readable(self, zygote: subprocess.Popen[bytes]) -> None:
        assert zygote.stdout is not None
        try:
            data = os.read(zygote.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return
        if not data:
            # Zygote gone: shims already started still write their records to disk.
            if self._loop is not None:
                self._loop.remove_reader(zygote.stdout.fileno())
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line:
                self._on_event(json.loads(line))

    def _on_event(self, event: dict[str, Any]) -> None:
        job = event["job"]
        kind = event["event"]
        if kind == "exited":
            status = ExitStatus(event["exit_code"], event["signal"], event["ended_ms"])
            waiter = self._waiting.pop(job, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(status)
            else:
                self._exited[job] = status
            return
        fut = self._launching.pop(job, None)
        if fut is None or fut.done():
            return
        if kind == "started":
            fut.set_result(ProcessHandle.of_record(job, event, Path()))
        else:
            fut.set_exception(LaunchFailed(event.get("error", "the job could not be started")))

    # -- the port -------------------------------------------------------------------

    async def start(self, events: EngineEvents) -> None:
        self._reporter.start(events)
        self._ensure_zygote()

    async def close(self) -> None:
        await self._reporter.close()
        zygote, self._zygote = self._zygote, None
        if zygote is None:
            return
        if self._loop is not None and zygote.stdout is not None:
            self._loop.remove_reader(zygote.stdout.fileno())
        if zygote.stdin is not None:
            zygote.stdin.close()
        if zygote.stdout is not None:
            zygote.stdout.close()
        await asyncio.to_thread(zygote.wait, 10)

    async def launch(self, spec: LaunchSpec) -> ProcessHandle:
        zygote = self._ensure_zygote()
        assert zygote.stdin is not None
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        # An earlier attempt's UI (a relaunch reuses the run directory) is not this one's.
        forget_ui(spec.run_dir)
        ui_log_offset = log_size(spec.run_dir)
        fut: asyncio.Future[ProcessHandle] = asyncio.get_running_loop().create_future()
        self._launching[spec.job_id] = fut
        # Names this launch: the shim and a restarted service both try to claim it.
        nonce = uuid.uuid4().hex
        request = {
            "job": spec.job_id,
            "nonce": nonce,
            "run_dir": str(spec.run_dir.resolve()),
            "cwd": str(spec.cwd.resolve()),
            "argv": list(spec.argv),
            "env": dict(spec.env),
            "max_log_bytes": self.max_log_bytes,
            "netns": spec.netns,
            "sandboxed": spec.sandboxed,
        }
        # The intent is on disk before the request leaves: after a crash, a job
        # without it was never handed over and may be launched again.
        write_json(spec.run_dir / "launch.json",
                   {"job": spec.job_id, "nonce": nonce, "argv": list(spec.argv)})
        try:
            zygote.stdin.write(json.dumps(request).encode() + b"\n")
            zygote.stdin.flush()
            handle = await asyncio.wait_for(fut, timeout=30)
        except (OSError, TimeoutError) as exc:
            self._launching.pop(spec.job_id, None)
            raise LaunchFailed(f"the launcher did not start the job: {exc}") from exc
        handle = replace(handle, run_dir=spec.run_dir, ui_base=spec.ui_base or "",
                         netns=spec.netns or "", ui_log_offset=ui_log_offset)
        self._reporter.started(handle)
        self._watch(handle)
        return handle

    def _watch(self, handle: ProcessHandle) -> None:
        self._reporter.watch(handle, lambda: self._wait_tracking(handle))

    async def _wait_tracking(self, handle: ProcessHandle) -> ExitStatus:
        """:meth:`wait`, learning the job's Spark UI meanwhile (if it has one)."""
        if not handle.ui_base:
            return await self.wait(handle)
        tracking = asyncio.get_running_loop().create_task(self._track_ui(handle))
        try:
            return await self.wait(handle)
        finally:
            tracking.cancel()
            await asyncio.gather(tracking, return_exceptions=True)

    async def _track_ui(self, handle: ProcessHandle) -> None:
        if SparkUi.load(handle.run_dir) is not None:
            return  # found (and reported) before a restart
        try:
            ui = await find_ui(handle.run_dir, handle.netns or None, handle.ui_log_offset,
                               min(self.poll_interval_s, 0.25))
        except OSError:
            log.warning("job %s: its Spark UI could not be found", handle.job_id,
                        exc_info=True)
            return
        if ui is not None:
            self._reporter.tracked(handle.job_id, ui.app_id, handle.ui_base + "/")

    async def wait(self, handle: ProcessHandle) -> ExitStatus:
        """The job's exit status, once it and everything it started have ended."""
        while True:
            status = self._exited.pop(handle.job_id, None)
            if status is not None:
                return status
            fut: asyncio.Future[ExitStatus] = asyncio.get_running_loop().create_future()
            self._waiting[handle.job_id] = fut
            try:
                return await asyncio.wait_for(fut, self.poll_interval_s)
            except TimeoutError:
                self._waiting.pop(handle.job_id, None)
            # No event in a while: the pipe may be from an earlier service. Ask the files.
            status = self.poll(handle)
            if status is not None:
                return status

    async def signal(self, handle: ProcessHandle, *, force: bool) -> bool:
        # Signals and /proc reads do not block: no thread is needed.
        if (handle.run_dir / "exit.json").exists() or not process_alive(handle.shim_pid,
                                                                     handle.shim_start):
            # Shim done: the group id may belong to someone else by now.
            return False
        if handle.sandboxed and not force:
            # The sandbox leads the group and would die of SIGTERM, taking the job
            # with it at once: the job's own processes get it, the sandbox follows them.
            delivered = [_signal(pid, signal.SIGTERM) for pid in group_members(handle.pgid)
                         if pid != handle.pid]
            return any(delivered)
        try:
            os.killpg(handle.pgid, signal.SIGKILL if force else signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def attach(self, job_id: str, run_dir: Path,
               kept: str | None = None) -> ProcessHandle | None:
        handle = self._find(job_id, run_dir, kept)
        if handle is not None:
            self._watch(handle)
        return handle

    def _find(self, job_id: str, run_dir: Path, kept: str | None) -> ProcessHandle | None:
        saved = handle_fields(kept)
        if saved is not None:
            try:
                return ProcessHandle.of_record(job_id, saved, run_dir)
            except (KeyError, TypeError):
                pass  # not a handle of ours: the run directory's records tell
        launch = _read_json(run_dir / "launch.json")
        if launch is None:
            return None
        # Handed over: the zygote of an earlier service may still be starting it.
        deadline = time.monotonic() + self.attach_wait_s
        given_up = False
        while True:
            rec = _read_json(run_dir / "pid.json")
            if rec is not None:
                return ProcessHandle.of_record(job_id, rec, run_dir)
            failed = _read_json(run_dir / "launch_failed.json")
            if failed is not None:
                raise LaunchFailed(failed.get("error", "the job could not be started"))
            if time.monotonic() > deadline:
                # Take the launch's claim: if we get it, no shim ever will, and the job
                # may be queued again. If a shim holds it, it is about to write pid.json.
                nonce = launch.get("nonce")
                if nonce and (take_claim(str(run_dir), str(nonce), "abandoned")
                              or _claimed_by(run_dir, str(nonce)) == "abandoned"):
                    # Ours now, or an earlier service's that gave it up (and stopped
                    # before it could queue the job again): no shim will ever start it.
                    return None
                if given_up:
                    raise LaunchFailed("the launcher went away while starting the job")
                given_up, deadline = True, time.monotonic() + self.attach_wait_s
            time.sleep(0.01)

    def poll(self, handle: ProcessHandle) -> ExitStatus | None:
        """The job's exit status if it has ended, from its records; None if it runs."""
        rec = _read_json(handle.run_dir / "exit.json")
        if rec is not None:
            return ExitStatus(rec["exit_code"], rec["signal"], rec["ended_ms"])
        if process_alive(handle.shim_pid, handle.shim_start):
            return None
        # The shim writes exit.json before it exits; look once more to close that race.
        rec = _read_json(handle.run_dir / "exit.json")
        if rec is not None:
            return ExitStatus(rec["exit_code"], rec["signal"], rec["ended_ms"])
        return ExitStatus(None, None, time.time_ns() // 1_000_000)

"""Shared benchmark tools.

A real ``mrsjobs serve`` in a temporary data directory (env overrides, a token) and
its API calls, the workspace that cleans up after a benchmark, the turn-taking loop
of its sides and the one JSON line each benchmark prints. The server process, the
waits and the ``/proc`` sweeps are the ones the tests use (``tests.support``); the
figures are in ``_stats``.

Everything a benchmark starts runs with its working directory (or a command-line
argument) under the benchmark's temporary directory, so that one sweep of ``/proc``
finds and kills every leftover: the servers, the service's launcher zygote and
shims, the jobs, and the baseline's own processes. The sweep runs on normal exit,
on an exception, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx

# Benchmarks run as ``python bench/<name>.py``: the repository root makes the tools
# they share with the tests importable.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

from tests.support.procs import group_members, kill_leftovers, pids_gone, tree_left  # noqa: E402
from tests.support.server import PYTHON, ServeProcess, ServerHung  # noqa: E402
from tests.support.waiting import Timeout, free_port, wait_for  # noqa: E402

from _stats import summary  # noqa: E402

# What the benchmarks take from the shared tools through this module.
__all__ = ["Timeout", "group_members", "pids_gone", "tree_left", "wait_for"]

TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
_T_START = time.monotonic()


# -- small things ---------------------------------------------------------------------


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the result line."""
    print(f"[{time.monotonic() - _T_START:8.2f}s] {message}", file=sys.stderr, flush=True)


def emit(result: Mapping[str, Any]) -> None:
    """The benchmark's one line on stdout."""
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def parse_epochrealtime(text: str) -> int:
    """bash's ``$EPOCHREALTIME`` (``1700000000.123456``; ``,`` in some locales) in ns."""
    sec, _, frac = text.strip().replace(",", ".").partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


# -- the service ----------------------------------------------------------------------


class ServiceUnavailable(RuntimeError):
    """The server could not start (e.g. a module of the service is still missing)."""


def service_import_error() -> str | None:
    """None if the server's modules import; else the error text."""
    proc = subprocess.run([PYTHON, "-c", "import mrsjobs.api.app"], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {proc.returncode}"


def wait_service_importable(timeout: float, interval: float = 30.0) -> None:
    """Wait (bounded) for the service to import, e.g. while a module is being written."""
    deadline = time.monotonic() + timeout
    while True:
        error = service_import_error()
        if error is None:
            return
        if time.monotonic() + interval > deadline:
            raise ServiceUnavailable(f"the service does not import: {error}")
        log(f"the service does not import yet ({error}); checking again in {interval:.0f}s")
        time.sleep(interval)


class Server(ServeProcess):
    """A ``mrsjobs serve`` in ``root/name`` with a token for its default project;
    ``overrides`` are its MRSJOBS_* settings, read when it starts."""

    name: str
    overrides: Mapping[str, str]

    def __init__(self, root: Path, name: str, overrides: Mapping[str, str]) -> None:
        # cwd under the bench directory: the zygote and the shims inherit it, so the
        # leftover sweep finds them too.
        super().__init__(data_dir=root / name / "data", port=0, env={},
                         log=root / name / "server.log", cwd=root / name)
        self.name, self.overrides = name, overrides

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def run_dir(self, job_id: str) -> Path:
        return self.runs_dir / job_id

    def area(self, name: str) -> Path:
        """Where ``hdfs:///name`` of the default cluster is on this host."""
        return self.data_dir / "clusters" / self.cluster_id / "files" / name

    def start(self, timeout: float = 60.0) -> None:
        assert self.cwd is not None
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MRSJOBS_")}
        self.env.update(self.overrides)
        self.read_default_project()
        self.token = self.cli("token", "create", "--project", self.project_id,
                              "--user", "bench")
        self.port = free_port()
        t0 = time.monotonic()
        self.launch(timeout)
        log(f"server {self.name} up on port {self.port} in {time.monotonic() - t0:.2f}s "
            f"({', '.join(f'{k}={v}' for k, v in self.overrides.items()) or 'defaults'})")

    def stop(self, sig: int = signal.SIGTERM, grace: float = 20.0) -> None:
        try:
            super().stop(sig, grace)
        except ServerHung as exc:
            log(f"server {self.name}: {exc}; killed")

    # -- API calls --------------------------------------------------------------------

    def submit(self, client: httpx.Client, arguments: Sequence[str], name: str = "bench",
               job_type: str = "SparkSubmit") -> str:
        resp = client.post(self.jobs_path, json={"job_type": job_type, "job_name": name,
                                                 "arguments": list(arguments)})
        if resp.status_code != 202:
            raise RuntimeError(f"submit: {resp.status_code} {resp.text}")
        job_id: str = resp.json()["job_submit_result"]["job_id"]
        return job_id

    def put(self, client: httpx.Client, path: str, data: bytes) -> str:
        """Upload to the default cluster's file area; the ``hdfs:///`` URI of the file."""
        resp = client.put(f"/v2/{self.project_id}/clusters/{self.cluster_id}/files",
                          params={"path": path}, content=data)
        if resp.status_code != 201:
            raise RuntimeError(f"put: {resp.status_code} {resp.text}")
        return f"hdfs://{path}"

    def show(self, client: httpx.Client, job_id: str) -> dict[str, Any]:
        resp = client.get(f"{self.jobs_path}/{job_id}")
        if resp.status_code != 202:
            raise RuntimeError(f"show: {resp.status_code} {resp.text}")
        detail: dict[str, Any] = resp.json()["job_detail"]
        return detail

    def kill(self, client: httpx.Client, job_id: str) -> None:
        resp = client.post(f"{self.jobs_path}/{job_id}/kill")
        if resp.status_code != 202:
            raise RuntimeError(f"kill: {resp.status_code} {resp.text}")

    def list(self, client: httpx.Client, **params: str | int) -> dict[str, Any]:
        resp = client.get(self.jobs_path, params={k: str(v) for k, v in params.items()})
        if resp.status_code != 202:
            raise RuntimeError(f"list: {resp.status_code} {resp.text}")
        body: dict[str, Any] = resp.json()
        return body

    def total(self, client: httpx.Client, **params: str | int) -> int:
        total: int = self.list(client, limit=1, **params)["total_record"]
        return total

    def wait_state(self, client: httpx.Client, job_id: str, states: Iterable[str],
                   timeout: float = 30.0, interval: float = 0.002) -> dict[str, Any]:
        wanted = frozenset(states)
        return wait_for(lambda: (d := self.show(client, job_id))["job_state"] in wanted and d,
                        timeout=timeout, interval=interval,
                        message=f"job {job_id} in {sorted(wanted)}")

    def run_record(self, job_id: str, name: str) -> dict[str, Any] | None:
        """A record the job's shim writes (``pid.json``, ``exit.json``), once written."""
        try:
            rec: dict[str, Any] = json.loads((self.run_dir(job_id) / name).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return rec

    def pid_record(self, job_id: str) -> dict[str, Any] | None:
        return self.run_record(job_id, "pid.json")

    def exit_record(self, job_id: str) -> dict[str, Any] | None:
        return self.run_record(job_id, "exit.json")

    def db_jobs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Job rows straight from the store (read-only): the timestamps the API does not
        show (kill_requested_ms, kill_signalled_ms). SQLite data directories only."""
        uri = f"file:{self.data_dir / 'mrsjobs.db'}?mode=ro"
        ids = list(job_ids)
        out: dict[str, dict[str, Any]] = {}
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT * FROM jobs WHERE id IN ({marks})", chunk):
                    out[row["id"]] = dict(row)
        return out


# -- the workspace --------------------------------------------------------------------


class _Terminated(BaseException):
    pass


def take_turns(sides: Mapping[str, Callable[[int], dict[str, Any]]], samples: int,
               warmup: int, label: str, every: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Round ``i`` takes one sample of each side, each side taking each place in turn so
    that drift and noise hit all alike; the first ``warmup`` rounds are not kept."""
    names = list(sides)
    kept: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for i in range(warmup + samples):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            sample = sides[name](i)
            if i >= warmup:
                kept[name].append(sample)
        done = i + 1 - warmup
        if done == 0:
            log(f"{label}: warm-up done ({warmup} of each)")
        elif done > 0 and done % every == 0:
            p50 = {n: summary([x["latency"] for x in v]).get("p50") for n, v in kept.items()}
            log(f"{label} {done}/{samples}: p50 {p50} ms")
    return kept


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(f"signal {signum}")


class Bench:
    """A temporary directory with servers and baseline processes in it; cleans up all.

    Use as a context manager. ``track`` a baseline ``Popen`` to have its process
    group killed on exit; anything else is found by the leftover sweep.
    """

    def __init__(self, name: str, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix=f"mrsjobs-bench-{name}-"))
        self.servers: list[Server] = []
        self.popens: list[subprocess.Popen[bytes]] = []
        self._old_handlers: dict[int, Any] = {}

    def __enter__(self) -> Bench:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, _on_sigterm)
        log(f"bench directory {self.root}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        if exc_type is _Terminated:
            raise SystemExit(143)

    def server(self, name: str, **overrides: str) -> Server:
        """Start a server; ``overrides`` are MRSJOBS_* settings (``max_running="10"``)."""
        env = {f"MRSJOBS_{k.upper()}": v for k, v in overrides.items()}
        server = Server(self.root, name, env)
        self.servers.append(server)
        server.start()
        return server

    def track(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.popens.append(proc)
        return proc

    def close(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:
                log(f"stopping server {server.name}: {exc}")
        for proc in self.popens:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        killed = kill_leftovers(str(self.root))
        if killed:
            log(f"killed {killed} leftover process(es) under {self.root}")
        for server in self.servers:
            server.remove_tenants()
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def bench_workspace(name: str, args: argparse.Namespace) -> Iterator[Bench]:
    if args.wait_service > 0:
        wait_service_importable(args.wait_service)
    with Bench(name, keep=args.keep) as bench:
        yield bench


def parser(description: str, samples: int, warmup: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--samples", type=int, default=samples, help=f"default {samples}")
    p.add_argument("--warmup", type=int, default=warmup, help=f"default {warmup}")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--wait-service", type=float, default=0.0, metavar="SECONDS",
                   help="if the service does not import yet, retry every 30s for this long")
    return p


def run_context(started_load: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """What the figures were measured on: CPUs, load, the service's source revision."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_start": round(started_load[0], 2) if started_load else None,
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "git_head": git("rev-parse", "--short", "HEAD") or None,
        "src_uncommitted_files": len(dirty),
    }


def trivial_env() -> dict[str, str]:
    """The environment for baseline processes: ours, without MRSJOBS_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MRSJOBS_")}
